"""Copy quality and speed: templates vs the local LLM (no cache) vs the LLM behind the cache.

Over N synthetic requests (varied stages, triggers, channels, locales, items, users) it reports, per
writer: the share of messages that passed the guardrails *as written by that writer*, distinct
messages per 100 users, and p50/p99 latency per message. Prints a markdown table.

    .venv/bin/python bench/bench_copy.py --n 200 [--llm-n 200] [--mode completion|chat] [--threads 1]

With ``--demo-dir DIR --per-locale N`` it draws N demo users per locale instead (each with a random
demo item titled in the user's locale, stage, trigger and channel) and adds a table per locale for
the LLM without cache: the share of messages whose own text the LLM wrote and passed (the rest fell
back to templates), the share in the user's language (title and body), and the share naming the
item in that language. ``--writer`` picks the hook writer (default) or the whole-message writer.
"""

from __future__ import annotations

import argparse
import logging
import random
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from recsvc.catalog_text import item_text
from recsvc.copy import CopyConfig, CopyRequest, Copywriter, LocalLLMServer, Message, OpenAILLM, hooks
from recsvc.copy.guardrails import Fields, check
from recsvc.vocabulary import CHANNELS, LOCALES, STAGES, TRIGGERS

ITEMS_EN = [
    ("Trail Running Shoes", 89.0),
    ("Ceramic Pour-Over Coffee Set", 35.5),
    ("Wool Beanie", 19.0),
    ("Wireless Noise Cancelling Over-Ear Headphones, Midnight Black", 249.0),
    ("Bamboo Cutting Board", 28.0),
    ("Linen Throw Pillow", 24.0),
    ("Stainless Steel Water Bottle 750ml", 22.0),
    ("Yoga Mat", 45.0),
]
ITEMS_ZH = [
    ("越野跑鞋", 499.0),
    ("手冲咖啡套装", 199.0),
    ("羊毛帽", 129.0),
    ("无线降噪头戴式耳机", 1299.0),
    ("竹制砧板", 89.0),
    ("亚麻抱枕", 99.0),
    ("不锈钢保温杯", 159.0),
    ("瑜伽垫", 149.0),
]
NAMES = {
    "en-US": ["Mia", "Leo", "Ava", "Noah", "Emma", "Liam", ""],
    "zh-CN": ["小林", "阿杰", "晓雨", "子涵", ""],
}
OFFERS = {"en-US": [None, "10% off", "15% off"], "zh-CN": [None, "9折", "立减20元"]}


def make_requests(n: int, n_variants: int, seed: int) -> list[CopyRequest]:
    """n user requests drawn from n_variants item x stage x trigger x channel x locale combinations."""
    rng = random.Random(seed)
    variants = []
    for _ in range(n_variants):
        loc = rng.choice(LOCALES)
        title, price = rng.choice(ITEMS_EN if loc == "en-US" else ITEMS_ZH)
        variants.append(
            dict(
                locale=loc,
                stage=rng.choice(STAGES),
                trigger=rng.choice(TRIGGERS),
                channel=rng.choice(CHANNELS),
                item_id=title[:12],
                item_title=title,
                price=price,
                currency="USD" if loc == "en-US" else "CNY",
                offer=rng.choice(OFFERS[loc]),
            )
        )
    out = []
    for i in range(n):
        v = rng.choice(variants)
        loc = str(v["locale"])
        out.append(
            CopyRequest(
                user_id=f"user{i}",
                first_name=rng.choice(NAMES[loc]),
                city=rng.choice(["Austin", "Boston", ""]) if loc == "en-US" else rng.choice(["上海", "杭州", ""]),
                image_url="https://cdn.example.com/img.jpg",
                **v,  # type: ignore[arg-type]
            )
        )
    return out


