"""One good version of every model, trained once on a small seeded demo app (see artifact_helpers.py)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from recsvc.data.convert import load_dataset
from recsvc.data.demo import generate_demo
from recsvc.recs.training import train_recs
from recsvc.settings import load_settings
from recsvc.training import train_all

sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture(scope="session")
def trained_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``models/<name>/<version>/`` with one freshly trained version of each model (recs on hashed
    text vectors: the artifacts are the same kinds of files, without loading the text encoder)."""
    from artifact_helpers import HashEncoder

    root = tmp_path_factory.mktemp("artifacts")
    end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    paths = generate_demo(root / "demo", n_users=400, n_items=150, days=90, end=end, seed=7, progress=False)
    settings = load_settings(env={}).with_overrides(
        paths={"store": str(root / "recsvc.db"), "models_dir": str(root / "models")},
        recs={"train_threads": 1, "ranker_grid": [[7, 20]], "train_windows": 1, "n_estimators": 20},
    )
    events, items, users = str(paths.events), str(paths.items), str(paths.users)
    train_all(settings, events=events, items=items, users=users, only=("lifecycle", "sendtime"), progress=False)
    ds = load_dataset(events, items=items, users=users)
    assert ds.items is not None
    train_recs(
        ds.events,
        ds.items,
        out_dir=root / "models" / "recs",
        encoder=HashEncoder(),
        config=settings.recs,
        users=ds.users,
        progress=False,
    )
    return root / "models"
