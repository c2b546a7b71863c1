"""The engine: one user in, ranked push candidates out. Domain code only (no protobuf).

Per request it combines what batch work prepared (lifecycle scores and engagement tiers for every
known user, refreshed for users with new events: :mod:`~recsvc.engine.user_state`) with per-request
work (retrieval and ranking, channel, send time, caps, copy: :mod:`~recsvc.engine.pipeline`). Models
are held in one :class:`ModelSet` that is replaced whole; the per-user caches, the catalog sync and
the metrics live in their own modules.

Why it is over 500 lines: it is the one object every RPC and batch command calls, and each method
here is the short orchestration of one call (the steps themselves live in the modules above), so
splitting it would only move the call list into more files.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from recsvc.catalog_text import all_titles
from recsvc.copy.assistant import stream_reply
from recsvc.copy.cache_tables import backing_for
from recsvc.copy.conversation import reply_language, retrieval_query
from recsvc.copy.facts import item_facts, with_facts
from recsvc.copy.llm import LLMClient, OpenAILLM
from recsvc.copy.supervisor import LLMStatus, status_metrics
from recsvc.copy.titles import CatalogTitles
from recsvc.copy.types import CopyRequest
from recsvc.copy.writer import Copywriter
from recsvc.engine import copy_requests, scoring
from recsvc.engine.candidates import CandidateCache, cart_first
from recsvc.engine.catalog import CatalogSync, item_names, names_of
from recsvc.engine.counters import Counters
from recsvc.engine.experiment_step import ExperimentStep, Treatment, held_out_view, segment_row
from recsvc.engine.feedback_step import user_feedback, with_survey
from recsvc.engine.history import HISTORY_LIMIT, Digest, DigestCache, HistoryRow, Signature
from recsvc.engine.localize import ItemRows, localized
from recsvc.engine.metrics import last_days, metric_values, record_call
from recsvc.engine.models import ModelSet, VersionGate, check_artifacts, load_model_set, newer_versions_pending
from recsvc.engine.pipeline import (
    Audience,
    arm_hour_weights,
    best_slot,
    candidate_views,
    copy_budget,
    expiry,
    may_book,
    pick_channel,
    rec_request,
    suppression,
)
from recsvc.engine.scoring import UserState
from recsvc.engine.sends import send_record
from recsvc.engine.types import (
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
from recsvc.engine.user_state import UserStates
from recsvc.engine.views import booking_view, catalog_item_view, message_view, send_time_view
from recsvc.errors import FailedPrecondition, InvalidArgument, NotFound, RecsvcError, ResourceExhausted
from recsvc.experiments.bandit_store import open_bandit_state
from recsvc.experiments.definitions import experiment_by_id
from recsvc.experiments.registry import ExperimentRegistry
from recsvc.feedback.effects import FeedbackEffects, down_weighted
from recsvc.frequency import open_ledger
from recsvc.frequency.caps import DERIVING_EVENT_TYPES, CapState
from recsvc.outcomes import (
    GLOBAL_EXPERIMENT,
    Attribution,
    OutcomeLog,
    OutcomeQuery,
    OutcomeRow,
    RetentionRow,
    SendRecord,
)
from recsvc.recs.embeddings import Encoder, SentenceTransformerEncoder
from recsvc.recs.serving import Candidate, RecRequest
from recsvc.settings import Settings
from recsvc.store import EventStore, event_id_for, open_store
from recsvc.timing.clock import QuietHours, Trigger, deadline_for, resolve_timezone
from recsvc.vocabulary import DEFAULT_LOCALE, EngagementTier

logger = logging.getLogger(__name__)


class Engine:
    """Owns the store, the caps ledger, the copywriter and the current :class:`ModelSet`."""

    # Build (with reasons) only the candidates a request shows. A server caches the ranked list for
    # requests that ask for more; a batch meets each user once and leaves this on.
    rank_shown_only = False

    def __init__(self, settings: Settings, *, encoder: Encoder | None = None, llm: LLMClient | None = None) -> None:
        self.settings = settings
        self.store: EventStore = open_store(settings.paths.store, settings.postgres)
        self.caps = open_ledger(self.store, settings.frequency)
        self.outcomes = OutcomeLog(self.store, settings.attribution)
        self._bandit_state = open_bandit_state(self.store)
        self.registry = ExperimentRegistry(
            self.store,
            lambda: self.settings.experiments,
            settings.engine.experiments_refresh_s,
            use_stored=settings.engine.api_experiments,
        )
        self.experiments = ExperimentStep(
            lambda: (self.registry.all(), self.settings.global_control),
            self._bandit_state,
            settings.bandit,
            seed=settings.bandit.seed,
        )
        self._reconcile_derived_state()
        self._encoder = encoder
        self._encoder_lock = threading.Lock()
        # The LLM sits behind a small interface with timeouts; any OpenAI-compatible endpoint will do.
        self.llm: LLMClient = llm or OpenAILLM(settings.copy)
        # Good copy is kept beside the store too, so every process and host serves what one of them wrote.
        self.copywriter = Copywriter(settings.copy, self.llm, cache_db=backing_for(self.store))
        self._models: ModelSet | None = None
        self._reply_titles: CatalogTitles | None = None  # set with the models (see _refresh_titles)
        self._gate = VersionGate()  # refused model versions, shared by every load of this engine
        self._swap_lock = threading.Lock()
        self._counters = Counters()
        # The caches read the engine's settings on every call, so a replaced ``settings`` applies to them too.
        self._states = UserStates(self.store, lambda: self.settings)
        self._digests = DigestCache(self.store, lambda: self.settings.engine)
        self._catalog = CatalogSync(self.store, lambda: self.settings.engine, lambda: self._models)
        self._item_rows = ItemRows(self.store, lambda: self._catalog.version.value)
        self._candidates = CandidateCache(
            self.store, lambda: self.settings.engine, self._catalog.version, self._counters
        )
        # One bulk scoring job at a time, so ScoreUsers calls cannot take every worker and core.
        self._bulk = threading.BoundedSemaphore(1)
        # Told the event types of each stored batch (the Prometheus counters), so the engine never
        # depends on a metrics library.
        self._event_listeners: list[Callable[[Mapping[str, int]], None]] = []

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
    def loaded(self) -> bool:
        """Whether a model set is serving."""
        return self._models is not None

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
        if self.settings.recs.compiled_ranker and new.recs.ranker.averaged:
            # An average of several boosters has several times the trees: LightGBM would spend ~10 ms
            # of a request on them, compiled trees less than on one booster. Compiled once per model
            # and machine, before the swap, so the models serving until now keep serving meanwhile.
            new.recs.ranker.compile()
        entries = self._states.score_all(new)
        self._refresh_titles()
        with self._swap_lock:
            old = self._models
            self._models = new
            self._states.install(new, entries)
            self._candidates.clear()
            if old is None or new.recs is not old.recs:  # a kept recs model keeps the items it indexed
                self._catalog.indexed_through(mark)
        logger.info("serving models %s for %d users", new.versions, len(entries))

    def _refresh_titles(self) -> None:
        """Tell the guards the catalog's titles, so copy naming an item it was not given is caught.
        Assistant replies are checked against every name of every item (localized titles, titles
        without their variant part: :func:`~recsvc.engine.catalog.item_names`)."""
        items = self.store.items_frame()
        rows = zip(items["title"], items["attributes"], strict=True)
        self.copywriter.set_catalog_titles(t for ti, at in rows for t in all_titles({"title": ti, "attributes": at}))
        self._reply_titles = CatalogTitles(item_names(items))

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

    # ---- warm-up ----------------------------------------------------------------------------
    def warm(self, stop: threading.Event | None = None) -> int:
        """Precompute every known user's scheduled candidates, so first requests are fast too
        (until ``stop`` is set: a server shutting down does not finish warming). Best effort: a
        request recomputes what failed."""
        now = datetime.now(UTC)
        done = failed = 0
        for uid in self._states.user_ids():
            if stop is not None and stop.is_set():
                break
            query = RecommendQuery(
                user_id=uid, now=now, max_candidates=self.settings.engine.default_candidates, write_copy=False
            )
            try:
                self.recommend(query)
                done += 1
            except RecsvcError as exc:  # the answer a request for this user gets too (a refused time zone, ...)
                logger.debug("warming %s skipped: %s", uid, exc)
            except Exception:
                failed += 1  # a bug or a broken dependency: requests for this user fail the same way
                log = logger.warning if failed == 1 else logger.debug
                log("warming %s failed", uid, exc_info=True)
        if failed > 1:
            logger.warning("warming failed for %d users (the first failure is logged above)", failed)
        return done

    def sample_user(self) -> str | None:
        """Some user with a cached score (warm-up calls want a real one), or None when there is none."""
        return self._states.sample()

    def sample_item(self) -> str | None:
        """Some catalog item id, or None for an empty catalog."""
        return self.store.some_item_id()

    def warm_thread(self) -> None:
        """Open the calling thread's store connection (each thread has its own, opened on first use)."""
        self.store.history_signature("")

    # ---- recommend --------------------------------------------------------------------------
    def recommend(self, q: RecommendQuery, *, deadline_s: float | None = None) -> RecommendResult:
        """Rank candidates for ``q.user_id``, pick the channel and send time, say whether caps or quiet
        hours suppress a send, write copy within the budget, and book the send when ``q.reserve``."""
        t0 = time.perf_counter()
        p = self._prepare(q)
        cands = [] if p.surveying else self._rerank(p, self._ranked(p))
        return self._answer(p, cands, deadline_s, t0)

    def recommend_many(
        self,
        queries: Sequence[RecommendQuery],
        keep: Callable[[dict[str, Any], LifecycleView, str], bool] | None = None,
    ) -> list[RecommendResult | None]:
        """``recommend`` of each query, in order, with every user's candidates ranked together (the
        answers are the same; a batch saves the per-call cost of ranking users one by one).
        ``keep(user record, lifecycle, tier)``: answer only the users it keeps (None for the others),
        decided from the reads the answer makes anyway."""
        preps = [self._prepare(q) for q in queries]
        kept = [p for p in preps if keep is None or keep(p.user, p.lifecycle, p.tier)]
        ranking = [p for p in kept if not p.surveying]
        if len({id(p.models) for p in ranking}) > 1:  # a model swap within the call: one by one
            ranked = [self._ranked(p) for p in ranking]
        else:
            asks = [
                (r, p.digest.sig, p.q.cart_item_ids, p.rows, s) for p in ranking for r, s in [self._rank_request(p)]
            ]
            ranked = self._candidates.ranked_many(asks, ranking[0].models) if ranking else []
        by_prep = {id(p): self._rerank(p, c) for p, c in zip(ranking, ranked, strict=True)}
        # each answer's time counted from its own start: the ranking's is shared by the whole call
        answers = {id(p): self._answer(p, by_prep.get(id(p), []), None, time.perf_counter()) for p in kept}
        return [answers.get(id(p)) for p in preps]

    def _ranked(self, p: _Prepared) -> list[Candidate]:
        req, shown_only = self._rank_request(p)
        return self._candidates.ranked(req, p.digest.sig, p.q.cart_item_ids, p.models, p.rows, shown_only=shown_only)

    def _prepare(self, q: RecommendQuery) -> _Prepared:
        """What ``Recommend`` knows of the user before ranking: reads, lifecycle, audience, arm, feedback."""
        self.sync_items()
        models = self.models  # one model set for the whole request, even if a swap happens meanwhile
        # The user, history signature, opt-outs and cap facts: one round trip on PostgreSQL.
        found, sig, caps_state = self._user_and_state(q)
        user = found or {}
        digest = self._digests.get(q.user_id, sig)
        rows = self._digests.last_rows(q.user_id, digest.sig)  # read for the digest just now, if at all
        lifecycle, tier = self._states.get(q.user_id, q.now, digest.sig, models)
        audience = Audience.of(q, user, self.settings.timing)
        treat = self.experiments.treatment(q.user_id, segment_row(lifecycle, tier, audience), q.now)
        effects, survey = user_feedback(self.store, self.caps, digest, q, audience, self.settings.feedback)
        return _Prepared(q, models, user, digest, rows, lifecycle, tier, audience, treat, effects, survey, caps_state)

    def _user_and_state(self, q: RecommendQuery) -> tuple[dict[str, Any] | None, Signature, CapState]:
        """The user's row, history signature and cap state at ``q.now`` (a batch engine may serve them
        from reads made for its whole chunk)."""
        return self.caps.user_and_state(self.store, q.user_id, q.now)

    def _answer(self, p: _Prepared, cands: list[Candidate], deadline_s: float | None, t0: float) -> RecommendResult:
        """The rest of ``Recommend`` once the candidates are ranked: channel, slot, caps, copy, booking."""
        q, models, user, digest, audience, effects = p.q, p.models, p.user, p.digest, p.audience, p.effects
        lifecycle, tier, treat, survey, stage = p.lifecycle, p.tier, p.treat, p.survey, p.lifecycle.current_stage
        caps_state = p.caps_state
        fb = self.settings.feedback
        unsub = caps_state.unsubscribed_channels()
        choice = pick_channel(q, user, unsub, digest.channel_stats, self.settings.frequency, only=treat.channel)
        window = deadline_for(audience.trigger, q.now, self.settings.timing)
        hours = arm_hour_weights(treat.send_hour, effects.hour_weights(fb.bad_time_penalty))
        slot = best_slot(models, q, audience, window, hours)
        treat = self.experiments.resolve(
            treat, stage=stage, trigger=q.trigger, channel=choice.channel or "", locale=audience.locale
        )
        tier_enum = EngagementTier[tier.upper()]
        suppressed = (
            held_out_view(treat)
            if treat.held_out
            else suppression(self.caps, q, choice.channel, tier_enum, audience.trigger, slot, cands, caps_state, survey)
        )
        budget = copy_budget(self.settings.copy, deadline_s, t0)
        shown = localized(cands[: q.max_candidates], audience.locale, self._item_rows)
        cart = digest.cart | frozenset(q.cart_item_ids)
        messages = self._messages(q, user, stage, audience, shown, choice.channel, budget, cart, treat)
        expires_at = expiry(q.now, window[1], self.settings.engine.candidate_ttl_hours)
        send_time = send_time_view(slot, audience.tz.key)
        views = candidate_views(q, shown, choice, send_time, expires_at, messages)
        views = with_survey(views, survey, q, audience, choice, send_time, expires_at)
        if q.reserve:
            self.outcomes.expose(treat.exposures(q.user_id, q.now))
        if q.reserve and views and choice.channel and may_book(suppressed, slot):
            record = send_record(
                q, views[0], stage=stage, tier=tier, locale=audience.locale, slot=slot,
                versions=self.versions(models), treatment=treat,
            )  # fmt: skip
            suppressed = self._book(q, tier_enum, audience.trigger, record)
            if suppressed is None:
                self.experiments.booked(
                    treat, stage=stage, trigger=q.trigger, channel=record.channel, locale=record.locale
                )
        record_call(self._counters, "recommend", t0)
        return RecommendResult(
            user_id=q.user_id,
            new_user=digest.sig[0] == 0,
            lifecycle=lifecycle,
            tier=tier,
            candidates=tuple(views),
            suppression=suppressed,
            versions=self.versions(models),
            request_id=uuid.uuid4().hex[:16],
            send_curve=tuple((h, float(p)) for h, p in slot.curve[:48]) if slot is not None else (),
            experiment_id=treat.experiment_id if treat.arm else "",
            arm=treat.arm,
        )

    def _rank_request(self, p: _Prepared) -> tuple[RecRequest, bool]:
        """The arguments of the candidate ranking: the recs request without items pushed lately, ranked
        deeper when the user rejected categories (so that candidates outside them can take the lead),
        and whether only the shown candidates are built. ``policy`` "popular" ranks by popularity."""
        q, effects = p.q, p.effects
        since = (q.now - timedelta(days=self.settings.engine.recently_pushed_days)).timestamp()
        req = rec_request(q, p.audience, p.lifecycle.current_stage, p.digest.pushed_since(since), p.treat.recs_policy)
        if effects.rejected_categories:
            req = dataclasses.replace(req, k=req.k * 4)
        # Re-ranking by feedback looks past the shown candidates (putting the cart first does not: the
        # ranking already leads with cart items, and those it left out come from the catalog).
        shown_only = self.rank_shown_only and not effects.rejected_categories
        return req, shown_only

    def _rerank(self, p: _Prepared, cands: list[Candidate]) -> list[Candidate]:
        """Ranked candidates with categories the user rejected down-weighted; for an idle cart, the
        cart's items first."""
        q, digest = p.q, p.digest
        cands = down_weighted(cands, p.effects, self.settings.feedback.not_relevant_penalty)
        # The cart the caller names, else the one the user's events leave (both when both are known).
        cart = (*q.cart_item_ids, *sorted(digest.cart - frozenset(q.cart_item_ids)))
        if cart and p.audience.trigger == Trigger.CART_IDLE:
            cands = cart_first(self.store, cands, cart)
        return cands

    def _messages(
        self,
        q: RecommendQuery,
        user: dict[str, Any],
        stage: str,
        audience: Audience,
        shown: Sequence[Candidate],
        channel: str | None,
        budget_s: float,
        cart: frozenset[str],
        treat: Treatment | None = None,
    ) -> list[MessageView | None]:
        """Each shown candidate's copy, each written within ``budget_s`` (a template answers after
        that) from the facts that hold for it; none when ``q.write_copy`` is off or no channel is open.
        An experiment's arm may set the copy's variant, or ask for the template."""
        if not (q.write_copy and channel):
            return [None] * len(shown)
        rows = self.store.items_by_id(c.item_id for c in shown)
        out: list[MessageView | None] = []
        for c in shown:
            url = self.settings.engine.item_url(c.item_id)
            req = copy_requests.for_candidate(q, user, audience, c, stage=stage, channel=channel, item_url=url)
            req = with_facts(req, item_facts(rows.get(c.item_id), audience.locale, cart, q.now.timestamp()))
            if treat is not None and treat.variant:
                req = dataclasses.replace(req, variant=treat.variant)
            if treat is not None and treat.writer == "template":
                out.append(message_view(self.copywriter.template(req)))
            else:
                out.append(message_view(self.copywriter.write(req, budget_s=budget_s)))
        return out

    def _book(
        self, q: RecommendQuery, tier: EngagementTier, trigger: Trigger, record: SendRecord
    ) -> SuppressionView | None:
        """Reserve the send in the caps ledger, recording it for attribution in the same transaction:
        None when booked, else why not (duplicate or refused)."""
        booked = self.caps.reserve(
            q.user_id,
            record.channel,
            tier,
            q.now,
            dedupe_key=record.dedupe_key,
            key_moment=trigger.key_moment,
            on_booked=self.outcomes.booking_hook(record),
        )
        return booking_view(booked)

    # ---- batch helpers ----------------------------------------------------------------------
    def user_state(self, user_id: str, now: datetime, sig: Signature | None = None) -> tuple[LifecycleView, str]:
        """The lifecycle score and tier that a ``Recommend`` for this user at ``now`` would use
        (``sig``: the user's history signature, when the caller has just read it)."""
        models = self.models
        digest = self._digests.get(user_id, sig)
        return self._states.get(user_id, now, digest.sig, models)

    def known_user_ids(self) -> list[str]:
        """Every user with at least one event, sorted (a stable order for batch chunks)."""
        return sorted(self.store.history_signatures())

    def best_send(self, user_id: str, now: datetime, trigger: str = "scheduled") -> SendTimeView | None:
        """The send slot a ``Recommend`` with ``trigger`` at ``now`` would pick (None: all quiet hours)."""
        q = RecommendQuery(user_id=user_id, now=now, trigger=trigger, write_copy=False)
        found, sig = self.store.user_and_signature(user_id)  # one round trip on PostgreSQL
        audience = Audience.of(q, found or {}, self.settings.timing)
        window = deadline_for(audience.trigger, now, self.settings.timing)
        fb = self.settings.feedback
        effects, _ = user_feedback(self.store, self.caps, self._digests.get(user_id, sig), q, audience, fb)
        hours = effects.hour_weights(fb.bad_time_penalty)
        return send_time_view(best_slot(self.models, q, audience, window, hours), audience.tz.key)

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
            ids = list(dict.fromkeys(user_ids))
            chunk_users = self.settings.engine.score_chunk_users
            for chunk in scoring.score_in_chunks(self.store, models, ids, as_of, self.settings.frequency, chunk_users):
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
        """Store valid rows (durably), reject the others one by one, apply feedback to caps and
        attribute the events to their sends (a row's ``dedupe_key`` names its send).

        Unsubscribes, feedback that lowers caps and attributions are written in the transaction that
        stores the events: an acknowledged unsubscribe is never without its opt-out, nor an
        acknowledged open without its send's open, even after ``kill -9``.
        """
        good = [{**r, "event_id": r.get("event_id") or event_id_for(r)} for r, _, _ in rows if r is not None]
        rejections = tuple(Rejection(i, event_ids[i], fld, why) for i, (r, fld, why) in enumerate(rows) if r is None)
        keys = {str(r["event_id"]): str(r["dedupe_key"]) for r in good if r.get("dedupe_key")}
        attributed: list[Attribution] = []
        derive = self.outcomes.deriving(self.caps.derive_from_events, keys, attributed)
        res, _ = self.store.add_events(good, derive=derive)
        self._learn_clicks(attributed)
        self._counters.inc("events_attributed", len(attributed))
        self._counters.inc("events_accepted", res.accepted)
        self._counters.inc("events_duplicate", res.duplicate)
        self._counters.inc("events_rejected", len(rejections))
        self._tell_event_listeners(good)
        return ReportResult(accepted=res.accepted, duplicate=res.duplicate, rejections=rejections)

    def on_events_received(self, listener: Callable[[Mapping[str, int]], None]) -> None:
        """Call ``listener`` with ``{event_type: count}`` of every batch of valid events stored from now on."""
        self._event_listeners.append(listener)

    def _tell_event_listeners(self, rows: Sequence[Mapping[str, Any]]) -> None:
        if not self._event_listeners:
            return
        by_type = Counter(str(r.get("event_type", "")) for r in rows)
        for listener in self._event_listeners:
            listener(by_type)

    def _learn_clicks(self, attributed: Sequence[Attribution]) -> None:
        """Credit first clicks to the bandits of experiments in mode "optimize"; a failure here costs
        the bandit one click, never the events already stored."""
        firsts = [a.dedupe_key for a in attributed if a.first_click]
        if not firsts or not any(e.mode == "optimize" for e in self.registry.all()):
            return
        try:
            sends = [row for row in (self.outcomes.send(k) for k in firsts) if row is not None]
            self._counters.inc("bandit_clicks_credited", self.experiments.learn(sends))
        except RecsvcError as exc:
            logger.warning("bandit: clicks not credited: %s", exc)

    def _reconcile_derived_state(self) -> None:
        """Derive the opt-outs and cap feedback of stored events not reconciled yet (a store may hold
        events whose derived rows were never written); events already reconciled are not read again."""
        after = self.caps.derived_through()
        top = self.store.replay_events(self.caps.derive_from_events, after_seq=after, event_types=DERIVING_EVENT_TYPES)
        if top > after:
            self.caps.mark_derived(top)
            logger.info("derived caps state reconciled for events %d..%d", after + 1, top)

    def upsert_items(self, rows: list[dict[str, Any]]) -> tuple[int, int]:
        """Store the items (every process sees them), then index them in this process's recs model:
        returns (stored, indexed)."""
        items, stamp = self._catalog.store_items(rows)
        return len(items), self._catalog.index_own(self.models, items, stamp)

    def sync_items(self, *, force: bool = False) -> int:
        """Index items that other server processes upserted since the last look (at most every
        ``engine.item_sync_s`` unless ``force``); returns how many. See :mod:`recsvc.engine.catalog`."""
        return self._catalog.sync(force=force)

    def upsert_users(self, rows: list[dict[str, Any]]) -> int:
        for i, r in enumerate(rows):
            if r.get("timezone"):
                resolve_timezone(str(r["timezone"]), None, field=f"users[{i}].timezone")
            if r.get("quiet_hours"):
                QuietHours.parse(str(r["quiet_hours"]), field=f"users[{i}].quiet_hours")
        return self.store.upsert_users(pd.DataFrame(rows))

    def profile(self, user_id: str, *, locale: str = "") -> ProfileView:
        """What is known about the user; recent items are shown in ``locale`` (else the user's)."""
        models = self.models
        now = datetime.now(UTC)
        user = self.store.get_user(user_id)
        sig = self.store.history_signature(user_id)  # COUNT(*) and MAX(ts) of all the user's events
        lifecycle, tier = self._states.get(user_id, now, sig, models)
        rows = self.store.history_rows(user_id, limit=HISTORY_LIMIT)
        recent = tuple(dict.fromkeys(i for i, _, _, _ in reversed(rows) if i))[:10]
        items = self.store.items_by_id(recent)
        cats = Counter(str(items[i]["category"]) for i in recent if i in items and items[i]["category"])
        loc = locale or str((user or {}).get("locale") or "") or DEFAULT_LOCALE
        return ProfileView(
            user=user or {"user_id": user_id},
            known=bool(user) or sig[0] > 0,
            lifecycle=lifecycle,
            tier=tier,
            event_count=sig[0],
            last_event_at=datetime.fromtimestamp(sig[1], UTC) if sig[0] else None,
            recent_item_ids=recent,
            recent_items=tuple(catalog_item_view(items[i], loc) for i in recent if i in items),
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
        return message_view(msg), req.stage

    def template_message(self, user_id: str, item_id: str, channel: str) -> MessageView:
        """GenerateMessage's fallback copy (template only, no LLM, no cache): used to warm that path."""
        req = self._copy_request(user_id, item_id, channel, trigger="scheduled", locale="", offer="")
        return message_view(self.copywriter.template(req))

    def _copy_request(
        self, user_id: str, item_id: str, channel: str, *, trigger: str, locale: str, offer: str
    ) -> CopyRequest:
        row = self.store.get_item(item_id)
        if row is None:
            raise NotFound(f"item_id {item_id!r} is not in the catalog", field="item_id")
        models = self.models
        found, sig = self.store.user_and_signature(user_id)
        user = found or {}
        now = datetime.now(UTC)
        digest = self._digests.get(user_id, sig)
        lifecycle, _ = self._states.get(user_id, now, digest.sig, models)
        req = copy_requests.for_catalog_item(
            user_id,
            user,
            item_id,
            row,
            stage=lifecycle.current_stage,
            trigger=trigger,
            channel=channel,
            locale=locale,
            offer=offer,
            item_url=self.settings.engine.item_url(item_id),
        )
        return with_facts(req, item_facts(row, req.locale, digest.cart, now.timestamp()))

    def assistant_reply(
        self, user_id: str, turns: Sequence[tuple[str, str]], *, max_items: int, locale: str
    ) -> Iterator[ReplyChunk]:
        """A grounded reply to the conversation: the items in the first chunk, then the text.

        The reply is in the language the user writes in (then ``locale``, then the profile's: see
        :func:`~recsvc.copy.conversation.reply_language`). The items are retrieved for what the user
        asks (:func:`~recsvc.copy.conversation.retrieval_query`, at most ``limits.max_query_len``
        characters, like ``Recommend``'s query); the user's history only ranks them.
        """
        self.sync_items()
        user = self.store.get_user(user_id) or {}
        lang = reply_language(turns, locale, str(user.get("locale") or ""))
        q = RecommendQuery(
            user_id=user_id,
            now=datetime.now(UTC),
            query=retrieval_query(turns, self.settings.limits.max_query_len),
            max_candidates=max_items,
            write_copy=False,
            locale=lang,
        )
        items = self.recommend(q).candidates
        yield ReplyChunk(items=items, writer="")
        facts = [self._reply_fact(c, lang) for c in items]
        for piece in stream_reply(
            list(turns),
            facts,
            lang,
            self.llm,
            self.settings.copy,
            catalog_titles=self._reply_titles,
            timeout_s=self.settings.copy.timeout_s,
        ):
            yield ReplyChunk(text=piece)
        yield ReplyChunk(done=True)

    def _reply_fact(self, c: CandidateView, lang: str) -> dict[str, Any]:
        """What a reply may say about one retrieved item (the only items it may name, by any of their
        catalog names: ``aliases``)."""
        row = self.store.get_item(c.item.item_id) or {}
        return {
            "item_id": c.item.item_id,
            "title": self._reply_title(c.item, row, lang),
            "aliases": names_of(row["title"], row.get("attributes")) if row else [],
            "price": c.item.price,
            "currency": c.item.currency,
            "reason": c.reason,
        }

    @staticmethod
    def _reply_title(item: ItemView, row: dict[str, Any], lang: str) -> str:
        """The title a reply in ``lang`` names ``item`` by (``row``: its catalog row); every reply title
        is taken here. An English reply uses the catalog's own (default) title, whatever the candidate
        carries."""
        if lang == DEFAULT_LOCALE and row.get("title"):
            return str(row["title"])
        return item.title

    # ---- metrics and status -----------------------------------------------------------------
    def outcome_rows(self, query: OutcomeQuery) -> list[OutcomeRow]:
        """What the sends booked in the query's range did, sliced as it asks; an experiment must be
        declared (a finished one stays declared, with its stop time, to be read)."""
        if query.experiment:
            experiment_by_id(self.registry.all(), query.experiment, field="experiment_id")
        return self.outcomes.outcomes(query)

    def outcome_retention(self, query: OutcomeQuery, now: datetime) -> list[RetentionRow]:
        """Retention of the users first exposed in the query's range: the global control split (when
        configured) and the arms of the query's experiment."""
        groups = [GLOBAL_EXPERIMENT] if self.settings.global_control.share > 0 else []
        groups += [query.experiment] if query.experiment else []
        cohort = (query.since, query.until)
        return [row for g in groups for row in self.outcomes.retention(g, now, cohort=cohort)]

    def metrics(self) -> tuple[dict[str, float], dict[str, str]]:
        values = metric_values(
            self._counters,
            versions_refused=self._gate.refusals,
            copy_metrics=self.copywriter.metrics(),
            llm_status=self.llm_status(),
            users_cached=len(self._states),
            store=self.store,
            outcomes_7d=self.outcomes.totals(*last_days(7)),
        )
        values.update(self.retention_metrics(datetime.now(UTC)))
        return values, self.versions()

    def retention_metrics(self, now: datetime) -> dict[str, float]:
        """Day-N retention of pushed against held-out users: the global control group's split
        (``retention.<arm>_d<N>``) and each holdout experiment's arms (``retention.<id>.<arm>_d<N>``),
        with the users each rate is over (``..._users``)."""
        groups = [GLOBAL_EXPERIMENT] if self.settings.global_control.share > 0 else []
        groups += [e.id for e in self.registry.all() if e.decision == "holdout"]
        out: dict[str, float] = {}
        for experiment in groups:
            prefix = f"retention.{experiment}." if experiment else "retention."
            for r in self.outcomes.retention(experiment, now):
                out[f"{prefix}{r.arm}_d{r.day}"] = r.rate
                out[f"{prefix}{r.arm}_d{r.day}_users"] = float(r.users)
        return out

    def llm_status(self) -> LLMStatus | None:
        """The local LLM server's state as its supervisor published it (None: no local server)."""
        path = self.settings.copy.local_status_file
        return LLMStatus.read(path) if path else None

    def status_details(self) -> dict[str, str]:
        """States in words for ``GetMetrics`` (the local LLM's state, its last exit)."""
        return status_metrics(self.llm_status())[1]

    def close(self) -> None:
        self.copywriter.close()
        self.outcomes.close()
        self._bandit_state.close()
        self.store.close()
        self.caps.close()


@dataclass(frozen=True)
class _Prepared:
    """One ``Recommend`` up to its ranking (see :meth:`Engine._prepare`)."""

    q: RecommendQuery
    models: ModelSet
    user: dict[str, Any]
    digest: Digest
    rows: list[HistoryRow] | None  # the history rows read for the digest, when this request read them
    lifecycle: LifecycleView
    tier: str
    audience: Audience
    treat: Treatment
    effects: FeedbackEffects
    survey: bool
    caps_state: CapState  # the user's opt-outs and cap facts, read with the user row

    @property
    def surveying(self) -> bool:
        return self.audience.trigger is Trigger.SURVEY


__all__ = ["Engine", "InvalidArgument"]
