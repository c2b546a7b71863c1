"""Per-user send-time propensity over the 168 hours of the week, in the user's local clock.

Why this shape: most users have a handful of sessions, so their own hour counts are noisy. We
count *session starts* (the moment a user shows up; in-session events count less), weight push
opens above app opens above any activity, fade old habits, and shrink each user toward their
segment (city, else time zone, else written UTC offset) and the segment toward the population
with Dirichlet-multinomial empirical Bayes (prior strengths maximise the marginal likelihood).
The posterior is smoothed over neighbouring hours (circularly, Sunday 23h next to Monday 0h) and
partly pooled across weekdays.

The hour of day of the next visit comes from the habit profile (:mod:`~recsvc.timing.dayprofile`):
the user's own activities by local hour, with recency weighting, shrinkage toward the population,
circular smoothing and the hour of the last session, tuned on pseudo cut-offs and kept only when
tuning beats the user's plain habit out of fold. Its day profile replaces the curve's.

A LightGBM ranker over user x hour features (trained on pseudo cut-offs stepped back from the
cut-off, label = local hour of the first event after each) replaces the shrunk curve's hour-of-day
profile only when it beats it on a time-split validation before the cut-off and the habit profile
is off; both validation scores and the decision are in ``metadata.json``.

Hours are "local": the user's IANA zone from the users table when known, else the offset the
timestamp was written in (``ts_offset_min``), else UTC.

This module holds the public model; its parts live beside it: :mod:`~recsvc.timing.localtime`
(users' clocks), :mod:`~recsvc.timing.history` (events -> per-user statistics),
:mod:`~recsvc.timing.profile` (the empirical-Bayes curve), :mod:`~recsvc.timing.learner` (the
next-visit learner, with :mod:`~recsvc.timing.features` and :mod:`~recsvc.timing.arrival`),
:mod:`~recsvc.timing.slots` (curves and send slots) and :mod:`~recsvc.timing.artifact` (files).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from recsvc.artifacts import new_version_dir
from recsvc.errors import FailedPrecondition, InvalidArgument
from recsvc.evaluation.activity import activity
from recsvc.timing import artifact
from recsvc.timing.clock import QuietHours
from recsvc.timing.config import TimingConfig
from recsvc.timing.dayprofile import HABIT_CURVE_SHARE, ProfileParams, fit_day_profile
from recsvc.timing.history import event_frame, user_state
from recsvc.timing.hitscorer import fit_hit_scorer
from recsvc.timing.hours import HOURS_PER_WEEK, day_profile, pick_hours
from recsvc.timing.learner import fit_next_visit
from recsvc.timing.localtime import as_zone, user_zone_map
from recsvc.timing.profile import posterior, segments, shrink
from recsvc.timing.slots import SlotChoice, choose_slot, hourly_slots, send_window

logger = logging.getLogger(__name__)

# Share of the shrunk curve's day profile in the served hour distribution beside the habit profile.
CURVE_SHARE = HABIT_CURVE_SHARE


def _events_before(events: pd.DataFrame, cutoff: datetime | pd.Timestamp) -> tuple[pd.DataFrame, pd.Timestamp]:
    """The events strictly before ``cutoff`` (timezone-aware) and the cut-off as a Timestamp."""
    cut = pd.Timestamp(cutoff)
    if cut.tzinfo is None:
        raise InvalidArgument("cutoff must be timezone-aware (UTC)", field="cutoff")
    ev = events[events["ts"] < cut]
    if ev.empty:
        raise FailedPrecondition(f"no events before the cut-off {cut.isoformat()} to fit a send-time model")
    return ev, cut


_ADJUST_CACHE_USERS = 500_000  # 24 floats each: about 180 MB at the bound, with the dict
_NO_ADJUST = np.ones(24)
_NO_ADJUST.setflags(write=False)  # shared by every user without a profile of their own


def _habit_pop_share(report: dict[str, Any]) -> tuple[float, np.ndarray]:
    """The population's share in the served hour distribution and its hour profile, as the habit
    profile's fit chose them (share 0 for a model fitted without that choice)."""
    uniform = np.full(24, 1.0 / 24)
    try:
        share = float(report.get("pop_share", 0.0))
        hours = np.asarray(report.get("pop_hours", uniform), dtype=np.float64)
    except (TypeError, ValueError):
        return 0.0, uniform
    usable = hours.shape == (24,) and bool(np.all(np.isfinite(hours))) and bool(np.all(hours >= 0))
    if not (0.0 < share <= 1.0) or not usable or hours.sum() <= 0:
        return 0.0, uniform
    return share, hours / hours.sum()


