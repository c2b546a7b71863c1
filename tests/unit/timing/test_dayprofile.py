"""The habit profile: smoothing, recency weights, shrinkage, the last session's hour and the choice
of its setting on pseudo cut-offs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsvc.data.io import normalize_events
from recsvc.timing.config import TimingConfig
from recsvc.timing.dayprofile import (
    PLAIN,
    POP_SHARES,
    HourCounts,
    ProfileParams,
    choose,
    circular_kernel,
    grid,
    hour_counts,
    profile,
    shrink_to,
    smooth_hours,
)
from recsvc.timing.history import EventFrame, event_frame
from recsvc.timing.hours import pick_hours
from tests.unit.timing.conftest import random_hours_events

CUT = pd.Timestamp("2024-03-01", tz="UTC")
CFG = TimingConfig(min_training_examples=20)


def _frame(rows: list[tuple[str, pd.Timestamp, str]]) -> EventFrame:
    df = pd.DataFrame([{"user_id": u, "ts": t.isoformat(), "event_type": e} for u, t, e in rows])
    return event_frame(normalize_events(df), {}, CFG, keep_zero=True)


def test_kernel_is_identity_at_width_zero_and_circular() -> None:
    np.testing.assert_array_equal(circular_kernel(0.0), np.eye(24)[0])
    k = circular_kernel(1.0)
    assert k[0] == 1.0 and k[1] == pytest.approx(k[23]) and k[1] == pytest.approx(np.exp(-0.5))
    p = np.zeros(24)
    p[23] = 1.0
    s = smooth_hours(p[None, :], 1.0)[0]
    assert s[0] == pytest.approx(s[22]) and s[0] > s[1] > 0  # midnight sits next to 23h
    assert int(np.argmax(s)) == 23
    assert smooth_hours(p[None, :], 2.0)[0][20] > s[20]  # a wider kernel reaches further


def test_recency_weights_halve_every_half_life_and_sessions_count_starts() -> None:
    day = pd.Timedelta(days=1)
    fr = _frame(
        [
            ("a", CUT - 20 * day + pd.Timedelta(hours=9), "app_open"),
            ("a", CUT - 20 * day + pd.Timedelta(hours=9, minutes=10), "view"),  # same session
            ("a", CUT - 10 * day + pd.Timedelta(hours=18), "app_open"),
        ]
    )
    asof = CUT.timestamp()
    flat = hour_counts(fr, asof, "all", 0.0, CFG)
    assert flat.counts[0, 9] == 2 and flat.counts[0, 18] == 1 and flat.last_hour[0] == 18
    faded = hour_counts(fr, asof, "all", 10.0, CFG)
    ages = np.array([20 * 24 - 9, 20 * 24 - 9 - 1 / 6, 10 * 24 - 18]) / 24.0  # days
    expected = 0.5 ** (ages / 10.0)
    assert faded.counts[0, 9] == pytest.approx(expected[0] + expected[1])
    assert faded.counts[0, 18] == pytest.approx(expected[2])
    sessions = hour_counts(fr, asof, "sessions", 0.0, CFG)
    assert sessions.counts[0, 9] == 1 and sessions.counts[0, 18] == 1
    before = hour_counts(fr, (CUT - 15 * day).timestamp(), "all", 0.0, CFG)
    assert before.counts.sum() == 2 and before.last_hour[0] == 9  # never reads events after asof


def test_first_counts_each_days_first_activity_after_the_asof_clock_time() -> None:
    """A user active at 14h and 22h every day is first seen at 14h after a midnight cut-off, but
    at 22h after a 15h one: "first" counts the first activity in each 24 h period ending at asof."""
    day = pd.Timedelta(days=1)
    rows = []
    for d in range(1, 8):
        for h in (14, 22, 22):
            rows.append(("a", CUT - d * day + pd.Timedelta(hours=h), "app_open"))
    fr = _frame(rows)
    at_midnight = hour_counts(fr, CUT.timestamp(), "first", 0.0, CFG)
    assert at_midnight.counts[0, 14] == 7 and at_midnight.counts[0, 22] == 0
    at_15h = hour_counts(fr, (CUT + pd.Timedelta(hours=15)).timestamp(), "first", 0.0, CFG)
    # Periods run from 15h to 15h: each opens with a 22h visit, except the oldest, which holds
    # only day -7's 14h visit.
    assert at_15h.counts[0, 22] == 7 and at_15h.counts[0, 14] == 1
    assert int(pick_hours(profile(at_midnight, ProfileParams(events="first")))[0]) == 14
    assert int(pick_hours(profile(at_15h, ProfileParams(events="first")))[0]) == 22
    # The plain habit reads every activity: 22h twice as often as 14h.
    assert int(pick_hours(profile(hour_counts(fr, CUT.timestamp(), "all", 0.0, CFG), PLAIN))[0]) == 22


def test_shrinkage_pulls_thin_rows_toward_the_population() -> None:
    pop = np.full(24, 1.0 / 24)
    counts = np.zeros((3, 24))
    counts[0, 5] = 1
    counts[1, 5] = 100
    own = shrink_to(counts, pop, 0.0)
    assert own[0, 5] == 1.0 and own[1, 5] == 1.0
    np.testing.assert_allclose(own[2], pop)  # no history at all: the population
    pulled = shrink_to(counts, pop, 4.0)
    assert pulled[0, 5] == pytest.approx((1 + 4 / 24) / 5)
    assert pulled[1, 5] > 0.95 > pulled[0, 5]  # a long history barely moves
    np.testing.assert_allclose(pulled.sum(axis=1), 1.0)


def test_last_session_hour_moves_the_pick() -> None:
    counts = np.zeros((1, 24))
    counts[0, 8] = 3
    counts[0, 20] = 2
    hc = HourCounts(counts, np.array([20]), np.full(24, 1.0 / 24))
    assert int(pick_hours(profile(hc, PLAIN))[0]) == 8
    assert int(pick_hours(profile(hc, ProfileParams(last_weight=1.0)))[0]) == 20


def test_pick_breaks_window_ties_by_the_hours_own_mass() -> None:
    p = np.zeros(24)
    p[[9, 11]] = 1.0
    p[10] = 0.0
    p[15], p[16] = 1.0, 1.0  # window of 15 or 16 = 2 = window of 10
    assert int(pick_hours(p)) == 15  # 10 has no mass of its own; 15 is the earliest of the rest


def test_grid_starts_with_the_plain_habit_and_has_no_duplicates() -> None:
    g = grid()
    assert g[0] == PLAIN and len(set(g)) == len(g) > 100


def _drifting_log(n_users: int = 120, seed: int = 3) -> pd.DataFrame:
    """Users who moved their habit hour six hours later 40 days before the cut-off, and keep the
    new one after it."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        old = int(rng.integers(0, 24))
        new = (old + 6) % 24
        for d in range(-140, 30):
            if rng.random() > 0.35:
                continue
            h = (old if d < -40 else new) if rng.random() < 0.85 else int(rng.integers(0, 24))
            rows.append((f"u{u}", CUT + pd.Timedelta(days=d, hours=h, minutes=int(rng.integers(60))), "app_open"))
    df = pd.DataFrame([{"user_id": u, "ts": t.isoformat(), "event_type": e} for u, t, e in rows])
    return normalize_events(df)


