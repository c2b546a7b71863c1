"""Warming candidates is best effort, but a failure that is not the user's own data is not silent."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from recsvc.engine.engine import Engine
from recsvc.engine.types import RecommendQuery
from recsvc.engine.user_state import UserEntry
from recsvc.errors import InvalidArgument
from recsvc.settings import load_settings


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    settings = load_settings(env={}).with_overrides(
        paths={"store": str(tmp_path / "db.sqlite"), "models_dir": str(tmp_path / "models")}
    )
    eng = Engine(settings, encoder=object())  # type: ignore[arg-type]
    yield eng
    eng.close()


def test_unexpected_warm_failures_are_warnings_and_refused_user_data_is_debug(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    users = ["bad-tz", "boom-1", "ok", "boom-2", "boom-3"]
    entry: Any = UserEntry(lifecycle=None, tier="low", sig=(1, 0.0), models=None)  # type: ignore[arg-type]
    engine._states.install(None, dict.fromkeys(users, entry))  # type: ignore[arg-type]

    def recommend(q: RecommendQuery, **_: object) -> None:
        if q.user_id == "bad-tz":
            raise InvalidArgument("unknown time zone 'Mars/Base'", field="timezone")
        if q.user_id.startswith("boom"):
            raise RuntimeError(f"broken for {q.user_id}")

    monkeypatch.setattr(engine, "recommend", recommend)
    with caplog.at_level(logging.DEBUG, logger="recsvc.engine.engine"):
        assert engine.warm() == 1
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2  # the first unexpected failure with its traceback, then how many failed
    assert "boom-1" in warnings[0].getMessage() and warnings[0].exc_info is not None
    assert "3 users" in warnings[1].getMessage()
    skipped = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG and "bad-tz" in r.getMessage()]
    assert skipped and "Mars/Base" in skipped[0]