def demo_requests(demo_dir: Path, n: int, n_variants: int, seed: int) -> list[CopyRequest]:
    """n requests for real demo users (name, city, locale) over n_variants item x stage x trigger x
    channel combinations of real demo catalog items, titled in the user's locale."""
    import pandas as pd

    users = pd.read_csv(demo_dir / "users.csv", dtype=str).fillna("")
    items = pd.read_csv(demo_dir / "items.csv", dtype={"item_id": str}).fillna("")
    rng = random.Random(seed)
    pool = items.sample(n=min(8, len(items)), random_state=seed)
    by_locale = {loc: g for loc, g in users.groupby("locale")}
    variants = []
    for _ in range(n_variants):
        loc = rng.choice(sorted(by_locale))
        it = pool.iloc[rng.randrange(len(pool))]
        zh = loc.startswith("zh") and str(it.get("title_zh", ""))
        variants.append(
            dict(
                locale=loc,
                stage=rng.choice(STAGES),
                trigger=rng.choice(TRIGGERS),
                channel=rng.choice(CHANNELS),
                item_id=str(it["item_id"]),
                item_title=str(it["title_zh"]) if zh else str(it["title"]),
                price=float(it["price"]),
                currency=str(it.get("currency") or "CNY"),
                offer=rng.choice(OFFERS.get(loc, [None])),
                image_url=str(it.get("image_url", "")),
                video_url=str(it.get("video_url", "")),
            )
        )
    out = []
    for _ in range(n):
        v = rng.choice(variants)
        u = by_locale[str(v["locale"])].iloc[rng.randrange(len(by_locale[str(v["locale"])]))]
        out.append(
            CopyRequest(
                user_id=str(u["user_id"]),
                first_name=str(u.get("first_name", "")),
                city=str(u.get("city", "")),
                **v,  # type: ignore[arg-type]
            )
        )
    return out


def per_locale_requests(demo_dir: Path, per_locale: int, seed: int) -> list[CopyRequest]:
    """``per_locale`` demo users of each locale, each with a random demo item titled in that locale."""
    import pandas as pd

    users = pd.read_csv(demo_dir / "users.csv", dtype=str).fillna("")
    items = pd.read_csv(demo_dir / "items.csv", dtype={"item_id": str}).fillna("").to_dict("records")
    rng = random.Random(seed)
    out = []
    for loc in LOCALES:
        mine = users[users["locale"].str.startswith(loc[:2])]
        for u in mine.sample(n=min(per_locale, len(mine)), random_state=seed).to_dict("records"):
            it = rng.choice(items)
            out.append(
                CopyRequest(
                    user_id=str(u["user_id"]),
                    first_name=str(u.get("first_name", "")),
                    city=str(u.get("city", "")),
                    locale=loc,
                    stage=rng.choice(STAGES),
                    trigger=rng.choice(TRIGGERS),
                    channel=rng.choice(CHANNELS),
                    item_id=str(it["item_id"]),
                    item_title=item_text(it, loc).title,
                    # As the service does (facts.with_facts): the sense checks read the category and
                    # description ("好吃" is on topic for 蛋卷 only because the category says snacks).
                    item_category=str(it.get("category", "")),
                    item_description=item_text(it, loc).description,
                    price=float(it["price"]),
                    currency=str(it.get("currency") or "CNY"),
                    offer=rng.choice(OFFERS.get(loc, [None])),
                    image_url=str(it.get("image_url", "")),
                )
            )
    return out


def locale_rows(msgs: list[Message], reqs: list[CopyRequest], cfg: CopyConfig) -> list[dict[str, object]]:
    """Per locale: n, own-text pass rate (LLM wrote it and it passed), right language, item named."""
    rows = []
    for loc in LOCALES:
        pairs = [(m, r) for m, r in zip(msgs, reqs, strict=False) if r.lang == loc]
        if not pairs:
            continue
        n = len(pairs)
        own = sum(m.writer == "llm" for m, _ in pairs)
        # Right language: no guardrail language failure on the whole message, nor in its title alone.
        right = sum(
            check(Fields(m.title, m.body, m.cta), r, cfg) != "language" and not hooks.wrong_language(m.title, loc)
            for m, r in pairs
        )
        named = sum(hooks.names_item(f"{m.title} {m.body}", r) > 0 for m, r in pairs)
        rows.append({"locale": loc, "n": n, "own": own / n, "right_language": right / n, "named": named / n})
    return rows


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[int(q * (len(s) - 1))] if s else float("nan")


