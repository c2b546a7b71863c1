from __future__ import annotations

import math

import pandas as pd
import pytest

from recsvc.evaluation.cutoffs import run_cutoffs, summarize, t_interval


def test_t_interval_on_known_numbers() -> None:
    # mean 0.025, sample sd sqrt(5e-4 / 3), t(0.975, 3) = 3.182446
    r = t_interval([0.01, 0.03, 0.02, 0.04])
    half = 3.182446 * math.sqrt(5e-4 / 3) / 2.0
    assert r["n"] == 4
    assert r["mean"] == pytest.approx(0.025)
    assert r["ci95"] == pytest.approx([0.025 - half, 0.025 + half], abs=1e-6)
    assert r["ci95"][0] == pytest.approx(0.004458, abs=1e-5)
    one = t_interval([0.3])
    assert one["mean"] == 0.3 and all(math.isnan(b) for b in one["ci95"])


def test_summary_picks_the_best_baseline_by_mean_and_pairs_margins() -> None:
    results = [
        {"auc": 0.80, "baselines": {"recency": 0.78, "bgnbd": 0.79}},
        {"auc": 0.70, "baselines": {"recency": 0.69, "bgnbd": 0.72}},
        {"auc": 0.90, "baselines": {"recency": 0.86, "bgnbd": 0.88}},
    ]
    s = summarize(results, ["auc"])["metrics"]["auc"]
    assert s["best_baseline"] == "bgnbd"  # mean 0.7967 vs 0.7767
    m = s["margin_over_best"]
    assert m["per_cutoff"] == pytest.approx([0.01, -0.02, 0.02])
    sd = math.sqrt(((0.01 - 0.01 / 3) ** 2 + (-0.02 - 0.01 / 3) ** 2 + (0.02 - 0.01 / 3) ** 2) / 2)
    half = 4.302653 * sd / math.sqrt(3)  # t(0.975, 2)
    assert m["mean"] == pytest.approx(0.01 / 3)
    assert m["ci95"] == pytest.approx([0.01 / 3 - half, 0.01 / 3 + half], abs=1e-6)
    assert s["margins"]["recency"]["mean"] == pytest.approx(0.07 / 3)
    assert s["recsvc"]["mean"] == pytest.approx(0.8)


def test_summary_reads_nested_baselines_and_skips_unscored_ones() -> None:
    results = [
        {"ndcg@10": 0.2, "baselines": {"pop": {"ndcg@10": 0.1}, "ease": {"skipped": "too many items"}}},
        {"ndcg@10": 0.3, "baselines": {"pop": {"ndcg@10": 0.25}, "ease": {"skipped": "too many items"}}},
    ]
    s = summarize(results, ["ndcg@10"])["metrics"]["ndcg@10"]
    assert s["best_baseline"] == "pop" and set(s["margins"]) == {"pop"}
    assert s["margin_over_best"]["mean"] == pytest.approx(0.075)


def test_run_cutoffs_runs_each_in_order() -> None:
    seen: list[pd.Timestamp] = []

    def one(c: pd.Timestamp) -> dict[str, object]:
        seen.append(c)
        return {"hit@1h": 0.5, "baselines": {"user_mode": 0.4}}

    cuts = [pd.Timestamp("2024-01-01", tz="UTC"), pd.Timestamp("2024-02-01", tz="UTC")]
    out = run_cutoffs(one, cuts, ["hit@1h"])
    assert seen == cuts and len(out["per_cutoff"]) == 2
    assert out["summary"]["metrics"]["hit@1h"]["margin_over_best"]["mean"] == pytest.approx(0.1)
    assert out["summary"]["n_cutoffs"] == 2 and "t-interval" in out["summary"]["method"]


def test_run_cutoffs_checks_every_cut_off_before_evaluating_any() -> None:
    seen: list[pd.Timestamp] = []
    cuts = [pd.Timestamp("2024-01-01", tz="UTC"), pd.Timestamp("2030-01-01", tz="UTC")]

    def check(c: pd.Timestamp) -> None:
        if c.year > 2024:
            raise ValueError(f"cannot judge {c.date()}")

    with pytest.raises(ValueError, match="2030-01-01"):
        run_cutoffs(lambda c: seen.append(c) or {}, cuts, ["hit@1h"], check)  # type: ignore[func-returns-value]
    assert seen == []
