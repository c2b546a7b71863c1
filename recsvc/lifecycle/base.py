"""The churn model's base: a logistic regression on what the buy-till-you-die model already knows.

Why: on sparse purchase logs (many one-time buyers, long gaps) BG/NBD's probability of no purchase
within the horizon and its expected purchases are hard to beat, and boosted trees fitted from
scratch on a few cut-offs only tie them. So the churn model starts from a four-input logistic
regression over BG/NBD P(no purchase in the horizon), BG/NBD E[purchases in the horizon], log
recency and log frequency, and the LightGBM trees learn only the residual (their ``init_score`` is
this base's logit). On data like the training's, the combination is never worse than the base,
and the base is never worse than the best of its inputs by much.

The artifact is ``base.json``: the standardisation and the coefficients, readable by anyone.
Per-user contributions (coefficient x standardised input) let the reasons name the base's
features like any tree feature.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import optimize, special

from recsvc.errors import FailedPrecondition, InvalidArgument

BASE_FORMAT = 2  # 2: + the population gap survival's P(no return within H) and the spend per purchase
# (feature column, transform): the column is the one the reasons will name.
BASE_INPUTS: tuple[str, ...] = (
    "bgnbd_p_zero_h",
    "bgnbd_expected_h",
    "recency_days",
    "active_days_all",
    "gap_p_no_return_h",
    "avg_order_value",
)
_EPS = 1e-6
_NO_ACTIVITY_RECENCY_DAYS = 3650.0  # no activity yet: as if the last one were ten years ago
_L2 = 1e-3  # a whisper of ridge, so separable or constant inputs still give finite coefficients


def base_inputs(features: pd.DataFrame) -> np.ndarray:
    """The (n, 6) transformed inputs: logit P(no purchase), log1p E[purchases], log1p recency,
    log1p active days, logit of the gap survival's P(no return within H) and log1p spend per
    purchase. Users without activity count as sure to buy nothing, ten years silent."""
    missing = [c for c in BASE_INPUTS if c not in features.columns]
    if missing:
        raise InvalidArgument(f"features frame lacks base inputs: {', '.join(missing)}", field=missing[0])

    def col(name: str, fill: float) -> np.ndarray:
        return np.nan_to_num(features[name].to_numpy(np.float64), nan=fill)

    p0 = np.clip(col("bgnbd_p_zero_h", 1.0), _EPS, 1.0 - _EPS)
    expected = np.maximum(col("bgnbd_expected_h", 0.0), 0.0)
    recency = np.maximum(col("recency_days", _NO_ACTIVITY_RECENCY_DAYS), 0.0)
    days = np.maximum(col("active_days_all", 0.0), 0.0)
    no_return = np.clip(col("gap_p_no_return_h", 1.0), _EPS, 1.0 - _EPS)
    spend = np.maximum(col("avg_order_value", 0.0), 0.0)
    return np.column_stack(
        [
            special.logit(p0),
            np.log1p(expected),
            np.log1p(recency),
            np.log1p(days),
            special.logit(no_return),
            np.log1p(spend),
        ]
    )


@dataclass(frozen=True)
class BaseModel:
    """logit P(churn) = intercept + sum(coef * (input - mean) / scale)."""

    intercept: float
    coef: tuple[float, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]

    @classmethod
    def fit(cls, features: pd.DataFrame, y: np.ndarray) -> BaseModel:
        """Maximum likelihood (with a tiny ridge) on the rows of ``features`` and their 0/1 labels."""
        Z = base_inputs(features)
        yy = np.asarray(y, dtype=np.float64)
        if len(yy) == 0 or yy.min() == yy.max():
            raise InvalidArgument("the churn base model needs both churned and retained users", field="events")
        mean = Z.mean(axis=0)
        scale = Z.std(axis=0)
        scale = np.where(scale > 1e-9, scale, 1.0)
        S = (Z - mean) / scale
        k = S.shape[1]

        def nll(theta: np.ndarray) -> tuple[float, np.ndarray]:
            eta = theta[0] + S @ theta[1:]
            loss = float(np.sum(np.logaddexp(0.0, eta) - yy * eta)) / len(yy)
            r = (special.expit(eta) - yy) / len(yy)
            grad = np.r_[r.sum(), S.T @ r]
            loss += _L2 * float(theta[1:] @ theta[1:])
            grad[1:] += 2 * _L2 * theta[1:]
            return loss, grad

        p = float(np.clip(yy.mean(), _EPS, 1 - _EPS))
        start = np.r_[special.logit(p), np.zeros(k)]
        res = optimize.minimize(nll, start, jac=True, method="L-BFGS-B", options={"maxiter": 500})
        theta = res.x
        return cls(
            intercept=float(theta[0]),
            coef=tuple(float(v) for v in theta[1:]),
            mean=tuple(float(v) for v in mean),
            scale=tuple(float(v) for v in scale),
        )

    def contributions(self, features: pd.DataFrame) -> np.ndarray:
        """(n, inputs) log-odds contribution of each input, in BASE_INPUTS order (the intercept apart)."""
        S = (base_inputs(features) - np.asarray(self.mean)) / np.asarray(self.scale)
        return np.asarray(S * np.asarray(self.coef))

    def logit(self, features: pd.DataFrame) -> np.ndarray:
        """The base log-odds of churn per row."""
        return np.asarray(self.intercept + self.contributions(features).sum(axis=1))

    def to_json(self) -> dict[str, object]:
        return {
            "format": BASE_FORMAT,
            "inputs": list(BASE_INPUTS),
            "intercept": self.intercept,
            "coef": list(self.coef),
            "mean": list(self.mean),
            "scale": list(self.scale),
        }

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=2))

    @classmethod
    def load(cls, path: Path) -> BaseModel:
        if not path.is_file():
            raise FailedPrecondition(f"{path}: missing churn base model; retrain the lifecycle model")
        try:
            d = json.loads(path.read_text())
            if d.get("format") != BASE_FORMAT or tuple(d.get("inputs", ())) != BASE_INPUTS:
                raise FailedPrecondition(
                    f"{path}: churn base model format {d.get('format')!r} with inputs {d.get('inputs')!r}, "
                    f"this code reads format {BASE_FORMAT} with {list(BASE_INPUTS)}; retrain the lifecycle model"
                )
            k = len(BASE_INPUTS)
            model = cls(
                intercept=float(d["intercept"]),
                coef=tuple(float(v) for v in d["coef"]),
                mean=tuple(float(v) for v in d["mean"]),
                scale=tuple(float(v) for v in d["scale"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise FailedPrecondition(f"{path}: malformed churn base model ({exc}); retrain") from None
        if not (len(model.coef) == len(model.mean) == len(model.scale) == k):
            raise FailedPrecondition(f"{path}: churn base model needs {k} coefficients; retrain")
        return model
