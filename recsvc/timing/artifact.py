"""The send-time model on disk: ``metadata.json`` (with the checksums of every file), ``.npy``
arrays, user and segment lists as JSON, and the LightGBM model as text; no pickle.

Layout of a version directory: ``counts.npy`` (users x 168), ``user_segment.npy``,
``seg_week.npy``, ``pop_week.npy``, ``users.json``, ``segments.json``, the habit profile
``habit_hour.npy`` (users x 24) when fitted, the learned hour choice's ``hit_score.npy`` (users x 24)
when it serves, and when the learner serves, ``lgbm_hour.npy``
(users x 24) and ``lgbm.txt``. Format 3 added the habit profile; an older version is refused with
a message to retrain, since it would serve a different hour than the evaluation measured.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from recsvc.artifacts import library_versions, read_metadata, verify, write_metadata
from recsvc.errors import FailedPrecondition, InvalidArgument
from recsvc.timing.config import TimingConfig
from recsvc.timing.features import FEATURE_NAMES
from recsvc.timing.history import EventFrame
from recsvc.timing.hours import HOURS_PER_WEEK
from recsvc.timing.profile import Posterior

if TYPE_CHECKING:
    from recsvc.timing.sendtime import SendTimeModel

logger = logging.getLogger(__name__)

FORMAT = 3
KIND = "sendtime"


def training_metadata(
    fr: EventFrame, cut: pd.Timestamp, post: Posterior, n_segments: int, cfg: TimingConfig
) -> dict[str, Any]:
    """What a fit records about its data, priors, settings and libraries."""
    return {
        "format": FORMAT,
        "kind": KIND,
        "feature_names": list(FEATURE_NAMES),
        "training_window": {
            "start": pd.Timestamp(fr.secs.min(), unit="s", tz="UTC").isoformat(),
            "cutoff": cut.isoformat(),
        },
        "n_users": len(fr.user_ids),
        "n_events": len(fr.secs),
        "prior_strength": {"user": post.a_user, "segment": post.a_seg},
        "n_segments": n_segments,
        "config": {k: (list(map(list, v)) if k == "event_weights" else v) for k, v in cfg.__dict__.items()},
        "library_versions": library_versions("numpy", "pandas", "lightgbm", "scipy"),
    }


def _config_from_metadata(raw: Mapping[str, Any]) -> TimingConfig:
    """The saved settings (unknown keys ignored); defaults, with a warning, when they do not validate."""
    known = TimingConfig.__dataclass_fields__
    kwargs: dict[str, Any] = {k: v for k, v in raw.items() if k in known}
    if "event_weights" in kwargs:
        kwargs["event_weights"] = tuple((str(a), float(b)) for a, b in kwargs["event_weights"])
    try:
        return TimingConfig(**kwargs).validate()
    except (TypeError, InvalidArgument):
        logger.warning("saved send-time config unreadable; using defaults")
        return TimingConfig()


def save(model: SendTimeModel, directory: str | Path) -> Path:
    """Write the model's files into ``directory``, ``metadata.json`` last."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    np.save(d / "counts.npy", model.counts.astype(np.float32))
    np.save(d / "user_segment.npy", model.user_segment.astype(np.int32))
    np.save(d / "seg_week.npy", model.seg_week.astype(np.float32))
    np.save(d / "pop_week.npy", model.pop_week.astype(np.float32))
    (d / "users.json").write_text(json.dumps(model.user_ids), encoding="utf-8")
    (d / "segments.json").write_text(json.dumps(model.segments, ensure_ascii=False), encoding="utf-8")
    if model.lgbm_hour is not None:
        np.save(d / "lgbm_hour.npy", model.lgbm_hour.astype(np.float32))
    if model.habit_hour is not None:
        np.save(d / "habit_hour.npy", model.habit_hour.astype(np.float32))
    if model.hit_score is not None:
        np.save(d / "hit_score.npy", model.hit_score.astype(np.float32))
    if model.lgbm_model_text is not None:
        (d / "lgbm.txt").write_text(model.lgbm_model_text, encoding="utf-8")
    meta = dict(model.metadata)
    meta.update(
        {
            "format": FORMAT,
            "kind": KIND,
            "prior_strength": {"user": model.a_user, "segment": model.a_seg},
            "lgbm_hour": model.lgbm_hour is not None,
            "habit_hour": model.habit_hour is not None,
            "hit_score": model.hit_score is not None,
        }
    )
    write_metadata(d, meta, indent=2, ensure_ascii=False)  # last: checksums of every file above
    return d


