from __future__ import annotations

import pandas as pd
import pytest

from recsvc.data.io import normalize_events
from recsvc.errors import InvalidArgument
from recsvc.lifecycle.features import compute_features
from recsvc.lifecycle.stages import StageRules, rule_stages
from recsvc.vocabulary import Stage

CUT = pd.Timestamp("2024-06-01", tz="UTC")


def _stages(rows: list[tuple[str, str, str]], users: list[str]) -> dict[str, Stage]:
    ev = normalize_events(pd.DataFrame(rows, columns=["user_id", "ts", "event_type"]))
    f = compute_features(ev, CUT, users=users, with_bgnbd=False)
    return {u: Stage(int(s)) for u, s in zip(f.index, rule_stages(f), strict=True)}


def test_each_rule() -> None:
    rows = [
        ("new", "2024-05-31T10:00:00Z", "app_open"),
        ("browser", "2024-05-20T10:00:00Z", "view"),
        ("browser", "2024-05-30T10:00:00Z", "search"),
        ("carter", "2024-05-31T08:00:00Z", "add_to_cart"),
        ("first_buy", "2024-05-20T08:00:00Z", "purchase"),
        ("repeat", "2024-05-01T08:00:00Z", "purchase"),
        ("repeat", "2024-05-25T08:00:00Z", "purchase"),
        ("regular", "2024-05-10T08:00:00Z", "view"),
        ("regular", "2024-05-15T08:00:00Z", "view"),
        ("regular", "2024-05-20T08:00:00Z", "view"),
        ("regular", "2024-05-28T08:00:00Z", "view"),
        # Was active every ~2 days, silent for 40 days now.
        *[("lapsed", f"2024-04-{d:02d}T08:00:00Z", "view") for d in (1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21)],
        ("once_long_ago", "2024-01-10T08:00:00Z", "view"),
    ]
    users = ["new", "browser", "carter", "first_buy", "repeat", "regular", "lapsed", "once_long_ago", "ghost"]
    s = _stages(rows, users)
    assert s["new"] == Stage.AWARENESS
    assert s["ghost"] == Stage.AWARENESS
    assert s["browser"] == Stage.INTEREST
    assert s["carter"] == Stage.PURCHASE
    assert s["first_buy"] == Stage.PURCHASE
    assert s["repeat"] == Stage.LOYAL
    assert s["regular"] == Stage.LOYAL  # view-only data: regular activity counts as loyalty
    assert s["lapsed"] == Stage.CHURNING
    assert s["once_long_ago"] == Stage.CHURNING


def test_silence_is_relative_to_own_rhythm() -> None:
    # Same 40-day silence: a monthly-ish user (gap 60 d) is not churning, a daily user is.
    rows = [
        ("slow", "2024-01-01T00:00:00Z", "view"),
        ("slow", "2024-03-01T00:00:00Z", "view"),
        ("slow", "2024-04-22T00:00:00Z", "view"),
        *[("fast", f"2024-04-{d:02d}T00:00:00Z", "view") for d in range(10, 23)],
    ]
    s = _stages(rows, ["slow", "fast"])
    assert s["slow"] != Stage.CHURNING and s["fast"] == Stage.CHURNING


def test_rules_validate_and_missing_columns() -> None:
    with pytest.raises(InvalidArgument, match="silent_multiple"):
        StageRules(silent_multiple=0).validate()
    with pytest.raises(InvalidArgument):
        rule_stages(pd.DataFrame({"recency_days": [1.0]}))
    assert [int(s) for s in Stage] == [1, 2, 3, 4, 5]
