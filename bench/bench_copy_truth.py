"""How often the embedded LLM's own copy is worth sending: pass rate per locale under the guardrails.

Draws ``--per-locale`` demo users per locale, each with one catalog item titled in the user's
language, a seeded stage, trigger and channel, and the facts that hold for that user and item
(their cart from their demo events: a cart_idle request takes an item of the cart when there is
one). Each request is written once by the LLM (per user, no cache) through the copywriter of the
``recsvc`` on ``PYTHONPATH``, so the same script measures any revision: run it with the code before
and after a change. Writes one JSON line per message to ``--out``.

``--judge FILE`` re-reads such a file and checks every message the LLM wrote itself with *this*
revision's sense rules (recsvc.copy.sense): how much of what an older revision sent was false or
not about the item.

    PYTHONPATH=. python bench/bench_copy_truth.py --demo-dir var/demo --per-locale 40 --out after.jsonl
    PYTHONPATH=. python bench/bench_copy_truth.py --judge before.jsonl
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import logging
import random
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from recsvc.copy import CopyConfig, CopyRequest, Copywriter, LocalLLMServer, OpenAILLM
from recsvc.vocabulary import CHANNELS, STAGES, TRIGGERS

LOCALES = ("en-US", "zh-CN")


def cart_of(events: Any, user_id: str) -> list[str]:
    """Items in the user's cart after their demo events (added, neither bought nor removed since)."""
    cart: dict[str, None] = {}
    rows = events[events["user_id"] == user_id].sort_values("ts")
    for item, et in zip(rows["item_id"], rows["event_type"], strict=True):
        if not item:
            continue
        if et == "add_to_cart":
            cart[str(item)] = None
        elif et in ("purchase", "remove_from_cart"):
            cart.pop(str(item), None)
    return list(cart)


def requests(demo_dir: Path, per_locale: int, seed: int) -> list[CopyRequest]:
    import pandas as pd

    users = pd.read_csv(demo_dir / "users.csv", dtype=str).fillna("")
    items = pd.read_csv(demo_dir / "items.csv", dtype={"item_id": str}).fillna("").set_index("item_id")
    events = pd.read_csv(demo_dir / "events.csv.gz", dtype={"item_id": str, "user_id": str}).fillna("")
    events = events[events["event_type"].isin(["add_to_cart", "purchase", "remove_from_cart"])]
    rng = random.Random(seed)
    has_facts = "in_cart" in {f.name for f in dataclasses.fields(CopyRequest)}
    out = []
    for loc in LOCALES:
        pool = users[users["locale"] == loc]
        for _, u in pool.sample(n=min(per_locale, len(pool)), random_state=seed).iterrows():
            trigger = rng.choice(TRIGGERS)
            cart = cart_of(events, str(u["user_id"]))
            item_id = rng.choice(cart) if trigger == "cart_idle" and cart else str(rng.choice(list(items.index)))
            it = items.loc[item_id]
            zh = loc == "zh-CN" and str(it.get("title_zh", ""))
            facts: dict[str, Any] = {}
            if has_facts:
                facts = dict(
                    in_cart=item_id in cart,
                    item_category=str(it.get("category", "")),
                    item_description=str(it.get("description_zh") if zh else it.get("description", "")),
                )
            out.append(
                CopyRequest(
                    user_id=str(u["user_id"]),
                    first_name=str(u.get("first_name", "")),
                    city=str(u.get("city", "")),
                    locale=loc,
                    stage=rng.choice(STAGES),
                    trigger=trigger,
                    channel=rng.choice(CHANNELS),
                    item_id=item_id,
                    item_title=str(it["title_zh"]) if zh else str(it["title"]),
                    price=float(it["price"]) if str(it["price"]) else None,
                    currency=str(it.get("currency") or "CNY"),
                    **facts,
                )
            )
    return out


def write(reqs: list[CopyRequest], out: Path, threads: int) -> None:
    cfg = dataclasses.replace(
        CopyConfig(mode="completion", local_port=0, n_threads=threads, timeout_s=120.0).validate(), per_user=True
    )
    server = LocalLLMServer(cfg).start()
    try:
        llm = OpenAILLM(cfg, base_url=server.base_url)
        with Copywriter(cfg, llm) as w, out.open("w", encoding="utf-8") as f:
            for i, r in enumerate(reqs):
                t0 = time.perf_counter()
                m = w.write_now(r, timeout_s=cfg.timeout_s, use_cache=False)
                row = {
                    "request": {k: v for k, v in dataclasses.asdict(r).items() if v not in ("", None)},
                    "writer": m.writer,
                    "rule": m.guardrail_failed,
                    "title": m.title,
                    "body": m.body,
                    "ms": (time.perf_counter() - t0) * 1000,
                }
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
                f.flush()
                if (i + 1) % 10 == 0:
                    print(f"  {i + 1}/{len(reqs)}", file=sys.stderr, flush=True)
    finally:
        server.stop()


def report(rows: list[dict[str, Any]], label: str) -> None:
    print(f"\n{label}\n\n| locale | messages | LLM's own text sent | rules that failed |\n|---|---|---|---|")
    for loc in LOCALES:
        mine = [r for r in rows if r["request"].get("locale") == loc]
        own = sum(r["writer"] == "llm" for r in mine)
        rules = Counter(r["rule"] for r in mine if r["rule"])
        failed = ", ".join(f"{k} {v}" for k, v in rules.most_common()) or "-"
        print(f"| {loc} | {len(mine)} | {own} ({own / max(1, len(mine)):.0%}) | {failed} |")


def judge(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` with each LLM-written message checked again by this revision's sense rules."""
    from recsvc.copy.sense import check_copy

    fields = {f.name for f in dataclasses.fields(CopyRequest)}
    out = []
    for r in rows:
        if r["writer"] == "llm":
            req = CopyRequest(**{k: v for k, v in r["request"].items() if k in fields})
            failed = check_copy(req, r["title"], r["body"])
            if failed:
                r = {**r, "writer": "template", "rule": failed[0]}
        out.append(r)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--demo-dir", default="var/demo")
    ap.add_argument("--per-locale", type=int, default=40)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="copy_truth.jsonl")
    ap.add_argument("--judge", default="", help="re-check a written file with this revision's sense rules")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.judge:
        rows = [json.loads(line) for line in Path(args.judge).read_text(encoding="utf-8").splitlines()]
        report(rows, f"As written ({args.judge})")
        report(judge(rows), "The same messages under this revision's sense rules")
        return
    reqs = requests(Path(args.demo_dir), args.per_locale, args.seed)
    # Locales alternate, so a run stopped early still measures both.
    by_locale = [[r for r in reqs if r.locale == loc] for loc in LOCALES]
    interleaved = [r for pair in itertools.zip_longest(*by_locale) for r in pair if r is not None]
    write(interleaved, Path(args.out), args.threads)
    report([json.loads(x) for x in Path(args.out).read_text(encoding="utf-8").splitlines()], "As written")


if __name__ == "__main__":
    main()
