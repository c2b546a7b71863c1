"""Shared fixtures: where the real data sets live, and offline model loading."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]


def data_dir() -> Path:
    return Path(os.environ.get("RECSVC_DATA_DIR", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def real_data() -> Path:
    """The shared real data sets; skips with a clear message when they are absent."""
    d = data_dir()
    if not (d / "ml-100k").is_dir() or not (d / "cdnow").is_dir():
        pytest.skip(f"real data sets not found in {d} (set RECSVC_DATA_DIR to the folder holding cdnow/ and ml-100k/)")
    return d