def summarize(name: str, msgs: list[Message], lat_ms: list[float]) -> dict[str, object]:
    n = len(msgs)
    own = sum(1 for m in msgs if m.writer == "llm") if name != "template" else n
    distinct = len({(m.title, m.body) for m in msgs})
    rules: dict[str, int] = {}
    for m in msgs:
        if m.guardrail_failed:
            rules[m.guardrail_failed] = rules.get(m.guardrail_failed, 0) + 1
    return {
        "writer": name,
        "n": n,
        "pass_share": own / n if n else float("nan"),
        "distinct_per_100": 100.0 * distinct / n if n else float("nan"),
        "p50_ms": pct(lat_ms, 0.5),
        "p99_ms": pct(lat_ms, 0.99),
        "mean_ms": statistics.fmean(lat_ms) if lat_ms else float("nan"),
        "rules": ", ".join(f"{k}:{v}" for k, v in sorted(rules.items(), key=lambda kv: -kv[1])) or "-",
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=200, help="requests (users)")
    ap.add_argument("--llm-n", type=int, default=200, help="requests sent to the LLM without cache")
    ap.add_argument("--variants", type=int, default=24, help="distinct item x stage x channel x locale combos")
    ap.add_argument("--mode", default="completion", choices=["completion", "chat"])
    ap.add_argument("--writer", default="hook", choices=["hook", "full"])
    ap.add_argument("--per-locale", type=int, default=0, help="with --demo-dir: N demo users per locale")
    ap.add_argument("--skip-cache", action="store_true", help="skip the LLM + cache row")
    ap.add_argument("--threads", type=int, default=0, help="llama.cpp threads (0 = cores - 1)")
    ap.add_argument("--base-url", default="", help="use this OpenAI-compatible endpoint instead of a local server")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--examples", type=int, default=10, help="messages printed per locale")
    ap.add_argument(
        "--demo-dir", default="", help="draw users and items from `recsvc demo-data` output (users.csv, items.csv)"
    )
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)

    cfg = CopyConfig(
        mode=args.mode, writer=args.writer, local_port=0, n_threads=args.threads, timeout_s=120.0
    ).validate()
    if args.demo_dir and args.per_locale:
        reqs = per_locale_requests(Path(args.demo_dir), args.per_locale, args.seed)
        args.n = args.llm_n = len(reqs)
    elif args.demo_dir:
        reqs = demo_requests(Path(args.demo_dir), args.n, args.variants, args.seed)
    else:
        reqs = make_requests(args.n, args.variants, args.seed)
    rows = []

    # 1) Templates only.
    with Copywriter(cfg) as w:
        lat, msgs = [], []
        for r in reqs:
            t0 = time.perf_counter()
            msgs.append(w.write(r))
            lat.append((time.perf_counter() - t0) * 1000)
    rows.append(summarize("template", msgs, lat))

    server = None if args.base_url else LocalLLMServer(cfg).start()
    base_url = args.base_url or (server.base_url if server else cfg.base_url)
    try:
        llm = OpenAILLM(cfg, base_url=base_url)
        # 2) LLM per message, no cache (per_user: name and city in the prompt).
        per_user = replace(cfg, per_user=True)
        with Copywriter(per_user, llm) as w:
            lat, msgs = [], []
            for i, r in enumerate(reqs[: args.llm_n]):
                t0 = time.perf_counter()
                msgs.append(w.write_now(r, timeout_s=cfg.timeout_s, use_cache=False))
                lat.append((time.perf_counter() - t0) * 1000)
                if (i + 1) % 20 == 0:
                    print(f"  llm no-cache: {i + 1}/{args.llm_n}", file=sys.stderr, flush=True)
            nocache_metrics = w.metrics()
        rows.append(summarize(f"llm ({args.writer}, {args.mode}, no cache)", msgs, lat))
        by_locale = locale_rows(msgs, reqs[: args.llm_n], cfg)
        nocache_msgs = list(zip(msgs, reqs[: args.llm_n], strict=False))
        if args.skip_cache:
            report(args, rows, by_locale, nocache_metrics, nocache_msgs, None)
            return

        # 3) LLM behind the cache: warm the distinct variants, then serve every user within the budget.
        with Copywriter(cfg, llm) as w:
            t0 = time.perf_counter()
            stats = w.warm(reqs, progress=True)
            warm_s = time.perf_counter() - t0
            lat, msgs = [], []
            for r in reqs:
                t1 = time.perf_counter()
                msgs.append(w.write(r))
                lat.append((time.perf_counter() - t1) * 1000)
        rows.append(summarize(f"llm ({args.mode}) + cache", msgs, lat))
    finally:
        if server is not None:
            server.stop()
    report(args, rows, by_locale, nocache_metrics, nocache_msgs, (stats, warm_s))


