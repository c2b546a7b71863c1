"""The population's gap survival: how long users wait between active days, by how often they came back.

Why: churn at horizon H is "the open gap since the last active day lasts more than H more days".
The log holds thousands of closed gaps and, at every cut-off, one open (censored) gap per user. A
Kaplan-Meier estimate of the gap length, stratified by the user's repeat count when the gap opened
(one-time buyers wait very differently from regulars), gives P(no activity within H | a days
already waited) = S(a + H) / S(a) with no parametric shape: on retail and media logs the gaps are
heavy-tailed and lumpy (monthly billing, seasons), which the exponential clocks of BG/NBD smooth away.

The user's own rhythm gets a second curve: the gap divided by the mean of the user's earlier gaps
(the time-scaled gap of an accelerated-failure-time model), by the same strata from one repeat on.
P(no activity within H | a days waited) is then S_rel((a + H) / m) / S_rel(a / m) with m the user's
mean gap so far: a regular who usually comes back weekly is overdue after three weeks, a quarterly
buyer is not. Users without a repeat have no rhythm yet and read the day curve.

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
# Time-scaled gaps u = gap / mean earlier gap on a log2 grid of 1/8 steps over [1/64, 64], with an
# underflow bin (0) and an overflow bin (last).
REL_STEPS_PER_OCTAVE = 8
REL_OCTAVES = 6
REL_BINS = 2 * REL_OCTAVES * REL_STEPS_PER_OCTAVE + 2


def stratum(repeats: np.ndarray) -> np.ndarray:
    """Stratum index per repeat count."""
    return np.searchsorted(np.asarray(STRATA_EDGES), np.asarray(repeats), side="right") - 1


def rel_bin(u: np.ndarray) -> np.ndarray:
    """Bin of a time-scaled gap on the log2 grid (0 = below 1/64, last = 64 and above)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.floor((np.log2(np.asarray(u, dtype=np.float64)) + REL_OCTAVES) * REL_STEPS_PER_OCTAVE) + 1
    return np.clip(np.nan_to_num(z, nan=0.0, neginf=0.0, posinf=REL_BINS - 1), 0, REL_BINS - 1).astype(np.int64)


def _bincount2(table: np.ndarray, k: np.ndarray, b: np.ndarray) -> None:
    width = table.shape[1]
    idx = np.asarray(k, dtype=np.int64) * width + np.asarray(b, dtype=np.int64)
    table += np.bincount(idx, minlength=table.size).reshape(table.shape)


def _kaplan_meier(closed: np.ndarray, open_: np.ndarray) -> np.ndarray:
    """log S per stratum and bin; each stratum's hazard shrunk towards the pooled one.

    A closed gap in bin g is at risk in bins ..g and ends in g; an open wait in bin a is at risk in
    bins ..a (it is known to last longer)."""
    n = np.flip(np.cumsum(np.flip(closed + open_, axis=1), axis=1), axis=1)
    d_all, n_all = closed.sum(axis=0), n.sum(axis=0)
    h_all = np.where(n_all > 0, d_all / np.maximum(n_all, 1.0), 0.0)
    h = (closed + SHRINK_USERS * h_all) / (n + SHRINK_USERS)
    return np.asarray(np.cumsum(np.log1p(-np.clip(h, 0.0, 1.0 - 1e-9)), axis=1))


@dataclass
class GapCounts:
    """Closed gaps (length in days >= 1) and open waits (days >= 0) per stratum, as count tables."""

    closed: np.ndarray  # (strata, MAX_GAP_DAYS + 1)
    open: np.ndarray
    rel_closed: np.ndarray  # (strata, REL_BINS): time-scaled gaps
    rel_open: np.ndarray

    @classmethod
    def empty(cls) -> GapCounts:
        shape, rel = (len(STRATA_EDGES), MAX_GAP_DAYS + 1), (len(STRATA_EDGES), REL_BINS)
        return cls(np.zeros(shape), np.zeros(shape), np.zeros(rel), np.zeros(rel))

    def add(self, closed_len: np.ndarray, closed_k: np.ndarray, open_len: np.ndarray, open_k: np.ndarray) -> None:
        """Count gaps in days; lengths are clipped to MAX_GAP_DAYS, ``*_k`` are strata."""
        for table, length, k in ((self.closed, closed_len, closed_k), (self.open, open_len, open_k)):
            _bincount2(table, k, np.clip(np.asarray(length, dtype=np.int64), 0, MAX_GAP_DAYS))

    def add_scaled(self, closed_u: np.ndarray, closed_k: np.ndarray, open_u: np.ndarray, open_k: np.ndarray) -> None:
        """Count time-scaled gaps (gap / the user's mean earlier gap); ``*_k`` are strata."""
        _bincount2(self.rel_closed, closed_k, rel_bin(closed_u))
        _bincount2(self.rel_open, open_k, rel_bin(open_u))


