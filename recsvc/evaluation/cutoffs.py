"""Several cut-offs: one protocol run per cut-off, then the mean and a 95% interval of each margin.

The margin at a cut-off is recsvc's score minus a baseline's score on the same users. The interval
is a Student t-interval over cut-offs (n - 1 degrees of freedom) of the per-cut-off margins: each
cut-off is one paired comparison. Cut-offs share users and, when horizons overlap, judged days,
so they are not independent and the interval is, if anything, too narrow; it is a guide to how
much the margin moves from one split to the next, not a significance test. The "best baseline"
is the one with the highest mean score over the cut-offs, chosen after the fact, which favours
the baselines.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

INTERVAL_METHOD = "Student t-interval over cut-offs (n-1 degrees of freedom), 95%"


def t_interval(values: Sequence[float], level: float = 0.95) -> dict[str, Any]:
    """Mean and the two-sided ``level`` t-interval of ``values`` (NaN bounds when n < 2)."""
    x = np.asarray([v for v in values if not math.isnan(v)], dtype=np.float64)
    n = len(x)
    if n == 0:
        return {"mean": float("nan"), "ci95": [float("nan"), float("nan")], "n": 0}
    mean = float(x.mean())
    if n < 2:
        return {"mean": mean, "ci95": [float("nan"), float("nan")], "n": 1}
    half = float(stats.t.ppf(0.5 + level / 2.0, n - 1) * x.std(ddof=1) / math.sqrt(n))
    return {"mean": mean, "ci95": [mean - half, mean + half], "n": n}


def scores(result: Mapping[str, Any], metric: str) -> tuple[float, dict[str, float]]:
    """recsvc's ``metric`` and each baseline's, from one evaluation result.

    Baselines are either a bare number (one-metric evaluations) or a dict holding ``metric``.
    """
    base: dict[str, float] = {}
    for name, v in result["baselines"].items():
        if isinstance(v, Mapping):
            if metric in v:
                base[name] = float(v[metric])
        else:
            base[name] = float(v)
    return float(result[metric]), base


def summarize(results: Sequence[Mapping[str, Any]], metrics: Sequence[str]) -> dict[str, Any]:
    """Per metric: recsvc's and each baseline's mean, and every margin's mean and t-interval."""
    out: dict[str, Any] = {"method": INTERVAL_METHOD, "n_cutoffs": len(results), "metrics": {}}
    for metric in metrics:
        ours = [scores(r, metric)[0] for r in results]
        per_base: dict[str, list[float]] = {}
        for r in results:
            for name, v in scores(r, metric)[1].items():
                per_base.setdefault(name, []).append(v)
        margins = {
            name: t_interval([o - b for o, b in zip(ours, vals, strict=True)])
            for name, vals in per_base.items()
            if len(vals) == len(ours)
        }
        means = {name: float(np.mean(vals)) for name, vals in per_base.items()}
        best = max(margins, key=lambda name: means[name]) if margins else None
        out["metrics"][metric] = {
            "recsvc": t_interval(ours),
            "baselines": {name: t_interval(vals) for name, vals in per_base.items()},
            "best_baseline": best,
            "margin_over_best": (
                {**margins[best], "per_cutoff": [o - b for o, b in zip(ours, per_base[best], strict=True)]}
                if best is not None
                else None
            ),
            "margins": margins,
        }
    return out


def run_cutoffs(
    evaluate: Callable[[pd.Timestamp], dict[str, Any]],
    cutoffs: Sequence[pd.Timestamp],
    metrics: Sequence[str],
    check: Callable[[pd.Timestamp], None] | None = None,
) -> dict[str, Any]:
    """``evaluate`` at each cut-off, in order, and the summary of the margins over them.

    ``check`` (cheap; raises on a cut-off that cannot be judged) runs on every cut-off first, so a bad
    last cut-off stops the run before hours of training, not after."""
    if check is not None:
        for c in cutoffs:
            check(c)
    per = [evaluate(c) for c in cutoffs]
    return {
        "cutoffs": [pd.Timestamp(c).isoformat() for c in cutoffs],
        "per_cutoff": per,
        "summary": summarize(per, metrics),
    }
