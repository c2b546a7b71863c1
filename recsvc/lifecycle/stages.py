"""Lifecycle stages and the written rules that assign them.

The rules, as a marketer reads them (checked top to bottom, the first that matches wins):

1. **Churning**: the user was active before but has now been silent for much longer than their own
   rhythm: no activity for more than ``silent_multiple`` (3) times their usual gap between active
   days, and at least ``min_silence_days`` (30) days. Users with a single active day have no rhythm
   yet and are judged against ``default_gap_days`` (30), so "came once, silent for 90+ days" is churning.
   An unsubscribed user who has not been active for ``min_silence_days`` is churning too.
2. **Loyal**: a repeat purchaser (purchases on 2 or more different days), or, on data without
   purchases, a regular user: active on at least ``loyal_active_days`` (4) different days within the last
   90 days.
3. **Purchase**: in the buying moment: items in the cart not yet bought, added within the last
   ``cart_recent_hours`` (72 h), or a first purchase within the last ``first_purchase_days`` (30) days.
4. **Interest**: exploring but not (repeat) buying: viewed, searched or carted something, came back
   on 2 or more different days, or bought once a while ago.
5. **Awareness**: everyone else: new or barely active users (including users with no events at all).

"Activity" counts every user event (views, app opens, purchases, clicks...), so the rules also work
on logs that only contain views (MovieLens) or only purchases (CDNOW).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recsvc.config_checks import AT_LEAST_ONE, POSITIVE, FieldChecks
from recsvc.errors import InvalidArgument
from recsvc.vocabulary import Stage


@dataclass(frozen=True)
class StageRules:
    """Thresholds of the rules above; defaults are deliberately data-set agnostic."""

    silent_multiple: float = 3.0
    min_silence_days: float = 30.0
    default_gap_days: float = 30.0
    loyal_active_days: int = 4
    cart_recent_hours: float = 72.0
    first_purchase_days: float = 30.0

    def validate(self) -> None:
        c = FieldChecks(self, prefix="stage rule ", got=None)
        c.each(
            POSITIVE,
            "silent_multiple",
            "min_silence_days",
            "default_gap_days",
            "cart_recent_hours",
            "first_purchase_days",
        )
        c.each(AT_LEAST_ONE, "loyal_active_days")


RULE_INPUTS: tuple[str, ...] = (
    "recency_days",
    "active_days_all",
    "gap_mean_days",
    "unsubscribed",
    "n_purchases_all",
    "active_days_90d",
    "cart_open_items",
    "hours_since_cart",
    "days_since_purchase",
    "n_view",
    "n_search",
    "n_add_to_cart",
    "purchase_gap_mean_days",
)


def silence_limit_days(features: pd.DataFrame, rules: StageRules = StageRules()) -> np.ndarray:
    """Days of silence after which a user counts as churning, from their own rhythm."""
    gap = features["gap_mean_days"].to_numpy(np.float64)
    gap = np.where(np.isnan(gap), rules.default_gap_days, gap)
    return np.asarray(np.maximum(rules.silent_multiple * gap, rules.min_silence_days))


def rule_stages(features: pd.DataFrame, rules: StageRules = StageRules()) -> np.ndarray:
    """Stage per row of a :func:`recsvc.lifecycle.features.compute_features` frame (int Stage values)."""
    missing = [c for c in RULE_INPUTS if c not in features.columns]
    if missing:
        raise InvalidArgument(f"features frame lacks rule inputs: {', '.join(missing)}", field=missing[0])

    def col(name: str, fill: float) -> np.ndarray:
        return np.nan_to_num(features[name].to_numpy(np.float64), nan=fill)

    recency = col("recency_days", np.inf)
    active_days = col("active_days_all", 0.0)
    purchase_days_repeat = col("n_purchases_all", 0.0)
    was_active = active_days > 0
    silent = was_active & (recency > silence_limit_days(features, rules))
    unsub = (col("unsubscribed", 0.0) > 0) & (recency > rules.min_silence_days)
    churning = silent | unsub
    # Repeat purchase = purchases on 2+ different days: one purchase gap observed.
    repeat_buyer = (purchase_days_repeat >= 2) & ~np.isnan(features["purchase_gap_mean_days"].to_numpy(np.float64))
    loyal = repeat_buyer | (col("active_days_90d", 0.0) >= rules.loyal_active_days)
    cart_now = (col("cart_open_items", 0.0) > 0) & (col("hours_since_cart", np.inf) <= rules.cart_recent_hours)
    first_purchase = (purchase_days_repeat >= 1) & (col("days_since_purchase", np.inf) <= rules.first_purchase_days)
    purchase = cart_now | first_purchase
    browsing = (
        (col("n_view", 0.0) + col("n_search", 0.0) + col("n_add_to_cart", 0.0) > 0)
        | (active_days >= 2)
        | (purchase_days_repeat >= 1)
    )
    out = np.full(len(features), int(Stage.AWARENESS), dtype=np.int64)
    for mask, stage in (
        (browsing, Stage.INTEREST),
        (purchase, Stage.PURCHASE),
        (loyal, Stage.LOYAL),
        (churning, Stage.CHURNING),
    ):
        out[mask] = int(stage)
    return out