@dataclass(frozen=True)
class GapSurvival:
    """log S(t) per stratum for t = 0 .. MAX_GAP_DAYS days, and of the time-scaled gap per bin."""

    log_s: np.ndarray  # (strata, MAX_GAP_DAYS + 1)
    log_s_rel: np.ndarray  # (strata, REL_BINS)

    @classmethod
    def fit(cls, counts: GapCounts) -> GapSurvival:
        """Kaplan-Meier per stratum with hazards shrunk towards the pooled one (no gap lasts 0 days)."""
        closed = counts.closed.copy()
        closed[:, 0] = 0.0
        return cls(_kaplan_meier(closed, counts.open), _kaplan_meier(counts.rel_closed, counts.rel_open))

    def p_no_return(self, waited_days: np.ndarray, repeats: np.ndarray, horizon_days: float) -> np.ndarray:
        """P(no active day within the next ``horizon_days`` | ``waited_days`` since the last one)."""
        a = np.clip(np.floor(np.asarray(waited_days, dtype=np.float64)), 0, MAX_GAP_DAYS).astype(np.int64)
        b = np.clip(np.floor(a + float(horizon_days)), 0, MAX_GAP_DAYS).astype(np.int64)
        k = stratum(np.asarray(repeats))
        return np.asarray(np.exp(self.log_s[k, b] - self.log_s[k, a]))

    def p_no_return_own(
        self, waited_days: np.ndarray, repeats: np.ndarray, mean_gap_days: np.ndarray, horizon_days: float
    ) -> np.ndarray:
        """The same probability on the user's own time scale (their mean gap so far); users without
        a repeat (or a mean gap) read the day curve."""
        a = np.asarray(waited_days, dtype=np.float64)
        m = np.asarray(mean_gap_days, dtype=np.float64)
        x = np.asarray(repeats)
        out = self.p_no_return(a, x, horizon_days)
        own = (x >= 1) & (m > 0)
        k = stratum(x[own])
        lo, hi = rel_bin(a[own] / m[own]), rel_bin((a[own] + float(horizon_days)) / m[own])
        out[own] = np.exp(self.log_s_rel[k, hi] - self.log_s_rel[k, lo])
        return out

    def to_json(self) -> dict[str, object]:
        # Daily hazards rounded to 6 significant digits: a readable file that rebuilds the curve.
        return {
            "format": GAPSURV_FORMAT,
            "strata_edges": list(STRATA_EDGES),
            "max_gap_days": MAX_GAP_DAYS,
            "rel_bins": REL_BINS,
            "log_s": [[float(f"{v:.6g}") for v in row] for row in self.log_s],
            "log_s_rel": [[float(f"{v:.6g}") for v in row] for row in self.log_s_rel],
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
                and d.get("rel_bins") == REL_BINS
            )
            log_s = np.asarray(d["log_s"], dtype=np.float64)
            log_s_rel = np.asarray(d["log_s_rel"], dtype=np.float64)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise FailedPrecondition(f"{path}: malformed gap survival ({exc}); retrain") from None
        shapes = (log_s.shape, log_s_rel.shape) == (
            (len(STRATA_EDGES), MAX_GAP_DAYS + 1),
            (len(STRATA_EDGES), REL_BINS),
        )
        if not ok or not shapes:
            raise FailedPrecondition(f"{path}: gap survival of another format; retrain the lifecycle model")
        return cls(log_s, log_s_rel)