def test_choice_on_pseudo_cutoffs_finds_a_drift_and_never_peeks() -> None:
    ev = _drifting_log()
    fr_all = event_frame(ev, {}, CFG, keep_zero=True)
    params, report = choose(fr_all, CUT.timestamp(), CFG)
    assert report["used"], report
    assert params.half_life_days > 0 or params.last_weight > 0, params
    assert report["validation"]["tuned_out_of_fold_hit@1h"] > report["validation"]["plain_hit@1h"]
    # Events at or after the cut-off change nothing: labels stop at the cut-off.
    fr_before = event_frame(ev[ev["ts"] < CUT], {}, CFG, fr_all.user_ids, keep_zero=True)
    again, report_before = choose(fr_before, CUT.timestamp(), CFG)
    assert again == params and report_before == report


def test_guard_keeps_the_plain_habit_when_nothing_beats_it() -> None:
    ev = _drifting_log()
    fr = event_frame(ev, {}, CFG, keep_zero=True)
    strict = TimingConfig(min_training_examples=20, min_validation_z=50.0)
    params, report = choose(fr, CUT.timestamp(), strict)
    assert params == PLAIN and not report["used"]
    too_few = TimingConfig(min_training_examples=10**9)
    params, report = choose(fr, CUT.timestamp(), too_few)
    assert params == PLAIN and "too few" in report["reason"]


def test_population_share_of_the_probabilities_is_chosen_by_log_loss() -> None:
    steady = choose(event_frame(_drifting_log(), {}, CFG, keep_zero=True), CUT.timestamp(), CFG)[1]
    noisy = choose(event_frame(random_hours_events(120, 8, seed=5), {}, CFG, keep_zero=True), CUT.timestamp(), CFG)[1]
    for report in (steady, noisy):
        losses = report["log_loss_by_pop_share"]
        assert len(losses) == len(POP_SHARES)
        assert losses[str(report["pop_share"])] == min(losses.values())
    # Habits that hold keep little of the population; hours drawn afresh each day take most of it.
    assert steady["pop_share"] <= 0.1 < 0.5 <= noisy["pop_share"], (steady["pop_share"], noisy["pop_share"])