def report(
    args: argparse.Namespace,
    rows: list[dict[str, object]],
    by_locale: list[dict[str, object]],
    nocache_metrics: dict[str, float],
    nocache_msgs: list[tuple[Message, CopyRequest]],
    warm: tuple[dict[str, float], float] | None,
) -> None:
    """Print the writer table, the per-locale table and a few LLM examples per locale."""
    src = f"demo users and items from {args.demo_dir}" if args.demo_dir else "synthetic users"
    print(f"\n### Copy bench: {args.n} requests ({src}), {args.variants} variants, mode={args.mode}\n")
    print(
        "| writer | n | share passing guardrails (own text) | distinct msgs / 100 users "
        "| p50 ms | p99 ms | failed rules |"
    )
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['writer']} | {row['n']} | {row['pass_share']:.0%} | {row['distinct_per_100']:.0f} | "
            f"{row['p50_ms']:.1f} | {row['p99_ms']:.1f} | {row['rules']} |"
        )
    print("\n| locale | n | own-text pass rate (LLM wrote it) | right language | item named |")
    print("|---|---|---|---|---|")
    for loc in by_locale:
        print(f"| {loc['locale']} | {loc['n']} | {loc['own']:.0%} | {loc['right_language']:.0%} | {loc['named']:.0%} |")
    tok = nocache_metrics.get("completion_tokens", 0.0) / max(1.0, nocache_metrics.get("llm_calls", 1.0))
    if warm is not None:
        stats, warm_s = warm
        print(
            f"\nwarm: {stats['unique']:.0f} distinct variants written in {warm_s:.1f}s "
            f"({stats['written']:.0f} passed, {stats['guardrail_failed']:.0f} failed guardrails, "
            f"{stats['errors']:.0f} errors)"
        )
    print(
        f"\nLLM calls no-cache: {nocache_metrics.get('llm_calls', 0):.0f}, "
        f"mean completion tokens/call {tok:.1f}, "
        f"llm call p50 {nocache_metrics.get('llm_call_p50_ms', 0):.0f} ms"
    )
    if nocache_metrics.get("hook_extra_rounds"):
        print(
            f"second best-of-K rounds (all K of the first refused): {nocache_metrics['hook_extra_rounds']:.0f}, "
            f"of which won: {nocache_metrics.get('hook_extra_round_wins', 0):.0f}"
        )
    for lang in ("zh-CN", "en-US"):
        mine = [(m, r) for m, r in nocache_msgs if r.lang == lang]
        print(f"\nFirst messages of the no-cache run, {lang} (writer, failed rule, title | body):")
        for m, _ in mine[: args.examples]:
            print(f"- {m.writer} {m.guardrail_failed or ''} `{m.title}` | `{m.body}`")


if __name__ == "__main__":
    main()
