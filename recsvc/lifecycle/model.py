"""Churn risk and next lifecycle stage: two LightGBM models trained on stacked historical cut-offs.

Why cut-offs: churn is "no activity in the next H days", a label that only exists H days after the
features. Training rows are therefore (features at cut-off c, what happened in [c, c+h)) for several
past cut-offs whose labels all end at or before the training cut-off, so nothing after it leaks in.
When the log is too short for full-horizon labels (CDNOW: every customer joins in Q1 1997) we add
cut-offs with a shorter label horizon h (never below ``min_label_fraction`` x H) and compute the
BG/NBD horizon features with that same h, which keeps the label meaningful.

The latest cut-off is the time-split validation set: it early-stops both models, fits the churn
calibration (isotonic, stored as JSON breakpoints) and yields the metrics written to metadata.json.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import scipy
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import average_precision_score, f1_score, roc_auc_score
from tqdm import tqdm

from recsvc.artifacts import read_metadata, verify, write_metadata
from recsvc.errors import FailedPrecondition, InvalidArgument
from recsvc.lifecycle.bgnbd import BGNBDParams, fit_bgnbd
from recsvc.lifecycle.compiled import TreeScorer
from recsvc.lifecycle.eventlog import EventLog, as_event_log
from recsvc.lifecycle.features import FEATURE_NAMES, _compute, compute_features, fit_window_bgnbd
from recsvc.lifecycle.reasons import Reason, top_reasons
from recsvc.lifecycle.stages import StageRules, rule_stages
from recsvc.vocabulary import Stage

logger = logging.getLogger(__name__)

MODEL_FORMAT = 1
MODEL_NAME = "lifecycle"
STAGE_ENUMS: tuple[Stage, ...] = tuple(Stage)


@dataclass(frozen=True)
class LifecycleConfig:
    """Tunables of lifecycle training and scoring (defaults are data-set agnostic)."""

    horizon_days: int = 30
    step_days: int = 0  # spacing of training cut-offs; 0 = H/4 clamped to [7, 30] days
    max_cutoffs: int = 8
    min_full_cutoffs: int = 2  # below this, add shorter-horizon cut-offs ending at the training cut-off
    min_label_fraction: float = 0.25  # shortest label horizon allowed, as a fraction of H
    min_history_days: int = 28  # a cut-off needs this much log before it
    max_train_rows: int = 500_000  # stacked rows over all cut-offs; users are sampled per cut-off
    max_bin: int = 63
    num_leaves: int = 15
    learning_rate: float = 0.05
    max_rounds: int = 400
    early_stopping_rounds: int = 40
    min_data_in_leaf: int = 0  # 0 = automatic: 0.1% of the training rows, clamped to [20, 500]
    feature_fraction: float = 0.8
    bagging_fraction: float = 0.8
    lambda_l2: float = 1.0
    num_threads: int = 1  # 1 is robust on busy hosts (OpenMP spin-waits collapse under contention); 0 = all cores
    # Large data (at least large_rows stacked training rows, e.g. the 500,000-row cap on a million users):
    # fewer, larger trees at a higher learning rate. Training stays within minutes and batch scoring
    # walks a few hundred trees instead of a few thousand; small logs keep the settings above.
    large_rows: int = 250_000
    large_learning_rate: float = 0.2
    large_num_leaves: int = 63
    large_max_rounds: int = 160  # the stage model needs ~160 rounds at lr 0.2 to match the small-data F1
    compiled_scoring: bool = True  # score big batches with lleaves-compiled trees when installed (else LightGBM)
    compiled_min_rows: int = 200_000  # smaller batches use LightGBM: compiling costs seconds per model
    refit_full: bool = True  # after early stopping, refit on every cut-off incl. the validation one
    seed: int = 0
    reasons_top_k: int = 3
    rules: StageRules = field(default_factory=StageRules)

    def validate(self) -> None:
        positive = (
            "horizon_days",
            "max_cutoffs",
            "min_history_days",
            "max_train_rows",
            "max_bin",
            "num_leaves",
            "learning_rate",
            "max_rounds",
            "early_stopping_rounds",
            "reasons_top_k",
            "large_rows",
            "large_learning_rate",
            "large_num_leaves",
            "large_max_rounds",
        )
        for name in positive:
            if not getattr(self, name) > 0:
                raise InvalidArgument(f"lifecycle.{name} must be > 0, got {getattr(self, name)}", field=name)
        if self.step_days < 0:
            raise InvalidArgument("lifecycle.step_days must be >= 0 (0 = automatic)", field="step_days")
        if self.min_full_cutoffs < 0:
            raise InvalidArgument("lifecycle.min_full_cutoffs must be >= 0", field="min_full_cutoffs")
        if not 0 < self.min_label_fraction <= 1:
            raise InvalidArgument("lifecycle.min_label_fraction must be in (0, 1]", field="min_label_fraction")
        for name in ("feature_fraction", "bagging_fraction"):
            if not 0 < getattr(self, name) <= 1:
                raise InvalidArgument(f"lifecycle.{name} must be in (0, 1]", field=name)
        if self.min_data_in_leaf < 0:
            raise InvalidArgument("lifecycle.min_data_in_leaf must be >= 0 (0 = automatic)", field="min_data_in_leaf")
        if self.compiled_min_rows < 0:
            raise InvalidArgument("lifecycle.compiled_min_rows must be >= 0", field="compiled_min_rows")
        if self.lambda_l2 < 0 or self.num_threads < 0:
            raise InvalidArgument("lifecycle.lambda_l2 and num_threads must be >= 0", field="lambda_l2")
        self.rules.validate()


@dataclass(frozen=True)
class UserScore:
    user_id: str
    rule_stage: Stage
    predicted_stage: Stage
    stage_probs: dict[Stage, float]
    churn_risk: float
    reasons: list[Reason]


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


def _reliability(p: np.ndarray, y: np.ndarray, bins: int = 10) -> list[dict[str, float]]:
    edges = np.linspace(0, 1, bins + 1)
    idx = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    rows = []
    for b in range(bins):
        m = idx == b
        if m.any():
            rows.append(
                {
                    "bin_low": float(edges[b]),
                    "bin_high": float(edges[b + 1]),
                    "n": int(m.sum()),
                    "mean_predicted": float(p[m].mean()),
                    "observed_rate": float(y[m].mean()),
                }
            )
    return rows


def _fit_isotonic(raw: np.ndarray, y: np.ndarray) -> dict[str, list[float]]:
    iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(raw, y)
    return {"x": [float(v) for v in iso.X_thresholds_], "y": [float(v) for v in iso.y_thresholds_]}


def _apply_calibration(cal: dict[str, list[float]], raw: np.ndarray) -> np.ndarray:
    x, y = np.asarray(cal["x"]), np.asarray(cal["y"])
    if len(x) == 0:
        return raw
    return np.asarray(np.interp(raw, x, y))


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


def _lgb_params(config: LifecycleConfig, objective: str, n_rows: int, boosting: _Boosting) -> dict[str, object]:
    leaf = config.min_data_in_leaf or int(min(500, max(20, n_rows // 1000)))
    p: dict[str, object] = {
        "objective": objective,
        "num_leaves": boosting.num_leaves,
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
        feats, _ = _compute(log, c, users=None, codes=present, bgnbd=None, horizon_days=h, with_bgnbd=True)
        later = c + pd.Timedelta(days=h)
        end, _ = _compute(log, later, users=None, codes=present, bgnbd=None, horizon_days=h, with_bgnbd=False)
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


def train_lifecycle(
    events: pd.DataFrame | EventLog,
    *,
    out_dir: Path,
    horizon_days: int,
    cutoff: pd.Timestamp | None = None,
    config: LifecycleConfig = LifecycleConfig(),
    progress: bool = True,
) -> Path:
    """Train churn + stage models on events before ``cutoff`` (default: whole log); return the version dir."""
    config.validate()
    if horizon_days <= 0:
        raise InvalidArgument(f"horizon_days must be > 0, got {horizon_days}", field="horizon_days")
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
    ev = full.before(end.value / 1e9)
    del full
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
    last_g = int(group.max())
    # Time split on the latest cut-off; with a single cut-off, a seeded user split instead.
    valid = group == last_g if last_g > 0 else np.random.default_rng(config.seed).random(len(group)) < 0.2
    train = ~valid
    if y_churn[train].min() == y_churn[train].max():
        raise InvalidArgument(
            "all training users have the same churn label; use another horizon or cut-off",
            field="horizon_days",
        )
    Xn = np.ascontiguousarray(X.to_numpy(np.float32))
    names = list(FEATURE_NAMES)
    metrics: dict[str, object] = {}
    boosting = _boosting(config, len(group))
    logger.info("lifecycle boosting for %d rows: %s", len(group), boosting)

    def fit(objective: str, y: np.ndarray, rows: np.ndarray, vrows: np.ndarray | None, rounds: int) -> lgb.Booster:
        ds = lgb.Dataset(Xn[rows], label=y[rows], feature_name=names, free_raw_data=True)
        cbs: list[Callable[..., Any]] = []
        valid_sets = []
        if vrows is not None:
            valid_sets = [lgb.Dataset(Xn[vrows], label=y[vrows], reference=ds)]
            cbs.append(lgb.early_stopping(config.early_stopping_rounds, verbose=False))
        return lgb.train(
            _lgb_params(config, objective, int(rows.sum()), boosting),
            ds,
            num_boost_round=rounds,
            valid_sets=valid_sets,
            callbacks=cbs,
        )

    # churn
    churn_model = fit("binary", y_churn, train, valid, boosting.max_rounds)
    churn_iter = max(1, churn_model.best_iteration or boosting.max_rounds)
    clock.lap("churn_fit")
    raw_v = np.asarray(churn_model.predict(Xn[valid], num_iteration=churn_iter), dtype=np.float64)
    yv = y_churn[valid].astype(np.float64)
    # Cross-fitted calibration so the reported Brier is out-of-sample.
    fold = np.random.default_rng(config.seed + 1).random(len(raw_v)) < 0.5
    cal_v = np.empty_like(raw_v)
    for a in (fold, ~fold):
        if a.any() and (~a).any():
            cal_v[~a] = _apply_calibration(_fit_isotonic(raw_v[a], yv[a]), raw_v[~a])
        else:
            cal_v[:] = raw_v
    calibration = _fit_isotonic(raw_v, yv)
    metrics["churn"] = {
        "auc": _safe_auc(yv, raw_v),
        "pr_auc": float(average_precision_score(yv, raw_v)) if yv.sum() else math.nan,
        "brier": float(np.mean((cal_v - yv) ** 2)),
        "brier_uncalibrated": float(np.mean((raw_v - yv) ** 2)),
        "base_rate": float(yv.mean()),
        "n_valid": int(valid.sum()),
        "best_iteration": churn_iter,
        "auc_recency_baseline": _safe_auc(yv, np.nan_to_num(X["recency_days"].to_numpy()[valid], nan=1e9)),
        "auc_bgnbd_baseline": _safe_auc(yv, 1 - np.nan_to_num(X["bgnbd_p_alive"].to_numpy()[valid], nan=0.0)),
        "reliability": _reliability(cal_v, yv),
    }
    clock.lap("churn_calibration_metrics")
    # stage
    stage_y = y_stage - 1
    stage_model = fit("multiclass", stage_y, train, valid, boosting.max_rounds)
    clock.lap("stage_fit")
    stage_iter = max(1, stage_model.best_iteration or boosting.max_rounds)
    pred_v = np.argmax(stage_model.predict(Xn[valid], num_iteration=stage_iter), axis=1)
    labels = list(range(len(STAGE_ENUMS)))
    metrics["stage"] = {
        "macro_f1": float(f1_score(stage_y[valid], pred_v, labels=labels, average="macro", zero_division=0)),
        "macro_f1_rules_alone": float(
            f1_score(stage_y[valid], now_stage[valid] - 1, labels=labels, average="macro", zero_division=0)
        ),
        "accuracy": float(np.mean(pred_v == stage_y[valid])),
        "accuracy_rules_alone": float(np.mean(now_stage[valid] - 1 == stage_y[valid])),
        "best_iteration": stage_iter,
        "class_counts_valid": {s.name: int(np.sum(stage_y[valid] == s - 1)) for s in STAGE_ENUMS},
    }
    clock.lap("stage_metrics")
    if config.refit_full and last_g > 0:
        everything = np.ones(len(group), dtype=bool)
        churn_model = fit("binary", y_churn, everything, None, churn_iter)
        stage_model = fit("multiclass", stage_y, everything, None, stage_iter)
        churn_iter, stage_iter = churn_model.current_iteration(), stage_model.current_iteration()
    try:
        clock.lap("refit_full")
        bg = fit_window_bgnbd(ev, end)
    except InvalidArgument:
        bg = BGNBDParams(r=1.0, alpha=1.0, a=1.0, b=1.0)
    clock.lap("final_bgnbd")
    version = pd.Timestamp.now(tz="UTC").strftime("%Y%m%dT%H%M%SZ")
    out_dir = Path(out_dir)
    vdir = out_dir / version
    n = 0
    while vdir.exists():
        n += 1
        vdir = out_dir / f"{version}-{n}"
    vdir.mkdir(parents=True)
    churn_model.save_model(str(vdir / "churn.txt"), num_iteration=churn_iter)
    stage_model.save_model(str(vdir / "stage.txt"), num_iteration=stage_iter)
    (vdir / "calibration.json").write_text(json.dumps({"method": "isotonic", **calibration}))
    bg.save(vdir / "bgnbd.json")
    meta = {
        "name": MODEL_NAME,
        "format": MODEL_FORMAT,
        "version": vdir.name,
        "feature_names": names,
        "horizon_days": horizon_days,
        "training_window": {
            "start": first.isoformat(),
            "end": end.isoformat(),
            "cutoffs": [{"cutoff": c.isoformat(), "label_horizon_days": h} for c, h in cutoffs],
        },
        "n_samples": len(group),
        "boosting": asdict(boosting),
        "training_seconds": clock.laps,
        "metrics": metrics,
        "stages": {s.name: int(s) for s in STAGE_ENUMS},
        "config": asdict(config),
        "library_versions": {
            "lightgbm": lgb.__version__,
            "numpy": np.__version__,
            "pandas": pd.__version__,
            "scipy": scipy.__version__,
        },
    }
    write_metadata(vdir, meta, indent=2, default=str)  # last: it marks the version complete
    logger.info("lifecycle model written to %s (churn metrics on the time split: %s)", vdir, metrics["churn"])
    return vdir


def latest(models_root: Path) -> Path:
    """Newest version dir (by name) under ``models_root`` that has a metadata.json."""
    root = Path(models_root)
    versions = sorted(p for p in root.glob("*") if (p / "metadata.json").is_file()) if root.is_dir() else []
    if not versions:
        raise FailedPrecondition(f"{root}: no trained lifecycle model (run training first)")
    return versions[-1]


class LifecycleModel:
    """A loaded lifecycle artifact: features -> churn risk, stage probabilities, rule stage, reasons."""

    def __init__(
        self,
        path: Path,
        churn: lgb.Booster,
        stage: lgb.Booster,
        calibration: dict[str, list[float]],
        bgnbd: BGNBDParams,
        metadata: dict[str, object],
        rules: StageRules,
        top_k: int = 3,
        *,
        compiled: bool | None = None,
        cache_dir: Path | None = None,
        num_threads: int | None = None,
    ) -> None:
        self.path = path
        self.churn_booster = churn
        self.stage_booster = stage
        self.calibration = calibration
        self.bgnbd = bgnbd
        self.metadata = metadata
        self.rules = rules
        self.top_k = top_k
        self.horizon_days = float(metadata["horizon_days"])  # type: ignore[arg-type]
        cfg = metadata.get("config", {})
        cfg = cfg if isinstance(cfg, dict) else {}
        self.num_threads = int(cfg.get("num_threads", 1)) if num_threads is None else num_threads
        use_compiled = bool(cfg.get("compiled_scoring", True)) if compiled is None else compiled
        min_rows = int(cfg.get("compiled_min_rows", 200_000))
        self.churn_scorer, self.stage_scorer = (
            TreeScorer(
                b,
                Path(path) / fname,
                compiled=use_compiled,
                cache_dir=cache_dir,
                num_threads=self.num_threads,
                min_rows=min_rows,
            )
            for b, fname in ((churn, "churn.txt"), (stage, "stage.txt"))
        )

    @property
    def backend(self) -> str:
        """'lleaves' once both models run compiled, else 'lightgbm' (see :mod:`.compiled`)."""
        both = {self.churn_scorer.backend, self.stage_scorer.backend}
        return "lleaves" if both == {"lleaves"} else "lightgbm"

    def compile(self) -> bool:
        """Compile both models now (else on the first big batch); True when both run compiled."""
        return self.churn_scorer.compile() & self.stage_scorer.compile()

    @classmethod
    def load(
        cls,
        path: Path,
        *,
        compiled: bool | None = None,
        cache_dir: Path | None = None,
        num_threads: int | None = None,
    ) -> LifecycleModel:
        """Read an artifact; ``compiled``/``num_threads`` override the trained config's scoring settings."""
        path = Path(path)
        meta_path = path / "metadata.json"
        meta = read_metadata(path, "lifecycle")
        if meta.get("format") != MODEL_FORMAT or meta.get("name") != MODEL_NAME:
            raise FailedPrecondition(
                f"{meta_path}: format {meta.get('format')!r} / name {meta.get('name')!r}, "
                f"this code reads format {MODEL_FORMAT} {MODEL_NAME!r}"
            )
        if tuple(meta.get("feature_names", ())) != FEATURE_NAMES:
            raise FailedPrecondition(f"{meta_path}: feature names differ from this code's FEATURE_NAMES; retrain")
        verify(path, meta)  # before LightGBM parses a byte: a damaged model text can abort the process
        boosters = []
        for fname in ("churn.txt", "stage.txt"):
            fp = path / fname
            if not fp.is_file():
                raise FailedPrecondition(f"{fp}: missing model file")
            try:
                b = lgb.Booster(model_file=str(fp))
            except lgb.basic.LightGBMError as exc:
                raise FailedPrecondition(f"{fp}: unreadable LightGBM model ({exc})") from None
            if tuple(b.feature_name()) != FEATURE_NAMES:
                raise FailedPrecondition(f"{fp}: model features differ from FEATURE_NAMES; retrain")
            boosters.append(b)
        cal_path = path / "calibration.json"
        if not cal_path.is_file():
            raise FailedPrecondition(f"{cal_path}: missing calibration")
        cal = json.loads(cal_path.read_text())
        if len(cal.get("x", [])) != len(cal.get("y", [])):
            raise FailedPrecondition(f"{cal_path}: malformed calibration")
        bg = BGNBDParams.load(path / "bgnbd.json")
        cfg = meta.get("config", {})
        rules_d = cfg.get("rules", {}) if isinstance(cfg, dict) else {}
        try:
            rules = StageRules(**rules_d)
        except TypeError as exc:
            raise FailedPrecondition(f"{meta_path}: unknown stage rules ({exc})") from None
        return cls(
            path,
            boosters[0],
            boosters[1],
            cal,
            bg,
            meta,
            rules,
            int(cfg.get("reasons_top_k", 3)),
            compiled=compiled,
            cache_dir=cache_dir,
            num_threads=num_threads,
        )

    def features(
        self, events: pd.DataFrame | EventLog, now: pd.Timestamp, users: list[str] | None = None
    ) -> pd.DataFrame:
        """Features as of ``now`` with this model's BG/NBD parameters and horizon."""
        return compute_features(events, now, users=users, bgnbd=self.bgnbd, horizon_days=self.horizon_days)

    def _matrix(self, features: pd.DataFrame) -> np.ndarray:
        """C-contiguous float64 in FEATURE_NAMES order: what lleaves reads without a copy, and LightGBM
        turns float32 into float64 anyway (the values are float32 features, so nothing changes)."""
        missing = [c for c in FEATURE_NAMES if c not in features.columns]
        if missing:
            raise InvalidArgument(f"features frame lacks {len(missing)} columns, e.g. {missing[0]!r}", field=missing[0])
        sub = features.loc[:, list(FEATURE_NAMES)]
        if all(dt == np.float32 for dt in sub.dtypes):
            # One float32 block (the features frame's own dtype) cast into a preallocated C-order
            # float64 matrix: exact, and ~10x faster than pandas' per-column float64 conversion,
            # which was a third of batch scoring at 1M users.
            block = sub.to_numpy(np.float32)
            out = np.empty(block.shape, dtype=np.float64)
            out[...] = block
            return out
        return np.ascontiguousarray(sub.to_numpy(np.float64))

    def score_arrays(self, features: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Vectorized: (calibrated churn risk (n,), stage probabilities (n, 5) in Stage order, rule stage)."""
        X = self._matrix(features)
        if len(X) == 0:
            return np.zeros(0), np.zeros((0, len(STAGE_ENUMS))), np.zeros(0, dtype=np.int64)
        churn = _apply_calibration(self.calibration, self.churn_scorer.predict(X))
        probs = self.stage_scorer.predict(X)
        return churn, probs, rule_stages(features, self.rules)

    def score(self, features: pd.DataFrame) -> list[UserScore]:
        """Per-user scores with the top reasons (slower than score_arrays: computes contributions)."""
        churn, probs, rules = self.score_arrays(features)
        if len(churn) == 0:
            return []
        contrib = np.asarray(
            self.churn_booster.predict(self._matrix(features), pred_contrib=True, num_threads=self.num_threads)
        )[:, :-1]
        values = features.loc[:, list(FEATURE_NAMES)].to_numpy(np.float64)
        out = []
        for i, uid in enumerate(features.index):
            vals = dict(zip(FEATURE_NAMES, values[i].tolist(), strict=True))
            out.append(
                UserScore(
                    user_id=str(uid),
                    rule_stage=Stage(int(rules[i])),
                    predicted_stage=STAGE_ENUMS[int(np.argmax(probs[i]))],
                    stage_probs={s: float(probs[i, j]) for j, s in enumerate(STAGE_ENUMS)},
                    churn_risk=float(churn[i]),
                    reasons=top_reasons(contrib[i], FEATURE_NAMES, vals, self.top_k),
                )
            )
        return out


__all__ = [
    "LifecycleConfig",
    "LifecycleModel",
    "UserScore",
    "fit_bgnbd",
    "latest",
    "train_lifecycle",
    "training_cutoffs",
]
