"""The copywriter: cached LLM copy behind guardrails, with templates whenever the LLM cannot answer in time.

Recommend may only wait ``copy_budget_ms`` for copy, while a CPU model needs seconds. So copy is
written once per item x stage x trigger x channel x locale x variant (personal slots filled in at the
end) and cached; a miss starts the LLM in the background, waits at most the budget, and otherwise
answers with a template so the *next* call gets LLM copy.

Two writers (``copy.writer``): ``hook`` (the default) has the model write one short line, best of
``hook_candidates``, and fills the message around it from the request's facts (:mod:`hooks`);
``full`` has it write title, body and call to action (:mod:`prompts`). Every message says which
wrote it: ``writer`` is ``llm`` or ``template``, and a template names the rule the LLM's text failed.

Why it is over 500 lines: both writers share one cache, one background-call path and one deadline
rule, and those are what this module holds; the writers' own rules live in :mod:`hooks` and
:mod:`prompts`.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, replace
from pathlib import Path

from tqdm import tqdm

from recsvc.copy import hook_prompts, hooks, prompts, templates
from recsvc.copy.cache import CacheEntry, CacheKey, CopyCache
from recsvc.copy.cache_tables import CacheBacking, SQLiteCacheBacking
from recsvc.copy.config import CopyConfig
from recsvc.copy.guardrails import Fields, check, opt_out_note
from recsvc.copy.llm import LLMClient, LLMResult, Prompt
from recsvc.copy.metrics import CopyMetrics
from recsvc.copy.numbers import format_price
from recsvc.copy.titles import CatalogTitles
from recsvc.copy.types import CopyRequest, Message
from recsvc.errors import Unavailable

logger = logging.getLogger(__name__)

# Stand-ins used when checking shared copy: a longish name and city, so real ones rarely overflow.
_NOMINAL = {"en-US": ("Alexandra", "San Francisco"), "zh-CN": ("欧阳晓雨", "上海")}
_SLOT_NAME = re.compile(r"\{\s*(?:first_?name|name|user_?name)\s*\}", re.IGNORECASE)
_SLOT_CITY = re.compile(r"\{\s*city\s*\}", re.IGNORECASE)


@dataclass(frozen=True)
class Generation:
    """Outcome of one LLM write (after retries): fields with slots, or the last failed rule."""

    fields: Fields | None
    rule: str
    model: str


def fill_slots(fields: Fields, first_name: str, city: str, lang: str) -> Fields:
    """Put the user's name and city into shared copy; without a name, drop the slot and its comma."""

    def one(text: str) -> str:
        if first_name.strip():
            text = _SLOT_NAME.sub(first_name.strip(), text)
        else:
            text = re.sub(r"[,，]?\s*" + _SLOT_NAME.pattern + r"\s*[,，]?\s*", " ", text, flags=re.IGNORECASE)
            text = re.sub(r"\s+([!！?？.。,，:：])", r"\1", text).strip()
            text = re.sub(r"^[!！?？.。,，:：]+\s*", "", text)
            if text and lang == "en-US":
                text = text[0].upper() + text[1:]
        if city.strip():
            text = _SLOT_CITY.sub(city.strip(), text)
        return " ".join(text.split()) if lang == "en-US" else text.strip()

    return Fields(one(fields.title), one(fields.body), one(fields.cta))


# Below this, a call to the LLM cannot come back in time: answer with the template at once.
_MIN_LLM_WAIT_S = 0.02


