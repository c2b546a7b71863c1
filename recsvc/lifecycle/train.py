"""Training the churn and next-stage models on stacked historical cut-offs (:func:`train_lifecycle`).

Why cut-offs: churn is "no activity in the next H days", a label that only exists H days after the
features. Training rows are therefore (features at cut-off c, what happened in [c, c+h)) for several
past cut-offs whose labels all end at or before the training cut-off, so nothing after it leaks in.
When the log is too short for full-horizon labels (CDNOW: every customer joins in Q1 1997) we add
cut-offs with a shorter label horizon h (never below ``min_label_fraction`` x H) and compute the
BG/NBD horizon features with that same h, which keeps the label meaningful.

The churn model is a logistic base over BG/NBD's horizon scores, recency and frequency
(:mod:`.base`) plus LightGBM trees fitted to its residual. The latest cut-off is the time-split
validation set: it early-stops both models, fits the churn calibration (Platt, :mod:`.calibration`)
and yields the metrics written to metadata.json.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from scipy import special
from sklearn.metrics import average_precision_score, f1_score, roc_auc_score
from tqdm import tqdm

from recsvc.artifacts import library_versions, new_version_dir, write_metadata
from recsvc.errors import InvalidArgument
from recsvc.lifecycle.base import BaseModel
from recsvc.lifecycle.bgnbd import BGNBDParams
from recsvc.lifecycle.calibration import apply_calibration, expected_calibration_error, fit_platt, reliability
from recsvc.lifecycle.config import LifecycleConfig
from recsvc.lifecycle.eventlog import EventLog, as_event_log
from recsvc.lifecycle.features import FEATURE_NAMES, _compute, fit_window_population
from recsvc.lifecycle.gapsurv import GapCounts, GapSurvival
from recsvc.lifecycle.model import MODEL_FORMAT, MODEL_NAME, STAGE_ENUMS
from recsvc.lifecycle.stages import rule_stages

logger = logging.getLogger(__name__)


def _utc(ts: pd.Timestamp) -> pd.Timestamp:
    t = pd.Timestamp(ts)
    return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")


def training_cutoffs(
    first: pd.Timestamp, end: pd.Timestamp, horizon_days: int, config: LifecycleConfig
) -> list[tuple[pd.Timestamp, float]]:
    """(cut-off, label horizon days) pairs, oldest first; every label window ends by ``end``."""
    H = float(horizon_days)
    step = config.step_days or int(min(30, max(7, round(H / 4))))
    earliest = first + pd.Timedelta(days=config.min_history_days)
    out: list[tuple[pd.Timestamp, float]] = []
    k = 0
    while len(out) < config.max_cutoffs:
        c = end - pd.Timedelta(days=H + k * step)
        if c < earliest:
            break
        out.append((c, H))
        k += 1
    if len(out) < config.min_full_cutoffs:
        h = H - step
        while h >= config.min_label_fraction * H and len(out) < config.max_cutoffs:
            c = end - pd.Timedelta(days=h)
            if c >= earliest:
                out.append((c, h))
            h -= step
    return sorted(out, key=lambda p: p[0])


@dataclass(frozen=True)
class _Boosting:
    """The boosting settings in force for one training run (written to metadata.json)."""

    learning_rate: float
    num_leaves: int
    max_rounds: int
    large_data: bool


def _boosting(config: LifecycleConfig, n_rows: int) -> _Boosting:
    """Small logs keep the careful settings; from ``large_rows`` rows on, fewer and larger trees."""
    if n_rows >= config.large_rows:
        return _Boosting(config.large_learning_rate, config.large_num_leaves, config.large_max_rounds, True)
    return _Boosting(config.learning_rate, config.num_leaves, config.max_rounds, False)


def _num_leaves(config: LifecycleConfig, objective: str, boosting: _Boosting) -> int:
    """Small churn trees on small logs: they only correct the base, and deeper ones fit the training
    cut-offs' population rather than the next one's."""
    if objective == "binary" and not boosting.large_data:
        return config.churn_num_leaves
    return boosting.num_leaves


def _churn_rounds(config: LifecycleConfig, boosting: _Boosting) -> int:
    if boosting.large_data:
        return boosting.max_rounds
    return config.churn_max_rounds or int(2.5 * config.max_rounds)


def _lgb_params(config: LifecycleConfig, objective: str, n_rows: int, boosting: _Boosting) -> dict[str, object]:
    leaf = config.min_data_in_leaf or int(min(500, max(20, n_rows // 1000)))
    p: dict[str, object] = {
        "objective": objective,
        "num_leaves": _num_leaves(config, objective, boosting),
        "max_bin": config.max_bin,
        "learning_rate": boosting.learning_rate,
        "min_data_in_leaf": leaf,
        "feature_fraction": config.feature_fraction,
        "bagging_fraction": config.bagging_fraction,
        "bagging_freq": 1,
        "lambda_l2": config.lambda_l2,
        "seed": config.seed,
        "deterministic": True,
        "verbosity": -1,
        "num_threads": config.num_threads,
    }
    if objective == "multiclass":
        p["num_class"] = len(STAGE_ENUMS)
    return p


def _samples(
    log: EventLog, cutoffs: list[tuple[pd.Timestamp, float]], config: LifecycleConfig, progress: bool
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Stacked (features, churn label, next-stage label, rule stage now, cut-off index)."""
    rng = np.random.default_rng(config.seed)
    per_cut = max(1, config.max_train_rows // max(1, len(cutoffs)))
    # Users are sampled per cut-off *before* computing features, so million-user logs stay cheap:
    # only the sampled users' rows of the encoded log are read.
    first_seen = log.first_ts()
    frames, churn, stage, now_stage, group = [], [], [], [], []
    for i, (c, h) in enumerate(tqdm(cutoffs, desc="lifecycle cut-offs", disable=not progress)):
        present = np.flatnonzero(first_seen < c.value / 1e9)
        if len(present) > per_cut:
            present = present[np.sort(rng.choice(len(present), per_cut, replace=False))]
        feats, _, _ = _compute(log, c, users=None, codes=present, bgnbd=None, horizon_days=h, with_bgnbd=True)
        later = c + pd.Timedelta(days=h)
        end, _, _ = _compute(log, later, users=None, codes=present, bgnbd=None, horizon_days=h, with_bgnbd=False)
        churn.append((end["n_events_all"].to_numpy() == feats["n_events_all"].to_numpy()).astype(np.int8))
        stage.append(rule_stages(end, config.rules))
        now_stage.append(rule_stages(feats, config.rules))
        group.append(np.full(len(feats), i, dtype=np.int32))
        frames.append(feats)
        logger.info(
            "cut-off %s (label horizon %.0f d): %d users, churn rate %.3f",
            c,
            h,
            len(feats),
            float(churn[-1].mean()) if len(feats) else float("nan"),
        )
    X = pd.concat(frames)
    return X, np.concatenate(churn), np.concatenate(stage), np.concatenate(now_stage), np.concatenate(group)


class _PhaseClock:
    """Wall seconds per training phase, logged and kept for metadata.json (where the time goes)."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._t = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = round(now - self._t, 3)
        self._t = now
        logger.info("lifecycle training: %s took %.1f s", name, self.laps[name])


def _safe_auc(y: np.ndarray, s: np.ndarray) -> float:
    return float(roc_auc_score(y, s)) if 0 < y.sum() < len(y) else float("nan")


@dataclass(frozen=True)
class _Fitter:
    """Fits one LightGBM model on rows of the stacked feature matrix, early-stopped on ``vrows`` if given:
    in this process, or on the workers of ``client`` (a ``distributed.Client``) with ``lightgbm.dask``."""

    X: np.ndarray
    config: LifecycleConfig
    boosting: _Boosting
    client: Any = None

    def __call__(
        self,
        objective: str,
        y: np.ndarray,
        rows: np.ndarray,
        vrows: np.ndarray | None,
        rounds: int,
        init: np.ndarray | None = None,
    ) -> lgb.Booster:
        """``init`` (log-odds per row of X) makes the trees learn the residual of a base model."""
        params = _lgb_params(self.config, objective, int(rows.sum()), self.boosting)
        if self.client is not None:
            from recsvc.lifecycle.dask_fit import fit_on_dask

            return fit_on_dask(
                self.client,
                params,
                self.X,
                y,
                rows,
                vrows,
                rounds,
                init,
                feature_names=list(FEATURE_NAMES),
                early_stopping_rounds=self.config.early_stopping_rounds,
                seed=self.config.seed,
            )
        ds = lgb.Dataset(
            self.X[rows],
            label=y[rows],
            init_score=None if init is None else init[rows],
            feature_name=list(FEATURE_NAMES),
            free_raw_data=True,
        )
        cbs: list[Callable[..., Any]] = []
        valid_sets = []
        if vrows is not None:
            v_init = None if init is None else init[vrows]
            valid_sets = [lgb.Dataset(self.X[vrows], label=y[vrows], init_score=v_init, reference=ds)]
            cbs.append(lgb.early_stopping(self.config.early_stopping_rounds, verbose=False))
        return lgb.train(
            params,
            ds,
            num_boost_round=rounds,
            valid_sets=valid_sets,
            callbacks=cbs,
        )


def _training_log(
    events: pd.DataFrame | EventLog, cutoff: pd.Timestamp | None
) -> tuple[EventLog, pd.Timestamp, pd.Timestamp]:
    """The log before the training cut-off, its first event time and the cut-off (default: after the last event)."""
    if isinstance(events, pd.DataFrame) and events.empty:
        raise InvalidArgument("no events to train the lifecycle models on", field="events")
    full = as_event_log(events)
    if len(full) == 0:
        raise InvalidArgument("no events to train the lifecycle models on", field="events")
    first = pd.Timestamp(float(full.ts.min()), unit="s", tz="UTC")
    last = pd.Timestamp(float(full.ts.max()), unit="s", tz="UTC")
    end = _utc(cutoff) if cutoff is not None else last + pd.Timedelta(seconds=1)
    if end <= first:
        raise InvalidArgument(f"cut-off {end} is before the first event ({first})", field="cutoff")
    return full.before(end.value / 1e9), first, end


def _split_rows(
    group: np.ndarray,
    y_churn: np.ndarray,
    seed: int,
    cutoffs: list[tuple[pd.Timestamp, float]] | None = None,
    users: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(train, valid) rows: valid is the latest cut-off (a time split; with a single cut-off, a seeded
    user split instead). Train is every earlier cut-off whose label window ends by the validation
    cut-off, when those hold both labels. When none does (short logs: every label window ends at the
    training cut-off), train is every earlier cut-off, and ``users`` given, the users are split in
    two seeded halves: one trains, the other validates.

    Why: cut-offs are H/4 apart, so an earlier cut-off's label window ("silent in the next H days")
    covers most of the validation's; those rows are nearly the validation labels of the same users,
    and early stopping on them picks the rounds that fit this overlap, not the next period."""
    last_g = int(group.max())
    valid = group == last_g if last_g > 0 else np.random.default_rng(seed).random(len(group)) < 0.2
    train = ~valid
    if y_churn[train].min() == y_churn[train].max():
        raise InvalidArgument(
            "all training users have the same churn label; use another horizon or cut-off",
            field="horizon_days",
        )
    if cutoffs is None or last_g == 0:
        return np.asarray(train), np.asarray(valid)
    c_v = cutoffs[last_g][0]
    ends_by = np.array([c + pd.Timedelta(days=h) <= c_v for c, h in cutoffs])
    purged = ends_by[group] & train
    if purged.any() and 0 < y_churn[purged].sum() < purged.sum():
        return np.asarray(purged), np.asarray(valid)
    if users is not None:
        codes, uniq = pd.factorize(pd.Index(users))
        half = np.random.default_rng(seed).random(len(uniq)) < 0.5
        t2, v2 = train & half[codes], valid & ~half[codes]
        if 0 < y_churn[t2].sum() < t2.sum() and 0 < y_churn[v2].sum() < v2.sum():
            return np.asarray(t2), np.asarray(v2)
    return np.asarray(train), np.asarray(valid)


@dataclass(frozen=True)
class _Churn:
    """The fitted churn model: base, trees on its residual, calibration and validation metrics."""

    base: BaseModel
    trees: lgb.Booster
    best_iteration: int
    calibration: dict[str, Any]
    metrics: dict[str, object]


def _baseline_aucs(X: pd.DataFrame, yv: np.ndarray, valid: np.ndarray) -> dict[str, float]:
    def col(name: str, fill: float) -> np.ndarray:
        return np.nan_to_num(X[name].to_numpy(np.float64)[valid], nan=fill)

    return {
        "auc_recency_baseline": _safe_auc(yv, col("recency_days", 1e9)),
        "auc_bgnbd_baseline": _safe_auc(yv, col("bgnbd_p_zero_h", 1.0)),
        "auc_bgnbd_expected_baseline": _safe_auc(yv, -col("bgnbd_expected_h", 0.0)),
    }


def _fit_churn(
    fit: _Fitter, X: pd.DataFrame, y: np.ndarray, train: np.ndarray, valid: np.ndarray, clock: _PhaseClock
) -> _Churn:
    """The churn base on the training rows, trees on its residual early-stopped on the time split,
    the Platt calibration fitted on that split, and the split's metrics."""
    base = BaseModel.fit(X[train], y[train])
    init = base.logit(X)
    max_rounds = _churn_rounds(fit.config, fit.boosting)
    model = fit("binary", y, train, valid, max_rounds, init)
    best = max(1, model.best_iteration or max_rounds)
    clock.lap("churn_fit")
    logit_v = np.asarray(model.predict(fit.X[valid], num_iteration=best, raw_score=True)) + init[valid]
    raw_v = special.expit(logit_v)
    yv = y[valid].astype(np.float64)
    # Cross-fitted calibration so the reported Brier is out-of-sample.
    fold = np.random.default_rng(fit.config.seed + 1).random(len(raw_v)) < 0.5
    cal_v = raw_v.copy()
    for a in (fold, ~fold):
        if a.any() and (~a).any():
            cal_v[~a] = apply_calibration(fit_platt(logit_v[a], yv[a]), raw_v[~a])
    calibration = fit_platt(logit_v, yv)
    table = reliability(cal_v, yv)
    metrics = {
        "auc": _safe_auc(yv, raw_v),
        "auc_base_alone": _safe_auc(yv, init[valid]),
        "pr_auc": float(average_precision_score(yv, raw_v)) if yv.sum() else math.nan,
        "brier": float(np.mean((cal_v - yv) ** 2)),
        "brier_uncalibrated": float(np.mean((raw_v - yv) ** 2)),
        "expected_calibration_error": expected_calibration_error(table),
        "base_rate": float(yv.mean()),
        "n_valid": int(valid.sum()),
        "best_iteration": best,
        **_baseline_aucs(X, yv, valid),
        "reliability": table,
    }
    clock.lap("churn_calibration_metrics")
    return _Churn(base, model, best, calibration, metrics)


def _fit_stage(
    fit: _Fitter, stage_y: np.ndarray, now_stage: np.ndarray, train: np.ndarray, valid: np.ndarray, clock: _PhaseClock
) -> tuple[lgb.Booster, int, dict[str, object]]:
    """The next-stage model (classes are Stage values - 1), its best iteration and validation metrics."""
    max_rounds = fit.boosting.max_rounds
    model = fit("multiclass", stage_y, train, valid, max_rounds)
    clock.lap("stage_fit")
    best = max(1, model.best_iteration or max_rounds)
    pred_v = np.argmax(model.predict(fit.X[valid], num_iteration=best), axis=1)
    labels = list(range(len(STAGE_ENUMS)))
    metrics = {
        "macro_f1": float(f1_score(stage_y[valid], pred_v, labels=labels, average="macro", zero_division=0)),
        "macro_f1_rules_alone": float(
            f1_score(stage_y[valid], now_stage[valid] - 1, labels=labels, average="macro", zero_division=0)
        ),
        "accuracy": float(np.mean(pred_v == stage_y[valid])),
        "accuracy_rules_alone": float(np.mean(now_stage[valid] - 1 == stage_y[valid])),
        "best_iteration": best,
        "class_counts_valid": {s.name: int(np.sum(stage_y[valid] == s - 1)) for s in STAGE_ENUMS},
    }
    clock.lap("stage_metrics")
    return model, best, metrics


def _final_population(ev: EventLog, end: pd.Timestamp) -> tuple[BGNBDParams, GapSurvival]:
    """BG/NBD parameters and gap survival for serving, fitted on the whole training window (neutral
    ones if the fit fails: BG/NBD of ones, a gap survival that never sees a return)."""
    try:
        return fit_window_population(ev, end)
    except InvalidArgument:
        return BGNBDParams(r=1.0, alpha=1.0, a=1.0, b=1.0), GapSurvival.fit(GapCounts.empty())


def _training_window(
    first: pd.Timestamp, end: pd.Timestamp, cutoffs: list[tuple[pd.Timestamp, float]]
) -> dict[str, Any]:
    return {
        "start": first.isoformat(),
        "end": end.isoformat(),
        "cutoffs": [{"cutoff": c.isoformat(), "label_horizon_days": h} for c, h in cutoffs],
    }


def _trained_on(client: Any) -> str:
    """Where the boosting ran, for metadata.json: ``single`` or ``dask:<local:N or scheduler address>``."""
    if client is None:
        return "single"
    from recsvc.lifecycle.dask_fit import cluster_name

    return f"dask:{cluster_name(client)}"


def _cluster_libraries(client: Any) -> tuple[str, ...]:
    return () if client is None else ("dask", "distributed")


def train_lifecycle(
    events: pd.DataFrame | EventLog,
    *,
    out_dir: Path,
    horizon_days: int,
    cutoff: pd.Timestamp | None = None,
    config: LifecycleConfig = LifecycleConfig(),
    progress: bool = True,
    client: Any = None,
) -> Path:
    """Train churn + stage models on events before ``cutoff`` (default: whole log); return the version dir.

    With ``client`` (a ``distributed.Client``) the boosting runs on its cluster (:mod:`.dask_fit`); the
    features are still computed here."""
    config.validate()
    if horizon_days <= 0:
        raise InvalidArgument(f"horizon_days must be > 0, got {horizon_days}", field="horizon_days")
    ev, first, end = _training_log(events, cutoff)
    cutoffs = training_cutoffs(first, end, horizon_days, config)
    if not cutoffs:
        raise InvalidArgument(
            f"the log from {first.date()} to {end.date()} is too short for horizon {horizon_days} d "
            f"(need at least {config.min_history_days} d of history plus "
            f"{config.min_label_fraction:.0%} of the horizon before the cut-off)",
            field="horizon_days",
        )
    clock = _PhaseClock()
    X, y_churn, y_stage, now_stage, group = _samples(ev, cutoffs, config, progress)
    clock.lap("features")
    # The churn trees early-stop on the purged split; the stage model keeps every earlier cut-off
    # (its labels are the stage H days on, where the purge cost macro-F1 on the demo app).
    train, valid = _split_rows(group, y_churn, config.seed, cutoffs, X.index.to_numpy())
    stage_train, stage_valid = _split_rows(group, y_churn, config.seed)
    boosting = _boosting(config, len(group))
    logger.info("lifecycle boosting for %d rows: %s", len(group), boosting)
    fit = _Fitter(np.ascontiguousarray(X.to_numpy(np.float32)), config, boosting, client)
    churn = _fit_churn(fit, X, y_churn, train, valid, clock)
    churn_model, churn_iter, base = churn.trees, churn.best_iteration, churn.base
    stage_y = y_stage - 1
    stage_model, stage_iter, stage_metrics = _fit_stage(fit, stage_y, now_stage, stage_train, stage_valid, clock)
    if config.refit_full and int(group.max()) > 0:
        everything = np.ones(len(group), dtype=bool)
        base = BaseModel.fit(X, y_churn)
        churn_model = fit("binary", y_churn, everything, None, churn_iter, base.logit(X))
        stage_model = fit("multiclass", stage_y, everything, None, stage_iter)
        churn_iter, stage_iter = churn_model.current_iteration(), stage_model.current_iteration()
    clock.lap("refit_full")
    bg, survival = _final_population(ev, end)
    clock.lap("final_population")
    vdir = new_version_dir(out_dir)
    churn_model.save_model(str(vdir / "churn.txt"), num_iteration=churn_iter)
    stage_model.save_model(str(vdir / "stage.txt"), num_iteration=stage_iter)
    (vdir / "calibration.json").write_text(json.dumps(churn.calibration))
    base.save(vdir / "base.json")
    bg.save(vdir / "bgnbd.json")
    survival.save(vdir / "gapsurv.json")
    meta = {
        "name": MODEL_NAME,
        "format": MODEL_FORMAT,
        "version": vdir.name,
        "feature_names": list(FEATURE_NAMES),
        "horizon_days": horizon_days,
        "training_window": _training_window(first, end, cutoffs),
        "n_samples": len(group),
        "trained_on": _trained_on(client),
        "boosting": asdict(boosting),
        "training_seconds": clock.laps,
        "metrics": {"churn": churn.metrics, "stage": stage_metrics},
        "churn_base": base.to_json(),
        "stages": {s.name: int(s) for s in STAGE_ENUMS},
        "config": asdict(config),
        "library_versions": library_versions("lightgbm", "numpy", "pandas", "scipy", *_cluster_libraries(client)),
    }
    write_metadata(vdir, meta, indent=2, default=str)  # last: it marks the version complete
    logger.info("lifecycle model written to %s (churn metrics on the time split: %s)", vdir, churn.metrics)
    return vdir
