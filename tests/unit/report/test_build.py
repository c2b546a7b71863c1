from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from recsvc.errors import InvalidArgument
from recsvc.report.build import Inputs, build_report, parse_since
from recsvc.report.synthetic import DEMO_EXPERIMENT, synthetic_feedback, synthetic_sends

NOW = datetime(2026, 3, 15, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"), [("7d", timedelta(days=7)), ("24h", timedelta(hours=24)), (" 30d ", timedelta(days=30))]
)
def test_since_reads_days_and_hours(text: str, expected: timedelta) -> None:
    assert parse_since(text) == expected


@pytest.mark.parametrize("text", ["7", "0d", "-1d", "7w", "d7", "1.5d", ""])
def test_since_rejects_anything_else_naming_the_flag(text: str) -> None:
    with pytest.raises(InvalidArgument, match="--since"):
        parse_since(text)


def _inputs(n: int = 3000) -> Inputs:
    return Inputs(synthetic_sends(n, seed=3, days=14, end=NOW), synthetic_feedback(100, seed=3))


def test_since_keeps_only_recent_sends() -> None:
    inputs = _inputs()
    recent = int((inputs.sends["ts"] >= pd.Timestamp(NOW - timedelta(days=2))).sum())
    page = build_report(inputs, since=timedelta(days=2), now=NOW)
    assert f"{recent:,} sends" in page
    assert f"{len(inputs.sends):,} sends" not in page


def test_unknown_experiment_is_an_error_naming_the_known_ones() -> None:
    with pytest.raises(InvalidArgument, match=f"unknown experiment 'nope'; known: {DEMO_EXPERIMENT}"):
        build_report(_inputs(), experiment="nope", now=NOW)


def test_known_experiment_gets_its_section() -> None:
    page = build_report(_inputs(), experiment=DEMO_EXPERIMENT, now=NOW)
    assert f'data-experiment="{DEMO_EXPERIMENT}"' in page
