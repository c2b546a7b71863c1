"""The population's gap survival: how long users wait between active days, by how often they came back.

Why: churn at horizon H is "the open gap since the last active day lasts more than H more days".
The log holds thousands of closed gaps and, at every cut-off, one open (censored) gap per user. A
Kaplan-Meier estimate of the gap length, stratified by the user's repeat count when the gap opened
(one-time buyers wait very differently from regulars), gives P(no activity within H | a days
already waited) = S(a + H) / S(a) with no parametric shape: on retail and media logs the gaps are
heavy-tailed and lumpy (monthly billing, seasons), which the exponential clocks of BG/NBD smooth away.

Small strata borrow strength from the whole population: each stratum's daily hazard is shrunk
towards the pooled hazard with a prior weight of ``SHRINK_USERS`` users at risk.

The estimate is a population statistic, like BG/NBD's parameters: training fits it per cut-off on the
window before that cut-off, and the served model stores the one fitted at the training cut-off
(``gapsurv.json``), so scoring a handful of users reads the same curve as training did.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from recsvc.errors import FailedPrecondition

GAPSURV_FORMAT = 1
# Repeat-count strata (active days so far minus one): 0, 1, 2, 3-4, 5-8, 9+.
STRATA_EDGES: tuple[int, ...] = (0, 1, 2, 3, 5, 9)
MAX_GAP_DAYS = 3650  # longer gaps and waits count as this long
SHRINK_USERS = 20.0


def stratum(repeats: np.ndarray) -> np.ndarray:
    """Stratum index per repeat count."""
    return np.searchsorted(np.asarray(STRATA_EDGES), np.asarray(repeats), side="right") - 1


@dataclass
class GapCounts:
    """Closed gaps (length in days >= 1) and open waits (days >= 0) per stratum, as count tables."""

    closed: np.ndarray  # (strata, MAX_GAP_DAYS + 1)
    open: np.ndarray

    @classmethod
    def empty(cls) -> GapCounts:
        shape = (len(STRATA_EDGES), MAX_GAP_DAYS + 1)
        return cls(np.zeros(shape), np.zeros(shape))

    def add(self, closed_len: np.ndarray, closed_k: np.ndarray, open_len: np.ndarray, open_k: np.ndarray) -> None:
        """Count gaps; lengths are clipped to MAX_GAP_DAYS, ``*_k`` are strata."""
        width = MAX_GAP_DAYS + 1
        for table, length, k in ((self.closed, closed_len, closed_k), (self.open, open_len, open_k)):
            g = np.clip(np.asarray(length, dtype=np.int64), 0, MAX_GAP_DAYS)
            table += np.bincount(np.asarray(k, dtype=np.int64) * width + g, minlength=table.size).reshape(table.shape)


@dataclass(frozen=True)
class GapSurvival:
    """log S(t) per stratum for t = 0 .. MAX_GAP_DAYS days (S(0) = 1)."""

    log_s: np.ndarray  # (strata, MAX_GAP_DAYS + 1)

    @classmethod
    def fit(cls, counts: GapCounts) -> GapSurvival:
        """Kaplan-Meier per stratum with hazards shrunk towards the pooled one.

        A gap of length g is at risk at days 1..g and ends at g; an open wait of a days is at risk at
        days 1..a (it is known to last longer than a)."""
        d = counts.closed
        # at risk at t: closed gaps with g >= t plus open waits with a >= t (reverse cumulative sums)
        n = np.flip(np.cumsum(np.flip(d + counts.open, axis=1), axis=1), axis=1)
        d_all, n_all = d.sum(axis=0), n.sum(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            h_all = np.where(n_all > 0, d_all / np.maximum(n_all, 1.0), 0.0)
        h = (d + SHRINK_USERS * h_all) / (n + SHRINK_USERS)
        h[:, 0] = 0.0  # no gap has length 0
        log_s = np.cumsum(np.log1p(-np.clip(h, 0.0, 1.0 - 1e-9)), axis=1)
        return cls(log_s)

    def p_no_return(self, waited_days: np.ndarray, repeats: np.ndarray, horizon_days: float) -> np.ndarray:
        """P(no active day within the next ``horizon_days`` | ``waited_days`` since the last one)."""
        a = np.clip(np.floor(np.asarray(waited_days, dtype=np.float64)), 0, MAX_GAP_DAYS).astype(np.int64)
        b = np.clip(np.floor(a + float(horizon_days)), 0, MAX_GAP_DAYS).astype(np.int64)
        k = stratum(np.asarray(repeats))
        return np.asarray(np.exp(self.log_s[k, b] - self.log_s[k, a]))

    def to_json(self) -> dict[str, object]:
        # Daily hazards rounded to 6 significant digits: a readable file that rebuilds the curve.
        return {
            "format": GAPSURV_FORMAT,
            "strata_edges": list(STRATA_EDGES),
            "max_gap_days": MAX_GAP_DAYS,
            "log_s": [[float(f"{v:.6g}") for v in row] for row in self.log_s],
        }

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json()))

    @classmethod
    def load(cls, path: Path) -> GapSurvival:
        if not path.is_file():
            raise FailedPrecondition(f"{path}: missing gap survival; retrain the lifecycle model")
        try:
            d = json.loads(path.read_text())
            ok = (
                d.get("format") == GAPSURV_FORMAT
                and tuple(d.get("strata_edges", ())) == STRATA_EDGES
                and d.get("max_gap_days") == MAX_GAP_DAYS
            )
            log_s = np.asarray(d["log_s"], dtype=np.float64)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise FailedPrecondition(f"{path}: malformed gap survival ({exc}); retrain") from None
        if not ok or log_s.shape != (len(STRATA_EDGES), MAX_GAP_DAYS + 1):
            raise FailedPrecondition(f"{path}: gap survival of another format; retrain the lifecycle model")
        return cls(log_s)
