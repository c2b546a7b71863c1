"""Fixtures for the lifecycle tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lifecycle_synth import CFG, CUT, synthetic_events

from recsvc.lifecycle.train import train_lifecycle


@pytest.fixture(scope="session")
def synth_events() -> pd.DataFrame:
    return synthetic_events()


@pytest.fixture(scope="session")
def trained(synth_events: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A lifecycle model trained on the synthetic log up to ``CUT``."""
    root = tmp_path_factory.mktemp("models") / "lifecycle"
    return train_lifecycle(synth_events, out_dir=root, horizon_days=30, cutoff=CUT, config=CFG, progress=False)
