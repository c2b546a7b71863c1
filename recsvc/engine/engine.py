"""The engine: one user in, ranked push candidates out. Domain code only (no protobuf).

Per request it combines what batch work prepared (lifecycle scores and engagement tiers for every
known user, refreshed for users with new events) with per-request work (retrieval and ranking,
channel, send time, caps, copy). Models are held in one :class:`ModelSet` that is replaced whole.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import threading
import time
import uuid
from collections import Counter, OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from recsvc.copy.llm import LLMClient, OpenAILLM
from recsvc.copy.supervisor import LLMStatus, status_metrics
from recsvc.copy.types import CopyRequest, Message
from recsvc.copy.writer import Copywriter
from recsvc.engine import scoring
from recsvc.engine.counters import Counters, Version
from recsvc.engine.models import ModelSet, VersionGate, check_artifacts, load_model_set, newer_versions_pending
from recsvc.engine.scoring import UserState, lifecycle_view
from recsvc.engine.types import (
    STAGES,
    CandidateView,
    ItemView,
    LifecycleView,
    MessageView,
    ProfileView,
    RecommendQuery,
    RecommendResult,
    Rejection,
    ReplyChunk,
    ReportResult,
    SendTimeView,
    SuppressionView,
    UserScoreView,
)
from recsvc.errors import FailedPrecondition, InvalidArgument, NotFound, ResourceExhausted
from recsvc.frequency.caps import DERIVING_EVENT_TYPES, CapLedger, Refusal, Reservation
from recsvc.frequency.channels import ChannelStats, channel_stats_from, choose_channel
from recsvc.frequency.tiers import EngagementTier
from recsvc.recs.embeddings import Encoder, SentenceTransformerEncoder
from recsvc.recs.model import Candidate, RecRequest
from recsvc.settings import Settings
from recsvc.store import Store
from recsvc.timing.clock import QuietHours, Trigger, deadline_for, resolve_timezone

logger = logging.getLogger(__name__)

# Recent events that recommendations and channel statistics read (lifecycle features read all of them).
_HISTORY_LIMIT = 300


Signature = tuple[int, float]  # (number of the user's events, time of the last one): see Store.history_signature


@dataclass(frozen=True)
class _Digest:
    """What a request needs from a user's recent events, kept until the history signature changes:
    reading and walking ~300 rows per call would be a third of ``Recommend``'s time."""

    sig: Signature
    pushes: tuple[tuple[str, float], ...]  # (item_id, ts) of push_delivered events
    channel_stats: dict[str, ChannelStats] | None


@dataclass(frozen=True)
class _CachedCandidates:
    sig: Signature
    models: ModelSet
    items_version: int
    at: float
    k: int
    cands: tuple[Candidate, ...]


