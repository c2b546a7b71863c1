"""The encoded event log gives exactly the frame path's features, in blocks or whole, and stacks shards."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsvc.errors import InvalidArgument
from recsvc.lifecycle.eventlog import EventLog
from recsvc.lifecycle.features import compute_features

CUT = pd.Timestamp("2024-05-01", tz="UTC")


def test_log_equals_frame_in_any_block_size(synth_events: pd.DataFrame) -> None:
    whole = compute_features(synth_events, CUT)
    log = EventLog.from_frame(synth_events)
    for block in (1, 500, 10**9):
        pd.testing.assert_frame_equal(compute_features(log, CUT, block_events=block), whole, check_exact=True)
    users = [*whole.index[::5], "ghost", whole.index[2]]
    pd.testing.assert_frame_equal(
        compute_features(log, CUT, users=users, horizon_days=12, block_events=300),
        compute_features(synth_events, CUT, users=users, horizon_days=12),
        check_exact=True,
    )


def test_order_and_dtypes_do_not_matter(synth_events: pd.DataFrame) -> None:
    whole = compute_features(synth_events, CUT)
    shuffled = synth_events.sample(frac=1.0, random_state=1)
    cat = synth_events.astype({"user_id": "category", "event_type": "category", "item_id": "category"})
    for ev in (shuffled, cat):
        pd.testing.assert_frame_equal(compute_features(ev, CUT), whole, check_exact=True)


def test_sorted_by_user_then_time(synth_events: pd.DataFrame) -> None:
    log = EventLog.from_frame(synth_events.sample(frac=1.0, random_state=2))
    assert np.all(np.diff(log.user) >= 0)
    same = log.user[1:] == log.user[:-1]
    assert np.all(np.diff(log.ts)[same] >= 0)
    assert log.start[-1] == len(log) and list(log.users) == sorted(log.users)
    before = log.before(CUT.value / 1e9)
    assert len(before) == int((synth_events["ts"] < CUT).sum()) and before.start[-1] == len(before)
    assert np.nanmin(log.first_ts()) == log.ts.min()


def test_concat_shards_equals_one_log(synth_events: pd.DataFrame) -> None:
    ids = synth_events["user_id"].astype(str)
    first = synth_events[ids < "u3"]  # user ids u0.., sorted: a prefix split keeps the id order
    second = synth_events[ids >= "u3"]
    parts = [EventLog.from_frame(first), EventLog.from_frame(second)]
    both = EventLog.concat(iter(parts), len(synth_events))
    pd.testing.assert_frame_equal(compute_features(both, CUT), compute_features(synth_events, CUT), check_exact=True)
    with pytest.raises(InvalidArgument):
        EventLog.concat(iter(parts), len(synth_events) + 1)
    with pytest.raises(InvalidArgument):
        EventLog.concat(iter(parts[::-1]), len(synth_events))  # ids out of order


def test_empty_log_gives_cold_start_rows(synth_events: pd.DataFrame) -> None:
    empty = synth_events.iloc[:0]
    f = compute_features(empty, CUT, users=["new"])
    assert list(f.index) == ["new"] and f.loc["new", "n_events_all"] == 0
    assert np.isnan(f.loc["new", "recency_days"])


def test_window_bgnbd_presamples_only_big_logs(synth_events: pd.DataFrame, monkeypatch: pytest.MonkeyPatch) -> None:
    from recsvc.lifecycle import features

    whole = features.fit_window_bgnbd(synth_events, CUT)
    monkeypatch.setattr(features, "BGNBD_PRESAMPLE_USERS", 100)  # 400 users: now a seeded half-sample of 100
    sampled = features.fit_window_bgnbd(synth_events, CUT)
    assert sampled.n_customers < whole.n_customers <= 400
    assert sampled.n_customers <= 50 and np.isfinite([sampled.r, sampled.alpha, sampled.a, sampled.b]).all()
