"""Shared fixtures: where the real data sets live, and offline model loading."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The folder of the shared real data sets: ``RECSVC_DATA_DIR``, else ``../shared/data`` beside the
    repository. It may be missing; tests that need a data set skip when it is."""
    return Path(os.environ.get("RECSVC_DATA_DIR", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def real_data(data_dir: Path) -> Path:
    """The shared real data sets; skips with a clear message when they are absent."""
    if not (data_dir / "ml-100k").is_dir() or not (data_dir / "cdnow").is_dir():
        pytest.skip(
            f"real data sets not found in {data_dir} (set RECSVC_DATA_DIR to the folder holding cdnow/ and ml-100k/)"
        )
    return data_dir
