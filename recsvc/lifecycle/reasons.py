"""Marketer-readable reasons for a churn score, from LightGBM per-feature contributions.

A reason is a feature whose SHAP-style contribution (``pred_contrib=True``, log-odds) moved the user's
churn risk most; its text is filled from the user's own feature values so a marketer reads
"no activity for 45 days (usually every 6 days)" rather than ``recency_days=45``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Reason:
    """One driver of the score: positive ``contribution`` raises churn risk (log-odds units)."""

    feature: str
    text: str
    contribution: float


def _n(v: float) -> str:
    if math.isnan(v):
        return "unknown"
    if abs(v) >= 10 or float(v).is_integer():
        return f"{v:.0f}"
    return f"{v:.1f}"


def _days(v: float) -> str:
    if math.isnan(v):
        return "never"
    if v < 1:
        return f"{v * 24:.0f} hours"
    return f"{v:.0f} days"


def _recency(f: Mapping[str, float]) -> str:
    gap = f.get("gap_mean_days", math.nan)
    if math.isnan(f.get("recency_days", math.nan)):
        return "no activity yet"
    usual = f" (usually every {_days(gap)})" if not math.isnan(gap) else " (has been active on one day only)"
    return f"no activity for {_days(f['recency_days'])}{usual}"


def _overdue(f: Mapping[str, float]) -> str:
    r = f.get("overdue_ratio", math.nan)
    if math.isnan(r):
        return "no regular rhythm yet (active on one day only)"
    return f"silent {_n(r)}x longer than their usual gap of {_days(f.get('gap_mean_days', math.nan))}"


def _purchase_recency(f: Mapping[str, float]) -> str:
    d = f.get("days_since_purchase", math.nan)
    if math.isnan(d):
        return "has never purchased"
    gap = f.get("purchase_gap_mean_days", math.nan)
    usual = f" (usually every {_days(gap)})" if not math.isnan(gap) else ""
    return f"last purchase {_days(d)} ago{usual}"


def _trend(w: int) -> Callable[[Mapping[str, float]], str]:
    def fmt(f: Mapping[str, float]) -> str:
        v = f.get(f"trend_{w}d", math.nan)
        if math.isnan(v):
            return f"too new to compare the last {w} days with before"
        ratio = math.exp(v)
        if ratio >= 1:
            return f"activity in the last {w} days is {_n(ratio)}x their earlier pace"
        return f"activity in the last {w} days fell to {ratio * 100:.0f}% of their earlier pace"

    return fmt


def _bgnbd_alive(f: Mapping[str, float]) -> str:
    return f"buying-pattern model: {f.get('bgnbd_p_alive', math.nan) * 100:.0f}% chance still active"


def _bgnbd_zero(f: Mapping[str, float]) -> str:
    p = f.get("bgnbd_p_zero_h", math.nan) * 100
    return f"buying-pattern model: {p:.0f}% chance of no visit in the horizon"


def _window_share(f: Mapping[str, float]) -> str:
    share, h = f.get("active_window_share_h", math.nan), f.get("horizon_days", math.nan)
    if math.isnan(share):
        return "too new to have a full period of the horizon behind them"
    return f"active in {share:.0%} of their past {_n(h)}-day periods"


def _recency_over_h(f: Mapping[str, float]) -> str:
    r, h = f.get("recency_over_h", math.nan), f.get("horizon_days", math.nan)
    if math.isnan(r):
        return "no activity yet"
    return f"silent for {_n(r)}x the {_n(h)}-day horizon"


def _opens(f: Mapping[str, float]) -> str:
    return f"opened {_n(f.get('opens_last5', 0.0))} of the last {_n(f.get('pushes_last5', 0.0))} pushes"


# feature -> phrase template ({value} is the feature, other names are the user's other features)
TEMPLATES: dict[str, str] = {
    "tenure_days": "first seen {value:.0f} days ago",
    "n_events_all": "{value:.0f} actions in total",
    "active_days_all": "active on {value:.0f} different days in total",
    "n_sessions_all": "{value:.0f} sessions in total",
    "n_sessions_30d": "{value:.0f} sessions in the last 30 days",
    "gap_mean_days": "usually active every {value:.0f} days",
    "gap_std_days": "irregular rhythm (gaps vary by {value:.0f} days)",
    "hour_entropy": "activity spread over the day (entropy {value:.2f})",
    "n_purchases_all": "{value:.0f} purchases in total",
    "money_all": "spent {value:.2f} in total",
    "avg_order_value": "average order {value:.2f}",
    "purchase_gap_mean_days": "usually buys every {value:.0f} days",
    "purchase_overdue_ratio": "next purchase overdue: {value:.1f}x their usual gap",
    "n_distinct_items": "interacted with {value:.0f} different items",
    "cart_open_items": "{value:.0f} item(s) left in the cart",
    "hours_since_cart": "last added to cart {value:.0f} hours ago",
    "push_delivered_all": "received {value:.0f} pushes",
    "push_delivered_30d": "received {value:.0f} pushes in the last 30 days",
    "push_open_rate": "opens {value:.0%} of pushes",
    "push_click_rate": "clicks {value:.0%} of pushes",
    "push_dismissed_all": "dismissed {value:.0f} pushes",
    "unsubscribed": "has unsubscribed",
    "bgnbd_repeat_days": "came back on {value:.0f} later days",
    "bgnbd_expected_h": "buying-pattern model expects {value:.1f} active days in the horizon",
    "horizon_days": "judged over the next {value:.0f} days",
}
FUNCTIONS: dict[str, Callable[[Mapping[str, float]], str]] = {
    "recency_days": _recency,
    "overdue_ratio": _overdue,
    "days_since_purchase": _purchase_recency,
    "bgnbd_p_alive": _bgnbd_alive,
    "bgnbd_p_zero_h": _bgnbd_zero,
    "active_window_share_h": _window_share,
    "recency_over_h": _recency_over_h,
    "opens_last5": _opens,
    "pushes_last5": _opens,
    **{f"trend_{w}d": _trend(w) for w in (7, 30, 90)},
}


def _window_text(feature: str, value: float) -> str | None:
    """Windowed counters: n_events_30d, active_days_90d, money_365d, n_purchases_7d."""
    for prefix, noun in (
        ("n_events_", "actions"),
        ("active_days_", "active days"),
        ("n_purchases_", "purchases"),
        ("money_", "spent"),
    ):
        if feature.startswith(prefix) and feature.endswith("d") and feature[len(prefix) : -1].isdigit():
            w = feature[len(prefix) : -1]
            if noun == "spent":
                return f"spent {value:.2f} in the last {w} days"
            return f"{_n(value)} {noun} in the last {w} days"
    return None


def phrase(feature: str, values: Mapping[str, float]) -> str:
    """Human text for one feature of one user; falls back to ``name = value``."""
    value = float(values.get(feature, math.nan))
    if feature in FUNCTIONS:
        return FUNCTIONS[feature](values)
    if math.isnan(value) and feature not in FUNCTIONS:
        return f"no data for {feature.replace('_', ' ')}"
    if feature in TEMPLATES:
        return TEMPLATES[feature].format(value=value)
    w = _window_text(feature, value)
    if w is not None:
        return w
    if feature.startswith("n_"):
        return f"{_n(value)} {feature[2:].replace('_', ' ')} events"
    return f"{feature.replace('_', ' ')} = {_n(value)}"


def top_reasons(contrib: np.ndarray, names: tuple[str, ...], values: Mapping[str, float], k: int = 3) -> list[Reason]:
    """Top ``k`` features by |contribution| (``contrib`` excludes the bias column)."""
    order = np.argsort(-np.abs(contrib), kind="stable")
    # A model input without data (a brand-new user has no buying pattern) is no reason a person can read.
    usable = [i for i in order if contrib[i] != 0.0 and not math.isnan(float(values.get(names[i], 0.0)))]
    return [Reason(feature=names[i], text=phrase(names[i], values), contribution=float(contrib[i])) for i in usable[:k]]
