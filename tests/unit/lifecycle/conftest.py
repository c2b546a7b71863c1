"""Fixtures for the lifecycle tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lifecycle_synth import synthetic_events


@pytest.fixture(scope="session")
def synth_events() -> pd.DataFrame:
    return synthetic_events()
