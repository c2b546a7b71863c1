"""Do the experiment statistics hold? Simulated experiments with fixed seeds, against their targets.

Run: ``.venv/bin/python bench/bench_experiments.py [--runs 500] [--json var/bench/experiments.json]``.

- A/A (no effect; click rate 5%, the planned sample per arm arriving evenly over 14 days): the share
  of runs the fixed-horizon test calls significant at alpha 0.05 when read once at the end (target
  0.03-0.07), when read every day (what peeking does to it), and the share the sequential test ever
  calls significant when read every day (target <= 0.05).
- Power: a planted +10% relative lift in click rate at the sample size ``sample_size_per_arm`` gives
  for 80% power: the share of runs detected (significant with the right sign; target 0.75-0.85), and
  how often the 95% intervals of the relative and absolute lift cover the true lift (target 0.93-0.97).
- SRM: 20,000 users planned 50/50, assigned 52/48 (planted) and 50/50 (false alarms).
- CUPED: a metric correlated 0.7 with its pre-period value; variance reduction and interval coverage.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from recsvc.experiments.cuped import CovariateSums, cuped
from recsvc.experiments.stats import compare_rates, sample_size_per_arm, sequential_compare, srm_check

ALPHA = 0.05
BASELINE = 0.05
LIFT = 0.10
DAYS = 14


def _daily_counts(
    rng: np.random.Generator, runs: int, n_per_arm: int, rates: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative users and clicks per run, day and arm: arrays of shape (runs, DAYS, 2)."""
    per_day = np.full(DAYS, n_per_arm // DAYS)
    per_day[: n_per_arm % DAYS] += 1
    users = np.broadcast_to(per_day[None, :, None], (runs, DAYS, 2))
    clicks = rng.binomial(users, np.array(rates)[None, None, :])
    return np.cumsum(users, axis=1), np.cumsum(clicks, axis=1)


def aa(rng: np.random.Generator, runs: int, n_per_arm: int) -> dict[str, float]:
    users, clicks = _daily_counts(rng, runs, n_per_arm, (BASELINE, BASELINE))
    tuning = 2.0 * n_per_arm
    final, peek_fixed, peek_seq = 0, 0, 0
    for r in range(runs):
        fixed_sig, seq_sig = False, False
        for d in range(DAYS):
            c = (int(clicks[r, d, 0]), int(users[r, d, 0]))
            t = (int(clicks[r, d, 1]), int(users[r, d, 1]))
            p = compare_rates(c, t, ALPHA).p_value
            fixed_sig |= p < ALPHA
            seq_sig |= sequential_compare(c, t, ALPHA, tuning).p_value < ALPHA
            if d == DAYS - 1:
                final += p < ALPHA
        peek_fixed += fixed_sig
        peek_seq += seq_sig
    return {
        "fixed_horizon_fpr": final / runs,
        "fixed_peeking_daily_fpr": peek_fixed / runs,
        "sequential_peeking_daily_fpr": peek_seq / runs,
    }


def power(rng: np.random.Generator, runs: int, n_per_arm: int) -> dict[str, float]:
    rates = (BASELINE, BASELINE * (1 + LIFT))
    users, clicks = _daily_counts(rng, runs, n_per_arm, rates)
    true_abs = rates[1] - rates[0]
    detected = rel_cover = abs_cover = seq_detected = 0
    for r in range(runs):
        c = (int(clicks[r, -1, 0]), int(users[r, -1, 0]))
        t = (int(clicks[r, -1, 1]), int(users[r, -1, 1]))
        res = compare_rates(c, t, ALPHA)
        detected += res.p_value < ALPHA and res.absolute_lift > 0
        rel_cover += res.relative_ci[0] <= LIFT <= res.relative_ci[1]
        abs_cover += res.absolute_ci[0] <= true_abs <= res.absolute_ci[1]
        seq_detected += any(
            sequential_compare(
                (int(clicks[r, d, 0]), int(users[r, d, 0])),
                (int(clicks[r, d, 1]), int(users[r, d, 1])),
                ALPHA,
                2.0 * n_per_arm,
            ).p_value
            < ALPHA
            for d in range(DAYS)
        )
    return {
        "detection_rate": detected / runs,
        "relative_ci_coverage": rel_cover / runs,
        "absolute_ci_coverage": abs_cover / runs,
        "sequential_detection_rate_daily_peeks": seq_detected / runs,
    }


def srm(rng: np.random.Generator, runs: int, users: int = 20_000) -> dict[str, float]:
    planted = rng.binomial(users, 0.52, size=runs)
    fair = rng.binomial(users, 0.50, size=runs)
    hit = sum(srm_check([int(a), users - int(a)], [0.5, 0.5]).mismatch for a in planted)
    alarm = sum(srm_check([int(a), users - int(a)], [0.5, 0.5]).mismatch for a in fair)
    return {"srm_detection_rate_52_48": hit / runs, "srm_false_alarm_rate_50_50": alarm / runs}


def cuped_runs(rng: np.random.Generator, runs: int, n_per_arm: int = 5_000, corr: float = 0.7) -> dict[str, float]:
    true_diff = 0.05
    reductions, cover, raw_width, adj_width = [], 0, [], []
    for _ in range(runs):
        arms = []
        for shift in (0.0, true_diff):
            x = rng.normal(1.0, 1.0, n_per_arm)
            y = 1.0 + shift + corr * (x - 1.0) + np.sqrt(1 - corr**2) * rng.normal(0.0, 1.0, n_per_arm)
            arms.append(CovariateSums.of(y, x))
        res = cuped(arms, ALPHA)
        reductions.append(res.variance_reduction)
        cover += res.absolute_ci[0] <= true_diff <= res.absolute_ci[1]
        c, t = res.arms
        raw_width.append(2 * 1.96 * np.sqrt(c.variance / c.n + t.variance / t.n))
        adj_width.append(res.absolute_ci[1] - res.absolute_ci[0])
    return {
        "cuped_median_variance_reduction": float(np.median(reductions)),
        "cuped_expected_reduction": corr**2,
        "cuped_ci_coverage": cover / runs,
        "cuped_median_ci_width_ratio": float(np.median(np.array(adj_width) / np.array(raw_width))),
    }


def _table(results: dict[str, Any]) -> str:
    targets = {
        "fixed_horizon_fpr": ("0.03-0.07", lambda v: 0.03 <= v <= 0.07),
        "sequential_peeking_daily_fpr": ("<= 0.05", lambda v: v <= 0.05),
        "detection_rate": ("0.75-0.85", lambda v: 0.75 <= v <= 0.85),
        "relative_ci_coverage": ("0.93-0.97", lambda v: 0.93 <= v <= 0.97),
        "absolute_ci_coverage": ("0.93-0.97", lambda v: 0.93 <= v <= 0.97),
        "srm_detection_rate_52_48": (">= 0.95", lambda v: v >= 0.95),
        "srm_false_alarm_rate_50_50": ("<= 0.01", lambda v: v <= 0.01),
        "cuped_ci_coverage": ("0.93-0.97", lambda v: 0.93 <= v <= 0.97),
    }
    lines = ["| measure | value | target | met |", "|---|---|---|---|"]
    for key, value in results.items():
        if not isinstance(value, float):
            lines.append(f"| {key} | {value} |  |  |")
            continue
        target, ok = targets.get(key, ("", None))
        met = "" if ok is None else ("yes" if ok(value) else "**no**")
        lines.append(f"| {key} | {value:.3f} | {target} | {met} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=500)
    ap.add_argument("--seed", type=int, default=20261202)
    ap.add_argument("--json", default="var/bench/experiments.json")
    args = ap.parse_args()
    n = sample_size_per_arm(BASELINE, LIFT, ALPHA, 0.8)
    started = time.perf_counter()
    results: dict[str, Any] = {"runs": args.runs, "seed": args.seed, "baseline": BASELINE, "n_per_arm": n}
    results |= aa(np.random.default_rng(args.seed), args.runs, n)
    results |= power(np.random.default_rng(args.seed + 1), args.runs, n)
    results |= srm(np.random.default_rng(args.seed + 2), args.runs)
    results |= cuped_runs(np.random.default_rng(args.seed + 3), min(args.runs, 200))
    results["seconds"] = round(time.perf_counter() - started, 1)
    print(_table(results))
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