@dataclass
class SendTimeModel:
    """Fitted per-user hour-of-week propensities (+ optional LightGBM hour-of-day re-weighting)."""

    user_ids: list[str]
    counts: np.ndarray
    user_segment: np.ndarray
    segments: list[str]
    seg_week: np.ndarray
    pop_week: np.ndarray
    a_user: float
    a_seg: float
    config: TimingConfig
    lgbm_hour: np.ndarray | None = None  # (n_users, 24) LightGBM hour-of-day distribution
    lgbm_model_text: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    habit_hour: np.ndarray | None = None  # (n_users, 24) habit profile (recsvc.timing.dayprofile)
    hit_score: np.ndarray | None = None  # (n_users, 24) learned hour choice (recsvc.timing.hitscorer)

    def __post_init__(self) -> None:
        self._index = {u: i for i, u in enumerate(self.user_ids)}
        self._seg_index = {s: i for i, s in enumerate(self.segments)}
        prior = self.seg_week[self.user_segment] if len(self.user_ids) else np.zeros((0, HOURS_PER_WEEK))
        self._week, self._history = shrink(self.counts, prior, self.a_user, self.config)
        # A fitted model never changes, so each user's hour multiplier is computed once (it was a
        # quarter of a cached Recommend). Bounded: at the bound the cache starts again, so a batch,
        # which meets each user once, can keep it small (``adjust_cache_users``).
        self._adjust_cache: dict[str, np.ndarray] = {}
        self._shown_cache: dict[str, np.ndarray] = {}
        self.adjust_cache_users = _ADJUST_CACHE_USERS
        self._pop_share, self._pop_hours = _habit_pop_share(self.metadata.get("day_profile", {}))

    # ----------------------------------------------------------------------------- fitting
    @classmethod
    def fit(
        cls,
        events: pd.DataFrame,
        users: pd.DataFrame | None = None,
        *,
        cutoff: datetime | pd.Timestamp,
        config: TimingConfig | None = None,
        progress: bool = True,
    ) -> SendTimeModel:
        """Fit on events strictly before ``cutoff`` (later rows are ignored, never peeked at)."""
        cfg = (config or TimingConfig()).validate()
        ev, cut = _events_before(events, cutoff)
        cut_s = float(cut.timestamp())
        zones = user_zone_map(users)
        fr = event_frame(ev, zones, cfg)
        n = len(fr.user_ids)
        seg_names, seg_codes = segments(fr, users, zones)
        steps = tqdm(total=cfg.pseudo_cutoffs + 2, desc="sendtime", disable=not progress)
        st = user_state(fr, cut_s, cfg, n)
        post = posterior(st, seg_codes, len(seg_names), cfg)
        steps.update(1)
        meta = artifact.training_metadata(fr, cut, post, len(seg_names), cfg)
        lgbm_hour: np.ndarray | None = None
        model_text: str | None = None
        decision: dict[str, Any] = {"used": False, "reason": "disabled"}
        act = event_frame(activity(ev), zones, cfg, fr.user_ids, keep_zero=True)
        if cfg.use_lgbm:
            fa = event_frame(ev, zones, cfg, fr.user_ids, keep_zero=True)
            lgbm_hour, model_text, decision = fit_next_visit(
                fr, fa, act, st, post, seg_codes, len(seg_names), cut_s, cfg, steps
            )
        habit_hour: np.ndarray | None = None
        meta["day_profile"] = {"used": False, "reason": "disabled"}
        hit_score: np.ndarray | None = None
        if cfg.use_day_profile and len(act.secs):
            habit_hour, meta["day_profile"] = fit_day_profile(act, cut_s, cfg)
            if cfg.use_hit_scorer:
                tuned = ProfileParams(**meta["day_profile"].get("params", {}))
                hit_score, meta["hit_scorer"] = fit_hit_scorer(act, cut_s, tuned, cfg)
        steps.close()
        meta["lgbm"] = decision
        logger.info(
            "send-time model: %d users, %d segments, prior strengths user=%.3g segment=%.3g, lgbm=%s",
            n,
            len(seg_names),
            post.a_user,
            post.a_seg,
            decision.get("used"),
        )
        return cls(
            fr.user_ids,
            st.counts.astype(np.float32),
            seg_codes.astype(np.int32),
            seg_names,
            post.seg_week.astype(np.float32),
            post.pop_week.astype(np.float32),
            post.a_user,
            post.a_seg,
            cfg,
            lgbm_hour.astype(np.float32) if lgbm_hour is not None else None,
            model_text,
            meta,
            habit_hour.astype(np.float32) if habit_hour is not None else None,
            hit_score,
        )

    # ----------------------------------------------------------------------------- queries
    def week_curve(self, user_id: str, segment: str | None = None) -> np.ndarray:
        """The user's 168-hour local propensity (rows sum to 1); unknown users get segment or population."""
        i = self._index.get(str(user_id))
        if i is not None:
            return np.asarray(self._week[i], dtype=np.float64)
        if segment is not None:
            for key in (segment, "city:" + segment.strip().lower(), "tz:" + segment.strip()):
                j = self._seg_index.get(key)
                if j is not None:
                    return np.asarray(self.seg_week[j], dtype=np.float64)
        return np.asarray(self.pop_week, dtype=np.float64)

    def history_weight(self, user_id: str) -> float:
        """How much of the user's curve is their own history (0 for unknown users)."""
        i = self._index.get(str(user_id))
        return float(self._history[i]) if i is not None else 0.0

    def _hour_adjust(self, user_id: str) -> np.ndarray:
        """Per local hour multiplier that turns the curve's day profile into the habit profile's, else
        LightGBM's when it serves (1 if neither): what a send's hour is chosen by. Callers must not
        modify the array."""
        return self._cached_adjust(self._adjust_cache, str(user_id), calibrated=False)

    def _shown_adjust(self, user_id: str) -> np.ndarray:
        """The multiplier of the probabilities shown (send curve, confidence): the habit profile's with
        the population's share that its fit chose for calibration, never the learned choice's scores
        (each hour's chance of a hit, not a distribution of the hour)."""
        if self._pop_share <= 0 and self.hit_score is None:
            return self._hour_adjust(user_id)
        return self._cached_adjust(self._shown_cache, str(user_id), calibrated=True)

    def _cached_adjust(self, cache: dict[str, np.ndarray], uid: str, *, calibrated: bool) -> np.ndarray:
        hit = cache.get(uid)
        if hit is not None:
            return hit
        adjust = self._compute_hour_adjust(uid, calibrated=calibrated)
        if adjust is _NO_ADJUST:
            return adjust
        adjust.setflags(write=False)
        if len(cache) >= self.adjust_cache_users:
            cache.clear()
        cache[uid] = adjust
        return adjust

    def _compute_hour_adjust(self, user_id: str, *, calibrated: bool = False) -> np.ndarray:
        i = self._index.get(str(user_id))
        if i is None:
            return _NO_ADJUST
        if not calibrated and self.hit_score is not None and self.hit_score[i].sum() > 0:
            target = np.asarray(self.hit_score[i], dtype=np.float64) / float(self.hit_score[i].sum())
        elif self.habit_hour is not None and self.habit_hour[i].sum() > 0:
            target = self.hour_distribution([user_id], calibrated=calibrated)[0]
        elif (
            self.lgbm_hour is not None
            and self.lgbm_hour[i].sum() > 0
            and self.metadata.get("lgbm", {}).get("serving", True)
        ):
            target = np.asarray(self.lgbm_hour[i], dtype=np.float64)
        else:
            return _NO_ADJUST
        base = day_profile(self._week[i][None, :])[0]
        return target / np.clip(base, 1e-9, None)

    def hour_distribution(
        self,
        user_ids: Sequence[str],
        *,
        use_lgbm: bool = True,
        use_habit: bool = True,
        calibrated: bool = True,
    ) -> np.ndarray:
        """(n, 24) local hour-of-day distribution of each user's next visit: the habit profile mixed
        with the curve's day profile when fitted (a plain habit gives hours never seen probability 0,
        which a probability must not), else the curve's day profile (replaced by LightGBM's where it
        was chosen). ``calibrated`` adds the population's profile at the share the fit chose by
        log-loss; without it the distribution is the one a send's hour is chosen by."""
        out = np.tile(day_profile(np.asarray(self.pop_week, dtype=np.float64)[None, :]), (len(user_ids), 1))
        idx = np.array([self._index.get(str(u), -1) for u in user_ids], dtype=np.int64)
        known = idx >= 0
        if known.any() and self.habit_hour is not None and use_habit:
            habit = self.habit_hour[idx[known]].astype(np.float64)
            own = (1.0 - CURVE_SHARE) * habit + CURVE_SHARE * day_profile(self._week[idx[known]])
            share = self._pop_share if calibrated else 0.0
            out[known] = (1.0 - share) * own + share * self._pop_hours if share > 0 else own
        elif known.any():
            out[known] = day_profile(self._week[idx[known]])
            if self.lgbm_hour is not None and use_lgbm:
                lg = self.lgbm_hour[idx[known]].astype(np.float64)
                has = lg.sum(axis=1) > 0
                sub = out[known]
                sub[has] = lg[has] / lg[has].sum(axis=1, keepdims=True)
                out[known] = sub
        return out

    def predict_hours(self, user_ids: Sequence[str]) -> np.ndarray:
        """Best local hour of day per user: the learned choice's when it serves (the hour with the best
        chance of a hit), else the habit profile's (the hour with the most mass within one hour of
        it), so that the plain habit picks exactly the user's window mode."""
        if self.habit_hour is None:
            return pick_hours(self.hour_distribution(user_ids))
        idx = np.array([self._index.get(str(u), -1) for u in user_ids], dtype=np.int64)
        dist = self.hour_distribution(user_ids)
        known = idx >= 0
        dist[known] = self.habit_hour[idx[known]].astype(np.float64)
        hours = pick_hours(dist)
        if self.hit_score is not None and known.any():
            # the learned choice picks the hour itself: its scores are each hour's chance of a hit
            scores = self.hit_score[idx[known]]
            scored = scores.sum(axis=1) > 0
            sub = hours[known]
            sub[scored] = np.argmax(scores[scored], axis=1)
            hours[known] = sub
        return hours

    def curve(
        self,
        user_id: str,
        start_utc: datetime,
        hours: int = 48,
        tz: str | ZoneInfo = "UTC",
        segment: str | None = None,
    ) -> list[tuple[datetime, float]]:
        """Propensity of each local hour slot from ``start_utc`` on: ``(slot_start_utc, p)``, p sums to 1."""
        if start_utc.tzinfo is None:
            raise InvalidArgument("start_utc must be timezone-aware", field="start_utc")
        if hours < 1:
            raise InvalidArgument("hours must be >= 1", field="hours")
        zone = as_zone(tz)
        week, adj = self.week_curve(user_id, segment), self._shown_adjust(user_id)
        return hourly_slots(week, adj, start_utc, hours, zone).curve()

    def best_slot(
        self,
        user_id: str,
        *,
        now_utc: datetime,
        tz: str | ZoneInfo = "UTC",
        quiet: QuietHours | None = None,
        window_end_utc: datetime | None = None,
        deadline: datetime | None = None,
        window_start_utc: datetime | None = None,
        segment: str | None = None,
        on_all_quiet: str | None = None,
        hour_weights: np.ndarray | None = None,
    ) -> SlotChoice | None:
        """The best allowed send instant in ``[max(now, window_start), min(window_end, deadline)]``.

        ``hour_weights`` (24 values, one per local hour) scales the user's hour propensity, for hours
        the user said are a bad time (:mod:`recsvc.feedback.effects`).

        Candidates are the window start and every local top of the hour inside the window; quiet
        hours are never chosen. If the whole window is quiet: ``on_all_quiet="defer"`` (config
        default) returns the first allowed minute after it with ``deferred=True``; ``"suppress"``
        returns None so the caller drops the send. Never returns None for any other reason.
        """
        if now_utc.tzinfo is None:
            raise InvalidArgument("now_utc must be timezone-aware", field="now_utc")
        mode = on_all_quiet or self.config.on_all_quiet
        if mode not in ("defer", "suppress"):
            raise InvalidArgument(f"on_all_quiet must be 'defer' or 'suppress', got {mode!r}", field="on_all_quiet")
        zone = as_zone(tz)
        qh = quiet or QuietHours.parse(self.config.default_quiet_hours)
        start, end = send_window(now_utc, window_start_utc, (window_end_utc, deadline), self.config.curve_hours)
        weights = hour_weights if hour_weights is not None else 1.0
        choice, shown = self._hour_adjust(user_id), self._shown_adjust(user_id)
        return choose_slot(
            user_id,
            self.week_curve(user_id, segment),
            choice * weights,
            self.history_weight(user_id),
            start=start,
            end=end,
            zone=zone,
            quiet=qh,
            on_all_quiet=mode,
            shown_adj=None if shown is choice else shown * weights,
        )

    # ----------------------------------------------------------------------------- persistence
    def save(self, directory: str | Path) -> Path:
        """Write ``metadata.json`` + ``.npy`` arrays (+ LightGBM text); no pickle."""
        return artifact.save(self, directory)

    def save_version(self, models_root: str | Path) -> Path:
        """Save under ``models_root/<UTC timestamp>/`` (e.g. ``20261124T011500Z``) and return that path;
        the version name is recorded in ``metadata["version"]``."""
        target = new_version_dir(models_root)
        meta_version = dict(self.metadata)
        meta_version["version"] = target.name
        self.metadata = meta_version
        return self.save(target)

    @classmethod
    def load(cls, directory: str | Path, config: TimingConfig | None = None) -> SendTimeModel:
        """Load a saved model; a missing or mismatched artifact raises FailedPrecondition naming the path."""
        return artifact.load(cls, directory, config)
