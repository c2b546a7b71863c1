"""The population gap survival: Kaplan-Meier of the days between active days, by repeat count."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsvc.errors import FailedPrecondition
from recsvc.lifecycle.features import compute_features, fit_window_population
from recsvc.lifecycle.gapsurv import MAX_GAP_DAYS, GapCounts, GapSurvival, stratum


def test_strata() -> None:
    np.testing.assert_array_equal(stratum(np.array([0, 1, 2, 3, 4, 5, 8, 9, 500])), [0, 1, 2, 3, 3, 4, 4, 5, 5])


def test_fixed_gaps_without_censoring() -> None:
    """Every gap lasts ten days: no return within 5 days of the last visit, a sure one within 10."""
    c = GapCounts.empty()
    c.add(np.full(100, 10), np.zeros(100, int), np.zeros(0), np.zeros(0, int))
    s = GapSurvival.fit(c)
    p = s.p_no_return(np.array([0.0, 0.0, 4.0, 9.5]), np.zeros(4, int), 5.0)
    np.testing.assert_allclose(p[:3], [1.0, 1.0, 1.0])  # the tenth day is after the next five
    assert p[3] < 0.05  # waited 9 days: the tenth day falls within the next five
    assert s.p_no_return(np.array([0.0]), np.array([0]), 10.0)[0] < 0.05


def test_censoring_recovers_a_geometric_law() -> None:
    """Daily return chance 5%, every gap cut at a random wait: KM finds (0.95)^H, not the naive closed-gap law."""
    rng = np.random.default_rng(0)
    g = rng.geometric(0.05, 50_000)
    cap = rng.integers(1, 60, 50_000)
    closed = g <= cap
    c = GapCounts.empty()
    k = np.zeros(50_000, int)
    c.add(g[closed], k[closed], cap[~closed], k[~closed])
    p = GapSurvival.fit(c).p_no_return(np.array([0.0, 10.0]), np.array([0, 0]), 14.0)
    np.testing.assert_allclose(p, 0.95**14, atol=0.02)


def test_strata_differ_and_small_ones_borrow() -> None:
    """Regulars return fast, one-time buyers slowly; an empty stratum reads the pooled curve."""
    c = GapCounts.empty()
    c.add(np.r_[np.full(500, 60), np.full(500, 3)], np.r_[np.zeros(500, int), np.full(500, 5)], [], [])
    s = GapSurvival.fit(c)
    once, regular, empty = s.p_no_return(np.zeros(3), np.array([0, 9, 2]), 30.0)
    assert once > 0.9 and regular < 0.1 and 0.2 < empty < 0.8


def test_round_trip_and_refusals(tmp_path: Path) -> None:
    c = GapCounts.empty()
    c.add(np.arange(1, 200), np.arange(199) % 6, np.arange(50), np.arange(50) % 6)
    s = GapSurvival.fit(c)
    s.save(tmp_path / "g.json")
    back = GapSurvival.load(tmp_path / "g.json")
    np.testing.assert_allclose(back.log_s, s.log_s, rtol=1e-5, atol=1e-9)
    assert back.log_s.shape == (6, MAX_GAP_DAYS + 1)
    d = json.loads((tmp_path / "g.json").read_text())
    d["format"] = 0
    (tmp_path / "old.json").write_text(json.dumps(d))
    for name in ("old.json", "absent.json"):
        with pytest.raises(FailedPrecondition, match="retrain"):
            GapSurvival.load(tmp_path / name)


def test_feature_served_with_the_stored_curve_equals_training(synth_events: pd.DataFrame) -> None:
    """Scoring a few users with the curve fitted on the window gives the whole-window feature."""
    cut = pd.Timestamp("2024-04-01", tz="UTC")
    whole = compute_features(synth_events, cut, horizon_days=14)
    col = whole["gap_p_no_return_h"]
    assert col.notna().sum() > 250 and col.dropna().between(0, 1).all()
    bg, surv = fit_window_population(synth_events, cut)
    few = list(whole.index[:7])
    served = compute_features(synth_events, cut, users=few, bgnbd=bg, gap_survival=surv, horizon_days=14)
    np.testing.assert_allclose(served["gap_p_no_return_h"], col.loc[few], rtol=1e-6)
    # A longer horizon can only make "no return within it" less likely.
    longer = compute_features(synth_events, cut, users=few, bgnbd=bg, gap_survival=surv, horizon_days=60)
    assert (longer["gap_p_no_return_h"].to_numpy() <= served["gap_p_no_return_h"].to_numpy() + 1e-6).all()


def test_own_rhythm_scales_the_wait() -> None:
    """Every gap lasts exactly its user's mean earlier gap, whatever the user's pace: the curve reads
    the wait in units of the user's own rhythm."""
    c = GapCounts.empty()
    c.add_scaled(np.ones(1000), np.full(1000, 2), np.zeros(0), np.zeros(0, int))
    s = GapSurvival.fit(c)
    weekly, bimonthly = s.p_no_return_own(np.array([8.0, 8.0]), np.array([2, 2]), np.array([7.0, 60.0]), 10.0)
    assert weekly > 0.9  # past its rhythm: the curve has nothing left to say about a return
    assert bimonthly > 0.9  # 18 days of a 60-day rhythm: not due yet
    due = s.p_no_return_own(np.array([55.0]), np.array([2]), np.array([60.0]), 10.0)
    assert due[0] < 0.1  # the 60th day falls within the next ten
    # No repeat yet: the day curve answers.
    np.testing.assert_allclose(
        s.p_no_return_own(np.array([3.0]), np.array([0]), np.array([0.0]), 10.0),
        s.p_no_return(np.array([3.0]), np.array([0]), 10.0),
    )