def _checked_metadata(d: Path) -> dict[str, Any]:
    """The version's metadata once it names a send-time model of this format and feature set and
    every file matches its recorded size and checksum."""
    mpath = d / "metadata.json"
    meta = read_metadata(d, "send-time model")
    if meta.get("kind") == KIND and isinstance(meta.get("format"), int) and meta["format"] < FORMAT:
        raise FailedPrecondition(
            f"{mpath}: send-time model of format {meta['format']}, this code reads format {FORMAT} "
            "(it adds the habit profile): retrain it (`recsvc train`)"
        )
    if meta.get("kind") != KIND or meta.get("format") != FORMAT:
        raise FailedPrecondition(
            f"{mpath}: not a send-time model of format {FORMAT} "
            f"(kind={meta.get('kind')!r}, format={meta.get('format')!r})"
        )
    if meta.get("feature_names") != list(FEATURE_NAMES):
        raise FailedPrecondition(f"{mpath}: feature names differ from this code's")
    verify(d, meta)  # sizes and checksums before numpy reads the arrays
    return meta


def _array(d: Path, name: str) -> np.ndarray:
    p = d / name
    if not p.is_file():
        raise FailedPrecondition(f"{p}: send-time model file missing")
    return np.load(p, allow_pickle=False)


def load(cls: type[SendTimeModel], directory: str | Path, config: TimingConfig | None = None) -> SendTimeModel:
    """Load a saved model; a missing or mismatched artifact raises FailedPrecondition naming the path.

    ``config`` overrides the settings saved with the model.
    """
    d = Path(directory)
    meta = _checked_metadata(d)
    try:
        user_ids = json.loads((d / "users.json").read_text(encoding="utf-8"))
        segments = json.loads((d / "segments.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise FailedPrecondition(f"{d}: users.json/segments.json missing or unreadable ({exc})") from None
    counts, useg, seg_week, pop = (
        _array(d, "counts.npy"),
        _array(d, "user_segment.npy"),
        _array(d, "seg_week.npy"),
        _array(d, "pop_week.npy"),
    )
    lgbm_hour = _array(d, "lgbm_hour.npy") if meta.get("lgbm_hour") else None
    habit_hour = _array(d, "habit_hour.npy") if meta.get("habit_hour") else None
    hit_score = _array(d, "hit_score.npy") if meta.get("hit_score") else None
    if (
        counts.shape != (len(user_ids), HOURS_PER_WEEK)
        or useg.shape != (len(user_ids),)
        or seg_week.shape != (len(segments), HOURS_PER_WEEK)
        or pop.shape != (HOURS_PER_WEEK,)
        or (lgbm_hour is not None and lgbm_hour.shape != (len(user_ids), 24))
        or (habit_hour is not None and habit_hour.shape != (len(user_ids), 24))
        or (hit_score is not None and hit_score.shape != (len(user_ids), 24))
    ):
        raise FailedPrecondition(f"{d}: send-time arrays have inconsistent shapes")
    text = (d / "lgbm.txt").read_text(encoding="utf-8") if (d / "lgbm.txt").is_file() else None
    cfg = config or _config_from_metadata(meta.get("config", {}))
    ps = meta.get("prior_strength", {})
    return cls(
        list(map(str, user_ids)),
        counts,
        useg,
        list(map(str, segments)),
        seg_week,
        pop,
        float(ps.get("user", 1.0)),
        float(ps.get("segment", 1.0)),
        cfg,
        lgbm_hour,
        text,
        meta,
        habit_hour,
        hit_score,
    )