class Engine:
    """Owns the store, the caps ledger, the copywriter and the current :class:`ModelSet`."""

    def __init__(self, settings: Settings, *, encoder: Encoder | None = None, llm: LLMClient | None = None) -> None:
        self.settings = settings
        self.store = Store(settings.paths.store)
        self.caps = CapLedger(settings.paths.store, settings.frequency)
        self._reconcile_derived_state()
        self._encoder = encoder
        self._encoder_lock = threading.Lock()
        # The LLM sits behind a small interface with timeouts; any OpenAI-compatible endpoint will do.
        self.llm: LLMClient = llm or OpenAILLM(settings.copy)
        self.copywriter = Copywriter(settings.copy, self.llm, cache_db=settings.paths.store)
        self._models: ModelSet | None = None
        self._gate = VersionGate()  # refused model versions, shared by every load of this engine
        self._swap_lock = threading.Lock()
        self._state_lock = threading.Lock()
        # Per-user state, each entry tagged with the history signature and the model set it was
        # computed from: any process notices new events (written by itself or another process) on the
        # next call, and an entry an old model set wrote during a swap is never served with the new one.
        self._scores: dict[str, LifecycleView] = {}
        self._tiers: dict[str, str] = {}
        self._sigs: dict[str, tuple[Signature, ModelSet]] = {}
        self._digests: OrderedDict[str, _Digest] = OrderedDict()
        self._digests_lock = threading.Lock()
        self._cold: tuple[ModelSet, LifecycleView] | None = None
        self._cands: OrderedDict[tuple[Any, ...], _CachedCandidates] = OrderedDict()
        self._cands_lock = threading.Lock()
        self._items_version = Version()
        # Items upserted through any process: this process indexes those stamped after _items_mark.
        self._items_mark = 0.0
        self._items_checked = 0.0
        self._items_own: dict[str, float] = {}  # item_id -> stamp of our own upserts (already indexed)
        self._items_sync_lock = threading.Lock()
        self._counters = Counters()
        # One bulk scoring job at a time, so ScoreUsers calls cannot take every worker and core.
        self._bulk = threading.BoundedSemaphore(1)

    # ---- models -----------------------------------------------------------------------------
    @staticmethod
    def check_artifacts(settings: Settings) -> None:
        check_artifacts(settings)

    @property
    def encoder(self) -> Encoder:
        enc = self._encoder
        if enc is None:
            with self._encoder_lock:  # loading the model twice would cost seconds and its memory twice
                if self._encoder is None:
                    self._encoder = SentenceTransformerEncoder(self.settings.recs.embedding_model or None)
                enc = self._encoder
        return enc

    @property
    def models(self) -> ModelSet:
        m = self._models
        if m is None:
            raise FailedPrecondition("models are not loaded yet (health is NOT_SERVING); retry shortly", field="models")
        return m

    def versions(self, models: ModelSet | None = None) -> dict[str, str]:
        """The versions of ``models`` (the request's snapshot), by default of the set serving now."""
        models = models or self._models
        out = dict(models.versions) if models else {}
        out["copy"] = self.settings.copy.model
        return out

    def load_models(self, paths: dict[str, Path] | None = None) -> None:
        """Load the newest good version of every model (or exactly ``paths``) and the per-user caches,
        then swap them in together."""
        mark = self.store.items_watermark()  # the catalog as of this load: the models' own items
        new = load_model_set(self.settings, self.encoder, paths, gate=self._gate)
        self._install(new, mark)

    def _install(self, new: ModelSet, mark: float) -> None:
        scores, tiers, sigs = self._batch_state(new)
        self.copywriter.set_catalog_titles(self.store.items_frame()["title"].tolist())
        with self._swap_lock:
            old = self._models
            self._models = new
            with self._state_lock:
                self._scores, self._tiers, self._sigs = scores, tiers, sigs
            with self._cands_lock:
                self._cands.clear()
            if old is None or new.recs is not old.recs:  # a kept recs model keeps the items it indexed
                self._items_mark, self._items_own = mark, {}
        logger.info("serving models %s for %d users", new.versions, len(scores))

    def reload_if_newer(self) -> bool:
        """Swap in the newest good versions if any are newer; refused versions leave the old ones serving."""
        current = self._models
        models_dir = Path(self.settings.paths.models_dir)
        if not newer_versions_pending(models_dir, self._gate, current):
            return False
        mark = self.store.items_watermark()
        try:
            new = load_model_set(self.settings, self.encoder, gate=self._gate, current=current)
            if current is not None and new.paths == current.paths:
                return False  # every newer version was refused
            self._install(new, mark)
        except Exception as exc:
            self._counters.inc("model_reload_failures")
            logger.error("model reload failed (%s); keeping %s", exc, current.versions if current else None)
            return False
        self._counters.inc("model_reloads")
        return True

    def _batch_state(
        self, models: ModelSet
    ) -> tuple[dict[str, LifecycleView], dict[str, str], dict[str, tuple[Signature, ModelSet]]]:
        """Score every known user once, so a request reads a cached score."""
        now = datetime.now(UTC)
        # Signatures first: an event that arrives while scoring makes its user's entry stale, not lost.
        sigs = self.store.history_signatures()
        scores: dict[str, LifecycleView] = {}
        tiers: dict[str, str] = {}
        for state in self._score_chunks(models, sorted(sigs), now):
            for uid, st in state.items():
                scores[uid], tiers[uid] = st.lifecycle, st.tier
        return scores, tiers, {u: (s, models) for u, s in sigs.items()}

    def _score_chunks(
        self, models: ModelSet, user_ids: Sequence[str], as_of: datetime
    ) -> Iterator[dict[str, UserState]]:
        """:func:`scoring.score_users` over chunks of ``engine.score_chunk_users`` users. Between chunks
        the thread sleeps for a moment, so per-user calls waiting for the GIL get it at once."""
        size = self.settings.engine.score_chunk_users
        for lo in range(0, len(user_ids), size):
            if lo:
                time.sleep(0)
            yield scoring.score_users(self.store, models, user_ids[lo : lo + size], as_of, self.settings.frequency)

    def _user_state(self, user_id: str, now: datetime, sig: Signature, models: ModelSet) -> tuple[LifecycleView, str]:
        """Cached score and tier; recomputed from all of the user's events when they changed."""
        if sig[0] == 0:  # a new user is not a dormant one: a welcome, within a low cap
            return self._cold_start_view(models), "low"
        with self._state_lock:
            cached = self._scores.get(user_id)
            tier = self._tiers.get(user_id)
            fresh = self._sigs.get(user_id)
        if cached is not None and tier is not None and fresh is not None and fresh[0] == sig and fresh[1] is models:
            return cached, tier
        state = scoring.score_users(self.store, models, [user_id], now, self.settings.frequency)[user_id]
        with self._state_lock:
            if self._models is models:  # after a swap the new set's entry is the one to keep
                self._scores[user_id] = state.lifecycle
                self._tiers[user_id] = state.tier
                self._sigs[user_id] = (sig, models)
        return state.lifecycle, state.tier

    def _history(self, user_id: str) -> list[tuple[str, str, float]]:
        """The user's recent ``(item_id, event_type, ts)`` with an item, oldest first (recs input)."""
        return [(i, et, ts) for i, et, ts, _ in self.store.history_rows(user_id, limit=_HISTORY_LIMIT) if i]

    def _digest(self, user_id: str) -> _Digest:
        """The user's :class:`_Digest`, recomputed from the rows only when their signature changed."""
        sig = self.store.history_signature(user_id)
        with self._digests_lock:
            hit = self._digests.get(user_id)
            if hit is not None and hit.sig == sig:
                self._digests.move_to_end(user_id)
                return hit
        if sig[0] == 0:
            d = _Digest(sig, (), None)
        else:
            rows = self.store.history_rows(user_id, limit=_HISTORY_LIMIT)
            d = _Digest(
                sig,
                tuple((str(i), ts) for i, et, ts, _ in rows if et == "push_delivered" and i),
                channel_stats_from((et, ch) for _, et, _, ch in rows),
            )
        with self._digests_lock:
            self._digests[user_id] = d
            self._digests.move_to_end(user_id)
            while len(self._digests) > self.settings.engine.candidate_cache_size:
                self._digests.popitem(last=False)
        return d

    def _candidates(self, req: RecRequest, sig: Signature, cart: tuple[str, ...], models: ModelSet) -> list[Candidate]:
        """Ranked candidates, cached per user and context until the user's history, the models or the
        catalog change, or ``engine.candidate_cache_s`` passes (popularity drifts)."""
        ttl = self.settings.engine.candidate_cache_s
        if ttl <= 0 or req.query_text:
            return models.recs.recommend(dataclasses.replace(req, history=self._history(req.user_id)))
        key = (req.user_id, req.city, req.trigger, req.stage, cart)
        now = time.monotonic()
        # Read before ranking: an upsert during the ranking leaves this entry stale, not the new items unseen.
        items_version = self._items_version.value
        with self._cands_lock:
            hit = self._cands.get(key)
        if (
            hit is not None
            and hit.sig == sig
            and hit.models is models
            and hit.items_version == items_version
            and now - hit.at < ttl
            and hit.k >= req.k
        ):
            self._counters.inc("candidate_cache_hits")
            return list(hit.cands[: req.k])
        k = max(req.k, self.settings.engine.default_candidates * 4)
        cands = models.recs.recommend(dataclasses.replace(req, k=k, history=self._history(req.user_id)))
        with self._cands_lock:
            self._cands[key] = _CachedCandidates(sig, models, items_version, now, k, tuple(cands))
            self._cands.move_to_end(key)
            while len(self._cands) > self.settings.engine.candidate_cache_size:
                self._cands.popitem(last=False)
        self._counters.inc("candidate_cache_misses")
        return cands[: req.k]

    def warm(self, stop: threading.Event | None = None) -> int:
        """Precompute every known user's scheduled candidates, so first requests are fast too
        (until ``stop`` is set: a server shutting down does not finish warming)."""
        users = list(self._scores)
        now = datetime.now(UTC)
        done = 0
        for uid in users:
            if stop is not None and stop.is_set():
                break
            try:
                self.recommend(
                    RecommendQuery(
                        user_id=uid, now=now, max_candidates=self.settings.engine.default_candidates, write_copy=False
                    )
                )
                done += 1
            except Exception:  # warming is best effort; a request recomputes what failed
                logger.debug("warming %s failed", uid, exc_info=True)
        return done

    def sample_user(self) -> str | None:
        """Some user with a cached score (warm-up calls want a real one), or None when there is none."""
        with self._state_lock:
            return next(iter(self._scores), None)

    def sample_item(self) -> str | None:
        """Some catalog item id, or None for an empty catalog."""
        return self.store.some_item_id()

    def warm_thread(self) -> None:
        """Open the calling thread's store connection (each thread has its own, opened on first use)."""
        self.store.history_signature("")

    def _cold_start_view(self, models: ModelSet) -> LifecycleView:
        """The score of a user with no history, computed once per model set."""
        cold = self._cold
        if cold is None or cold[0] is not models:
            empty = self.store.events_for_user("\x00no-such-user", limit=1)
            feats = models.lifecycle.features(empty, pd.Timestamp(datetime.now(UTC)), users=["new"])
            cold = (models, lifecycle_view(models.lifecycle.score(feats)[0], int(models.lifecycle.horizon_days)))
            self._cold = cold
        return cold[1]

    # ---- recommend --------------------------------------------------------------------------
    def recommend(self, q: RecommendQuery, *, deadline_s: float | None = None) -> RecommendResult:
        t0 = time.perf_counter()
        self.sync_items()
        models = self.models
        user = self.store.get_user(q.user_id) or {}
        digest = self._digest(q.user_id)
        sig = digest.sig
        new_user = sig[0] == 0
        lifecycle, tier = self._user_state(q.user_id, q.now, sig, models)
        city = q.city or str(user.get("city") or "")
        locale = q.locale or str(user.get("locale") or "") or "en-US"
        tz_name = str(user.get("timezone") or "")
        tz = resolve_timezone(tz_name or None, city or None)
        quiet = QuietHours.parse(
            str(user.get("quiet_hours") or "") or None, default=self.settings.timing.default_quiet_hours
        )
        trigger = Trigger.parse(q.trigger)
        since = (q.now - timedelta(days=self.settings.engine.recently_pushed_days)).timestamp()
        pushed = frozenset(i for i, ts in digest.pushes if ts >= since)
        rec_req = RecRequest(
            user_id=q.user_id,
            history=[],  # read from the store only when the candidates are not cached
            now=q.now,
            city=city,
            stage=STAGES.index(lifecycle.current_stage) + 1,
            trigger=q.trigger,
            query_text=q.query or None,
            k=q.max_candidates,
            recently_pushed=pushed,
        )
        cands = self._candidates(rec_req, sig, q.cart_item_ids, models)
        if q.cart_item_ids and trigger == Trigger.CART_IDLE:
            cands = self._cart_first(cands, q.cart_item_ids)
        unsub = self.caps.unsubscribed_channels(q.user_id)
        known = bool(user)
        choice = choose_channel(
            opt_in={
                "app_push": bool(user.get("push_opt_in", 1)),
                "sms": bool(user.get("sms_opt_in", 0)),
                "email": bool(user.get("email_opt_in", 0)),
                "in_app": True,
            },
            # Without device tokens, push and in-app reach anyone who has the app; SMS and email need a
            # known user record (where the phone and address live).
            reachable={"app_push": True, "in_app": True, "sms": known, "email": known},
            allowed=q.allowed_channels or None,
            unsubscribed=unsub,
            stats=digest.channel_stats,
            preferred="app_push",
            config=self.settings.frequency,
        )
        channel, channel_reason = choice.channel, choice.reason
        window_start, window_end = deadline_for(trigger, q.now, self.settings.timing)
        slot = models.sendtime.best_slot(
            q.user_id,
            now_utc=q.now,
            tz=tz,
            quiet=quiet,
            window_start_utc=window_start,
            window_end_utc=window_end,
            segment=city or None,
        )
        send_view = None
        if slot is not None:
            send_view = SendTimeView(
                send_at=slot.send_at_utc,
                confidence=float(slot.confidence),
                window_start=slot.window_start,
                window_end=slot.window_end,
                local_hour=int(slot.local_hour),
                timezone=tz.key,
            )
        tier_enum = EngagementTier[tier.upper()]
        suppression = self._suppression(q, channel, tier_enum, trigger, slot, cands, unsub)
        budget = self._copy_budget(deadline_s, t0)
        out: list[CandidateView] = []
        for rank, c in enumerate(cands[: q.max_candidates], start=1):
            dedupe = hashlib.sha1(
                f"{q.user_id}|{c.item_id}|{channel}|{q.campaign_id}|{q.now:%Y%m%d}".encode()
            ).hexdigest()[:20]
            item = self._item_view(c)
            msg = None
            if q.write_copy and channel:
                msg = self._message(q, user, lifecycle.current_stage, c, channel or "app_push", locale, city, budget)
            out.append(
                CandidateView(
                    item=item,
                    score=float(c.score),
                    source=c.source,
                    reason=c.reason,
                    channel=channel or "",
                    channel_reason=channel_reason,
                    message=msg,
                    send_time=send_view,
                    priority=rank,
                    expires_at=window_end
                    if window_end > q.now
                    else q.now + timedelta(hours=self.settings.engine.candidate_ttl_hours),
                    dedupe_key=dedupe,
                    rank=rank,
                )
            )
        # The preview above may say "cap reached" because this very send is already booked: reserve
        # anyway, since the ledger's atomic answer (booked, duplicate or refused) is the one that counts.
        cap_only = suppression is not None and suppression.reason == "frequency_cap" and slot is not None
        if q.reserve and out and channel and (suppression is None or cap_only):
            booked = self.caps.reserve(
                q.user_id, channel, tier_enum, q.now, dedupe_key=out[0].dedupe_key, key_moment=trigger.key_moment
            )
            suppression = self._booking_view(booked)
        self._record("recommend", t0)
        return RecommendResult(
            user_id=q.user_id,
            new_user=new_user,
            lifecycle=lifecycle,
            tier=tier,
            candidates=tuple(out),
            suppression=suppression,
            versions=self.versions(models),
            request_id=uuid.uuid4().hex[:16],
            send_curve=tuple((h, float(p)) for h, p in slot.curve[:48]) if slot is not None else (),
        )

    def _cart_first(self, cands: list[Candidate], cart: Sequence[str]) -> list[Candidate]:
        ids = {c.item_id for c in cands}
        front = [c for c in cands if c.item_id in cart]
        rest = [c for c in cands if c.item_id not in cart]
        for item_id in cart:
            if item_id in ids:
                continue
            row = self.store.get_item(item_id)
            if row:
                front.append(
                    Candidate(
                        item_id=item_id,
                        title=row["title"],
                        price=float(row["price"] or 0),
                        currency=row["currency"],
                        category=row["category"],
                        image_url=row["image_url"],
                        video_url=row["video_url"],
                        audio_url=row["audio_url"],
                        score=1.0,
                        source="cart",
                        reason="still in your cart",
                    )
                )
        return front + rest

    def _suppression(
        self,
        q: RecommendQuery,
        channel: str | None,
        tier: EngagementTier,
        trigger: Trigger,
        slot: Any,
        cands: Sequence[Candidate],
        unsub: set[str],
    ) -> SuppressionView | None:
        """Why nothing should be sent now, or None. Candidates stay in the answer for previews."""
        if not cands:
            return SuppressionView("no_candidates", "no item passed the business rules for this user")
        if channel is None:
            if unsub:
                return SuppressionView("opted_out", f"unsubscribed from {', '.join(sorted(unsub))}")
            return SuppressionView("no_channel", "no allowed channel is opted in and reachable")
        verdict = self.caps.check(q.user_id, channel, tier, q.now, key_moment=trigger.key_moment)
        if verdict is not None:
            return self._refusal_view(verdict)
        if slot is None:
            return SuppressionView("quiet_hours", "the whole send window falls in the user's quiet hours")
        return None

    @classmethod
    def _booking_view(cls, booked: Reservation | Refusal) -> SuppressionView | None:
        """None for a new reservation; otherwise why nothing new was booked."""
        if isinstance(booked, Refusal):
            return cls._refusal_view(booked)
        if booked.duplicate:
            return SuppressionView(
                "duplicate",
                f"dedupe key {booked.dedupe_key} was first reserved at {booked.at_utc:%Y-%m-%dT%H:%M:%SZ} "
                f"(that request's time, channel {booked.channel}); nothing new was booked",
            )
        return None

    @staticmethod
    def _refusal_view(r: Refusal) -> SuppressionView:
        reason = {"UNSUBSCRIBED": "opted_out", "DORMANT_KEY_MOMENTS_ONLY": "low_tier_not_key_moment"}.get(
            r.code, "frequency_cap"
        )
        return SuppressionView(reason, r.reason, r.retry_after_utc)

    def _copy_budget(self, deadline_s: float | None, t0: float) -> float:
        budget = self.settings.copy.copy_budget_ms / 1000.0
        if deadline_s is not None:
            spent = time.perf_counter() - t0
            budget = max(0.0, min(budget, deadline_s - spent - 0.05))
        return budget

    @staticmethod
    def _item_view(c: Candidate) -> ItemView:
        return ItemView(
            item_id=c.item_id,
            title=c.title,
            category=c.category,
            price=float(c.price or 0.0),
            currency=c.currency or "",
            image_url=c.image_url or "",
            video_url=c.video_url or "",
            audio_url=c.audio_url or "",
        )

    def _message(
        self,
        q: RecommendQuery,
        user: dict[str, Any],
        stage: str,
        c: Candidate,
        channel: str,
        locale: str,
        city: str,
        budget_s: float,
    ) -> MessageView:
        req = CopyRequest(
            user_id=q.user_id,
            first_name=str(user.get("first_name") or ""),
            locale=locale,
            stage=stage,
            trigger=q.trigger,
            channel=channel,
            item_id=c.item_id,
            item_title=c.title,
            price=float(c.price) if c.price and c.price == c.price else None,
            currency=c.currency or "",
            city=city,
            reason=c.reason,
            item_url=f"https://shop.example.com/item/{c.item_id}",
            image_url=c.image_url or "",
            video_url=c.video_url or "",
            audio_url=c.audio_url or "",
        )
        return self._message_view(self.copywriter.write(req, budget_s=budget_s))

    @staticmethod
    def _message_view(m: Message) -> MessageView:
        return MessageView(
            title=m.title,
            body=m.body,
            cta=m.cta,
            media_url=m.media_url,
            media_type=m.media_type,
            locale=m.locale,
            writer=m.writer,
            variant=m.variant,
            guardrail_failed=m.guardrail_failed,
            model=m.model,
        )

    # ---- other calls ------------------------------------------------------------------------
    def score_users(self, user_ids: Sequence[str], as_of: datetime) -> tuple[list[UserScoreView], dict[str, str]]:
        """Lifecycle scores and tiers as of ``as_of``, from all of each user's events before it.

        Bulk work: one job at a time (others wait up to ``engine.bulk_wait_s``), in chunks, so a big
        call neither takes every worker thread nor holds the GIL for long against per-user calls.
        """
        models = self.models
        if not self._bulk.acquire(timeout=self.settings.engine.bulk_wait_s):
            raise ResourceExhausted(
                f"another bulk scoring call has been running for over {self.settings.engine.bulk_wait_s:g}s; "
                "retry later",
                field="user_ids",
            )
        try:
            states: dict[str, UserState] = {}
            for chunk in self._score_chunks(models, list(dict.fromkeys(user_ids)), as_of):
                states.update(chunk)
        finally:
            self._bulk.release()
        out = [
            UserScoreView(user_id=u, lifecycle=states[u].lifecycle, tier=states[u].tier, known=states[u].known)
            for u in user_ids
        ]
        return out, self.versions(models)

    def report_events(
        self, rows: Sequence[tuple[dict[str, Any] | None, str, str]], event_ids: Sequence[str]
    ) -> ReportResult:
        """Store valid rows (durably), reject the others one by one, and apply feedback to caps.

        Unsubscribes and feedback that lowers caps are written in the transaction that stores the
        events: an acknowledged unsubscribe is never without its opt-out, even after ``kill -9``.
        """
        good = [r for r, _, _ in rows if r is not None]
        rejections = tuple(Rejection(i, event_ids[i], fld, why) for i, (r, fld, why) in enumerate(rows) if r is None)
        res, _ = self.store.add_events(good, derive=self.caps.derive_from_events)
        self._counters.inc("events_accepted", res.accepted)
        self._counters.inc("events_duplicate", res.duplicate)
        self._counters.inc("events_rejected", len(rejections))
        return ReportResult(accepted=res.accepted, duplicate=res.duplicate, rejections=rejections)

    def _reconcile_derived_state(self) -> None:
        """Rebuild opt-outs and feedback rows missing for stored events (older code wrote them in a
        second transaction, which a crash could skip); events already reconciled are not read again."""
        after = self.caps.derived_through()
        top = self.store.replay_events(
            self.caps.derive_from_events, after_seq=after, event_types=DERIVING_EVENT_TYPES
        )
        if top > after:
            self.caps.mark_derived(top)
            logger.info("derived caps state reconciled for events %d..%d", after + 1, top)

    def upsert_items(self, rows: list[dict[str, Any]]) -> tuple[int, int]:
        from recsvc.data.io import normalize_items

        df = normalize_items(pd.DataFrame(rows), "<UpsertItems>")
        extra = pd.DataFrame(rows).drop(columns=[c for c in df.columns if c in rows[0]], errors="ignore")
        _, stamp = self.store.upsert_items_stamped(pd.concat([df, extra.reset_index(drop=True)], axis=1))
        indexed = self.models.recs.upsert_items(df, now=datetime.now(UTC))
        with self._items_sync_lock:
            self._items_own.update(dict.fromkeys(df["item_id"].astype(str), stamp))
        self._items_version.bump()  # cached candidate lists predate these items
        return len(df), int(indexed)

    def sync_items(self, *, force: bool = False) -> int:
        """Index items that other server processes upserted since the last look; returns how many.

        Why: each process holds its own FAISS index, so an ``UpsertItems`` taken by one process must
        reach the others. They share the store, whose item stamps grow in commit order; a look costs
        one index lookup and happens at most every ``engine.item_sync_s``.
        """
        now = time.monotonic()
        if not force and now - self._items_checked < self.settings.engine.item_sync_s:
            return 0
        if not self._items_sync_lock.acquire(blocking=force):
            return 0  # another thread is syncing
        try:
            self._items_checked = now
            models = self._models
            if models is None or self.store.items_watermark() <= self._items_mark:
                return 0
            changed = self.store.items_changed_since(self._items_mark)
            mark = float(changed["updated_at"].max())
            own = self._items_own
            theirs = changed[
                [own.get(i) != t for i, t in zip(changed["item_id"], changed["updated_at"], strict=True)]
            ]
            n = 0
            if len(theirs):
                items = theirs.drop(columns=["attributes", "updated_at"])
                n = int(models.recs.upsert_items(items, now=datetime.now(UTC)))
                self._items_version.bump()
                logger.info("indexed %d items upserted by other processes", n)
            self._items_mark = mark
            self._items_own = {i: t for i, t in own.items() if t > mark}
            return n
        finally:
            self._items_sync_lock.release()

    def upsert_users(self, rows: list[dict[str, Any]]) -> int:
        for i, r in enumerate(rows):
            if r.get("timezone"):
                resolve_timezone(str(r["timezone"]), None, field=f"users[{i}].timezone")
            if r.get("quiet_hours"):
                QuietHours.parse(str(r["quiet_hours"]), field=f"users[{i}].quiet_hours")
        return self.store.upsert_users(pd.DataFrame(rows))

    def profile(self, user_id: str) -> ProfileView:
        models = self.models
        now = datetime.now(UTC)
        user = self.store.get_user(user_id)
        sig = self.store.history_signature(user_id)  # COUNT(*) and MAX(ts) of all the user's events
        lifecycle, tier = self._user_state(user_id, now, sig, models)
        rows = self.store.history_rows(user_id, limit=_HISTORY_LIMIT)
        recent = tuple(dict.fromkeys(i for i, _, _, _ in reversed(rows) if i))[:10]
        cats: Counter[str] = Counter()
        for item_id in recent:
            row = self.store.get_item(item_id)
            if row and row["category"]:
                cats[row["category"]] += 1
        return ProfileView(
            user=user or {"user_id": user_id},
            known=bool(user) or sig[0] > 0,
            lifecycle=lifecycle,
            tier=tier,
            event_count=sig[0],
            last_event_at=datetime.fromtimestamp(sig[1], UTC) if sig[0] else None,
            recent_item_ids=recent,
            top_categories=tuple(c for c, _ in cats.most_common(3)),
            sends_last_7d=len(self.caps.sends_for(user_id, now - timedelta(days=7))),
            unsubscribed=tuple(sorted(self.caps.unsubscribed_channels(user_id))),
            versions=self.versions(models),
        )

    def generate_message(
        self,
        user_id: str,
        item_id: str,
        channel: str,
        *,
        trigger: str,
        locale: str,
        offer: str,
        deadline_s: float | None,
    ) -> tuple[MessageView, str]:
        t0 = time.perf_counter()
        req = self._copy_request(user_id, item_id, channel, trigger=trigger, locale=locale, offer=offer)
        timeout = self.settings.copy.timeout_s
        if deadline_s is not None:
            # Keep a quarter of the caller's deadline (at least 20 ms) for the template and the answer.
            left = deadline_s - (time.perf_counter() - t0)
            timeout = min(timeout, left - max(0.02, 0.25 * deadline_s))
        msg = self.copywriter.write_now(req, timeout_s=max(0.0, timeout))
        return self._message_view(msg), req.stage

    def template_message(self, user_id: str, item_id: str, channel: str) -> MessageView:
        """GenerateMessage's fallback copy (template only, no LLM, no cache): used to warm that path."""
        req = self._copy_request(user_id, item_id, channel, trigger="scheduled", locale="", offer="")
        return self._message_view(self.copywriter.template(req))

    def _copy_request(
        self, user_id: str, item_id: str, channel: str, *, trigger: str, locale: str, offer: str
    ) -> CopyRequest:
        row = self.store.get_item(item_id)
        if row is None:
            raise NotFound(f"item_id {item_id!r} is not in the catalog", field="item_id")
        models = self.models
        user = self.store.get_user(user_id) or {}
        lifecycle, _ = self._user_state(user_id, datetime.now(UTC), self.store.history_signature(user_id), models)
        return CopyRequest(
            user_id=user_id,
            first_name=str(user.get("first_name") or ""),
            locale=locale or str(user.get("locale") or "") or "en-US",
            stage=lifecycle.current_stage,
            trigger=trigger,
            channel=channel,
            item_id=item_id,
            item_title=row["title"],
            price=row["price"],
            currency=row["currency"],
            offer=offer or None,
            city=str(user.get("city") or ""),
            reason="picked for you",
            item_url=f"https://shop.example.com/item/{item_id}",
            image_url=row["image_url"],
            video_url=row["video_url"],
            audio_url=row["audio_url"],
        )

    def assistant_reply(
        self, user_id: str, turns: Sequence[tuple[str, str]], *, max_items: int, locale: str
    ) -> Iterator[ReplyChunk]:
        from recsvc.copy.assistant import stream_reply

        self.sync_items()

        query = next((t for r, t in reversed(turns) if r == "user"), "")
        q = RecommendQuery(
            user_id=user_id,
            now=datetime.now(UTC),
            query=query,
            max_candidates=max_items,
            write_copy=False,
            locale=locale,
        )
        result = self.recommend(q)
        items = result.candidates
        yield ReplyChunk(items=items, writer="")
        user = self.store.get_user(user_id) or {}
        loc = locale or str(user.get("locale") or "") or "en-US"
        for piece in stream_reply(
            list(turns),
            [
                {
                    "item_id": c.item.item_id,
                    "title": c.item.title,
                    "price": c.item.price,
                    "currency": c.item.currency,
                    "reason": c.reason,
                }
                for c in items
            ],
            loc,
            self.llm,
            self.settings.copy,
            timeout_s=self.settings.copy.timeout_s,
        ):
            yield ReplyChunk(text=piece)
        yield ReplyChunk(done=True)

    def metrics(self) -> tuple[dict[str, float], dict[str, str]]:
        values = self._counters.values()
        lat = sorted(self._counters.latencies_ms())
        if lat:
            values["recommend_p50_ms"] = lat[len(lat) // 2]
            values["recommend_p99_ms"] = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
        values["model_versions_refused"] = float(self._gate.refusals)
        values.update({f"copy_{k}": float(v) for k, v in self.copywriter.metrics().items()})
        values.update(status_metrics(self.llm_status())[0])
        values["users_cached"] = float(len(self._scores))
        values["items"] = float(self.store.count("items"))
        values["events"] = float(self.store.count("events"))
        return values, self.versions()

    def llm_status(self) -> LLMStatus | None:
        """The local LLM server's state as its supervisor published it (None: no local server)."""
        path = self.settings.copy.local_status_file
        return LLMStatus.read(path) if path else None

    def status_details(self) -> dict[str, str]:
        """States in words for ``GetMetrics`` (the local LLM's state, its last exit)."""
        return status_metrics(self.llm_status())[1]

    def _record(self, name: str, t0: float) -> None:
        self._counters.inc(f"{name}_calls")
        self._counters.observe_ms((time.perf_counter() - t0) * 1000.0)

    def close(self) -> None:
        self.copywriter.close()
        self.store.close()
        self.caps.close()


__all__ = ["Engine", "InvalidArgument"]