class Copywriter:
    """Writes one ``Message`` per request: cached LLM copy if it passed the guardrails, else a template."""

    def __init__(
        self,
        config: CopyConfig,
        llm: LLMClient | None = None,
        *,
        catalog_titles: Iterable[str] | CatalogTitles | None = None,
        cache_db: str | Path | CacheBacking | None = None,
    ) -> None:
        self._cfg = config.validate()
        self._llm = llm
        self._titles: CatalogTitles | None = None
        self.set_catalog_titles(catalog_titles)
        # Small models copy the few-shot examples' products; those are never a valid item to name.
        self._example_titles = CatalogTitles(
            [ex.item for exs in prompts.EXAMPLES.values() for ex in exs] + hook_prompts.example_items()
        )
        self._hook_mode = config.writer == "hook"
        # Hooks and whole messages are different texts: each has its own table in a shared cache file.
        table = "hook_cache" if self._hook_mode else "copy_cache"
        backing = SQLiteCacheBacking(cache_db) if isinstance(cache_db, str | Path) else cache_db
        self._cache = CopyCache(
            config.cache_size, config.negative_ttl_s, None if backing is None else backing.table(table)
        )
        self._pool = ThreadPoolExecutor(max_workers=config.max_concurrency, thread_name_prefix="copy-llm")
        self._llm_slots = threading.BoundedSemaphore(config.max_concurrency)
        self._pending: dict[CacheKey, Future[Generation]] = {}
        self._lock = threading.Lock()
        self._metrics = CopyMetrics(config.latency_reservoir)
        self._down_until = 0.0
        self._closed = False

    # ------------------------------------------------------------------ public API
    @property
    def config(self) -> CopyConfig:
        return self._cfg

    def set_catalog_titles(self, titles: Iterable[str] | CatalogTitles | None) -> None:
        """Known catalog titles: copy naming any other catalog item than the requested one is refused."""
        if titles is None or isinstance(titles, CatalogTitles):
            self._titles = titles
        else:
            self._titles = CatalogTitles(titles)

    def write(self, req: CopyRequest, *, budget_s: float | None = None) -> Message:
        """Copy for ``req`` within ``budget_s`` (default ``copy_budget_ms``): LLM if ready, else template."""
        t0 = time.perf_counter()
        req.validate()
        budget = self._cfg.copy_budget_ms / 1000.0 if budget_s is None else max(0.0, budget_s)
        self._metrics.inc("requests")
        key = self._key(req)
        entry = self._cache.get(key)
        if entry is not None:
            self._metrics.inc("cache_hits")
            return self._from_entry(req, entry, t0)
        self._metrics.inc("cache_misses")
        if self._llm is None:
            return self._template(req, t0)
        if time.monotonic() < self._down_until:
            return self._template(req, t0, reason="backoff")
        fut = self._schedule(req, key)
        if fut is None:
            return self._template(req, t0, reason="budget")
        remaining = budget - (time.perf_counter() - t0)
        try:
            gen = fut.result(timeout=max(0.0, remaining))
        except TimeoutError:
            return self._template(req, t0, reason="budget")
        except Exception as exc:  # _background logged the cause; the caller just gets a template
            logger.debug("copy LLM job for item %s gave no copy: %r", req.item_id, exc)
            return self._template(req, t0, reason="unavailable")
        return self._from_generation(req, gen, t0)

    def write_now(self, req: CopyRequest, timeout_s: float, *, use_cache: bool = True) -> Message:
        """Wait up to ``timeout_s`` for the LLM (GenerateMessage, tests); template if it fails."""
        t0 = time.perf_counter()
        req.validate()
        self._metrics.inc("requests")
        key = self._key(req)
        if use_cache:
            entry = self._cache.get(key)
            if entry is not None and entry.ok:
                self._metrics.inc("cache_hits")
                return self._from_entry(req, entry, t0)
        self._metrics.inc("cache_misses")
        if self._llm is None:
            return self._template(req, t0)
        if timeout_s < _MIN_LLM_WAIT_S:
            return self._template(req, t0, reason="deadline")
        # On the pool, so the caller's wait is bounded by ``timeout_s`` whatever the endpoint does.
        try:
            fut = self._pool.submit(self._generate, req, deadline=time.monotonic() + timeout_s)
        except RuntimeError:  # closing down
            return self._template(req, t0, reason="unavailable")
        try:
            gen = fut.result(timeout=timeout_s)
        except TimeoutError:
            self._metrics.inc("deadline_templates")
            return self._template(req, t0, reason="deadline")
        except Unavailable as exc:
            logger.warning("copy LLM unavailable: %s", exc)
            return self._template(req, t0, reason="unavailable")
        self._cache.put(key, CacheEntry(gen.fields, gen.model, gen.rule))
        return self._from_generation(req, gen, t0)

    def template(self, req: CopyRequest) -> Message:
        """Template copy only (no LLM, no cache): the instant floor, e.g. for dry runs."""
        req.validate()
        return self._template(req, time.perf_counter())

    def warm(self, requests: Iterable[CopyRequest], progress: bool = True) -> dict[str, float]:
        """Batch-write the cache for ``requests`` (one LLM write per distinct key), bounded concurrency."""
        t0 = time.perf_counter()
        todo: dict[CacheKey, CopyRequest] = {}
        n = 0
        cached = 0
        for req in requests:
            n += 1
            req.validate()
            key = self._key(req)
            if key in todo:
                continue
            if self._cache.get(key) is not None:
                cached += 1
                continue
            todo[key] = req
        stats = {"requests": float(n), "unique": float(len(todo) + cached), "already_cached": float(cached)}
        written = failed = errors = 0
        if self._llm is not None and todo:
            # Grouped by prompt prefix (locale, SMS or not) so the server reuses its KV cache.
            order = sorted(todo.items(), key=lambda kv: (kv[1].lang, kv[1].channel == "sms"))
            futs = [fut for key, req in order if (fut := self._schedule(req, key, block=True)) is not None]
            for fut in tqdm(as_completed(futs), total=len(futs), desc="copy warm", disable=not progress):
                try:
                    gen = fut.result()
                except Exception as exc:  # _background logged the cause; warm counts it
                    logger.debug("copy warm: a write gave no copy: %r", exc)
                    errors += 1
                    continue
                if gen.fields is not None:
                    written += 1
                else:
                    failed += 1
        stats.update(
            written=float(written),
            guardrail_failed=float(failed),
            errors=float(errors),
            seconds=time.perf_counter() - t0,
        )
        return stats

    def metrics(self) -> dict[str, float]:
        """Counters (requests, cache hits/misses, tokens, guardrail failures by rule), p50/p99 latency."""
        out = self._metrics.snapshot()
        out["cache_size"] = float(len(self._cache))
        with self._lock:
            out["pending"] = float(len(self._pending))
        return out

    def close(self, wait: bool = True) -> None:
        """Stop background work (queued jobs are cancelled; running LLM calls finish or time out)."""
        with self._lock:
            self._closed = True
        self._pool.shutdown(wait=wait, cancel_futures=True)
        self._cache.close()

    def __enter__(self) -> Copywriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ internals
    def _key(self, req: CopyRequest) -> CacheKey:
        """Everything the text depends on; per_user adds who it is for (hooks never depend on it)."""
        if self._hook_mode:
            return ("hook", *hooks.cache_key(req, self._cfg))
        base: tuple[str, ...] = (
            req.item_id or req.item_title,
            req.item_title,
            req.stage,
            req.trigger,
            req.channel,
            req.lang,
            req.variant,
            format_price(req.price, req.currency, req.lang),
            (req.offer or "").strip(),
            "city" if (req.trigger == "geo_enter" and req.city.strip()) else "",
            # The facts the copy may claim: one reader's cart copy must never reach another's.
            f"cart={int(req.in_cart)} was={req.price_dropped_from or ''} restock={int(req.back_in_stock)}",
            req.item_category,
        )
        if self._cfg.per_user:
            return (*base, req.user_id, req.first_name, req.city, req.reason)
        return base

    def _schedule(self, req: CopyRequest, key: CacheKey, *, block: bool = False) -> Future[Generation] | None:
        with self._lock:
            fut = self._pending.get(key)
            if fut is not None:
                return fut
            if self._closed or (not block and len(self._pending) >= self._cfg.max_pending):
                self._metrics.inc("background_dropped")
                return None
            fut = self._pool.submit(self._background, req, key)
            self._pending[key] = fut

        def done(_: Future[Generation]) -> None:
            with self._lock:
                self._pending.pop(key, None)

        fut.add_done_callback(done)
        return fut

    def _background(self, req: CopyRequest, key: CacheKey) -> Generation:
        try:
            gen = self._generate(req, deadline=time.monotonic() + self._cfg.timeout_s)
        except Unavailable as exc:
            logger.warning("copy LLM unavailable (templates for %.0fs): %s", self._cfg.failure_backoff_s, exc)
            raise
        except Exception:
            logger.exception("copy LLM job for item %s failed; templates answer for it", req.item_id)
            raise
        self._cache.put(key, CacheEntry(gen.fields, gen.model, gen.rule))
        return gen

    def _call(
        self,
        prompt: Prompt,
        *,
        deadline: float,
        max_tokens: int,
        stop: Sequence[str] | None,
        seed: int,
        grammar: str | None = None,
        json_object: bool = False,
    ) -> LLMResult:
        """One LLM call within a concurrency slot and the deadline, with its metrics."""
        assert self._llm is not None
        cfg = self._cfg
        remaining = deadline - time.monotonic()
        if remaining <= 0.05:
            raise Unavailable("copy LLM deadline passed before the call")
        if not self._llm_slots.acquire(timeout=remaining):
            raise Unavailable("copy LLM busy: no slot before the deadline")
        t0 = time.perf_counter()
        try:
            self._metrics.inc("llm_calls")
            res = self._llm.complete(
                prompt,
                max_tokens=max_tokens,
                timeout_s=max(0.05, deadline - time.monotonic()),
                stop=stop,
                temperature=cfg.temperature,
                seed=seed,
                grammar=grammar,
                json_object=json_object,
            )
        except Unavailable:
            self._metrics.inc("llm_errors")
            self._down_until = time.monotonic() + cfg.failure_backoff_s
            raise
        finally:
            self._llm_slots.release()
        self._metrics.observe("llm_call", (time.perf_counter() - t0) * 1000.0)
        self._metrics.inc("prompt_tokens", res.prompt_tokens)
        self._metrics.inc("completion_tokens", res.completion_tokens)
        return res

    def _shared_check_request(self, req: CopyRequest) -> tuple[CopyRequest, str, str]:
        """The request guardrails judge shared copy with (nominal name and city), and those stand-ins."""
        if self._cfg.per_user and not self._hook_mode:
            return req, req.first_name, req.city
        name, city = _NOMINAL[req.lang]
        return replace(req, first_name=name, city=city, reason=""), name, city

    def _guard(self, f: Fields, req: CopyRequest) -> str | None:
        """The guardrails, plus: never name a few-shot example's product."""
        rule = check(f, req, self._cfg, catalog_titles=self._titles)
        if not rule and self._example_titles.find_other(f.text, req.item_title):
            rule = "invented_item"
        return rule

    def _generate(self, req: CopyRequest, *, deadline: float) -> Generation:
        """Call the LLM, parse, check; one more try per ``max_retries`` on a guardrail failure."""
        assert self._llm is not None
        if self._hook_mode:
            return self._generate_hook(req, deadline=deadline)
        cfg = self._cfg
        shared = not cfg.per_user
        lang = req.lang
        check_req, name, city = self._shared_check_request(req)
        rule = ""
        for attempt in range(1 + cfg.max_retries):
            if attempt and deadline - time.monotonic() <= 0.05:
                break  # out of time for a retry: report the guardrail failure we have
            prompt: Prompt
            if cfg.mode == "chat":
                prompt = prompts.chat_messages(req, cfg, shared=shared)
            else:
                prompt = prompts.completion_prompt(req, cfg, shared=shared)
            res = self._call(
                prompt,
                deadline=deadline,
                max_tokens=cfg.max_tokens,
                stop=prompts.STOP if cfg.mode == "completion" else None,
                seed=templates.seed_for(req, per_user=not shared) + attempt,
            )
            parsed = prompts.parse_chat(res.text) if cfg.mode == "chat" else prompts.parse_completion(res.text)
            if parsed is None:
                rule = "parse"
            else:
                parsed = self._postprocess(parsed, req)
                filled = fill_slots(parsed, name, city, lang) if shared else parsed
                rule = self._guard(filled, check_req) or ""
            if not rule:
                return Generation(parsed, "", self._llm.model)
            self._metrics.inc(f"guardrail_failed_{rule}")
            logger.debug("LLM copy failed guardrail %s (attempt %d): %r", rule, attempt + 1, res.text[:200])
        return Generation(None, rule, self._llm.model)

    def _generate_hook(self, req: CopyRequest, *, deadline: float) -> Generation:
        """Best of ``hook_candidates``: K constrained calls with different seeds, judged by ``hooks``;
        up to ``hook_rounds`` rounds of K new seeds, a further round only when every candidate so far
        was refused."""
        assert self._llm is not None
        cfg = self._cfg
        bound = hooks.hook_bound(req, cfg)
        chat = cfg.mode == "chat"
        prompt: Prompt = hook_prompts.chat_messages(req, bound) if chat else hook_prompts.completion_prompt(req)
        # One character of slack past the bound: a hook that closes itself at the bound ended on its own,
        # one that reaches bound + 1 was cut by the grammar (refused as truncated).
        grammar = None if chat else hook_prompts.hook_grammar(hooks.grammar_chars(bound), req.lang)
        check_req, _, _ = self._shared_check_request(req)
        seed = templates.seed_for(req, per_user=False)
        judged: list[hooks.Judged] = []
        last_s = 0.0
        k_per_round = cfg.hook_candidates
        for k in range(k_per_round * cfg.hook_rounds):
            if k and k % k_per_round == 0 and hooks.best(judged) is not None:
                break  # a round had a passing hook: no further round
            # A call that would likely end after the deadline is not started: judge what we have.
            if judged and deadline - time.monotonic() <= 1.2 * last_s + 0.05:
                break
            t0 = time.monotonic()
            try:
                res = self._call(
                    prompt,
                    deadline=deadline,
                    max_tokens=hooks.max_tokens(hooks.grammar_chars(bound), req.lang),
                    stop=None if chat else ["\n"],
                    seed=seed + k,
                    grammar=grammar,
                    json_object=chat,
                )
            except Unavailable:
                if not judged:
                    raise
                break  # keep the candidates already written
            last_s = time.monotonic() - t0
            got = hooks.judge(
                hooks.parse_hook(res.text, res.finish_reason), check_req, cfg, lambda f: self._guard(f, check_req)
            )
            judged.append(got)
            if got.rule:
                self._metrics.inc(f"hook_refused_{got.rule}")
                logger.debug("hook refused (%s): %r", got.rule, res.text[:120])
        win = hooks.best(judged)
        if len(judged) > k_per_round:
            self._metrics.inc("hook_extra_rounds")
            self._metrics.inc("hook_extra_round_wins" if win else "hook_extra_round_misses")
        if win is None:
            rule = judged[-1].rule if judged else "empty"
            self._metrics.inc(f"guardrail_failed_{rule}")
            return Generation(None, rule, self._llm.model)
        return Generation(Fields(win.hook, "", ""), "", self._llm.model)

    def _postprocess(self, f: Fields, req: CopyRequest) -> Fields:
        """Tidy quoting and add the SMS opt-out note the model is not asked to write."""

        def clean(s: str) -> str:
            s = s.strip().strip("\"'“”「」").strip()
            return s.replace("###", "").strip()

        title, body, cta = clean(f.title), clean(f.body), clean(f.cta)
        if req.channel == "sms":
            note = opt_out_note(req.lang, self._cfg)
            if not body.endswith(note):
                body = f"{body}{'' if req.lang == 'zh-CN' else ' '}{note}"
        return Fields(title, body, cta)

    def _media(self, req: CopyRequest) -> tuple[str, str]:
        if req.channel == "sms":
            return "", ""
        if req.channel == "in_app":
            for url, kind in ((req.video_url, "video"), (req.image_url, "image"), (req.audio_url, "audio")):
                if url:
                    return url, kind
            return "", ""
        return (req.image_url, "image") if req.image_url else ("", "")

    def _message(self, req: CopyRequest, f: Fields, t0: float, **kw: object) -> Message:
        url, kind = self._media(req)
        latency = (time.perf_counter() - t0) * 1000.0
        writer = str(kw.get("writer", "template"))
        self._metrics.observe(f"write_{writer}", latency)
        self._metrics.inc(f"writer_{writer}")
        return Message(
            title=f.title,
            body=f.body,
            cta=f.cta,
            media_url=url,
            media_type=kind,
            locale=req.lang,
            writer=writer,
            variant=req.variant,
            guardrail_failed=str(kw.get("guardrail_failed", "")),
            latency_ms=latency,
            model=str(kw.get("model", "")),
            fallback_reason=str(kw.get("fallback_reason", "")),
            cached=bool(kw.get("cached", False)),
        )

    def _template(self, req: CopyRequest, t0: float, *, reason: str = "", rule: str = "") -> Message:
        f = templates.render(req, self._cfg)
        bad = check(f, req, self._cfg, catalog_titles=self._titles)
        if bad:
            # Templates only use facts; this means the facts themselves break a rule (e.g. a title naming
            # another catalog item). Still the safest text we have.
            logger.warning("template for item %s fails guardrail %s", req.item_id, bad)
        return self._message(req, f, t0, writer="template", guardrail_failed=rule, fallback_reason=reason)

    def _from_generation(self, req: CopyRequest, gen: Generation, t0: float, cached: bool = False) -> Message:
        if gen.fields is None:
            return self._template(req, t0, reason="guardrail", rule=gen.rule)
        shared = not self._cfg.per_user
        if self._hook_mode:
            f = hooks.compose(gen.fields.title, req, self._cfg)
        elif shared:
            f = fill_slots(gen.fields, req.first_name, req.city, req.lang)
        else:
            f = gen.fields
        rule = check(f, req, self._cfg, catalog_titles=self._titles)
        if rule:
            self._metrics.inc(f"guardrail_failed_{rule}")
            return self._template(req, t0, reason="guardrail", rule=rule)
        return self._message(req, f, t0, writer="llm", model=gen.model, cached=cached)

    def _from_entry(self, req: CopyRequest, entry: CacheEntry, t0: float) -> Message:
        return self._from_generation(req, Generation(entry.fields, entry.failed_rule, entry.model), t0, cached=True)
