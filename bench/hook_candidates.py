"""Every hook candidate the hook writer judged, with the rule that refused it (or its score).

Draws the same demo requests as ``bench_copy.py --demo-dir DIR --per-locale N`` (same seed, same
draws), keeps the locales asked for, and writes each message with the local LLM and no cache, printing
all candidates per message. For finding why a locale's hooks fail, not a benchmark.

    .venv/bin/python bench/hook_candidates.py --demo-dir /tmp/zh-demo --per-locale 20 --locales zh-CN
"""

from __future__ import annotations

import argparse
import collections
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_copy import per_locale_requests

from recsvc.copy import CopyConfig, Copywriter, LocalLLMServer, OpenAILLM, hooks


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--demo-dir", required=True)
    ap.add_argument("--per-locale", type=int, default=20)
    ap.add_argument("--locales", default="zh-CN", help="comma-separated locales to keep")
    ap.add_argument("--seed", type=int, default=7, help="bench_copy.py's default draws the same requests")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()

    keep = set(args.locales.split(","))
    reqs = [r for r in per_locale_requests(Path(args.demo_dir), args.per_locale, args.seed) if r.lang in keep]
    cfg = CopyConfig(local_port=0, n_threads=args.threads, timeout_s=120.0).validate()

    seen: list[hooks.Judged] = []
    judge = hooks.judge

    def logged(*a: object, **kw: object) -> hooks.Judged:
        got = judge(*a, **kw)  # type: ignore[arg-type]
        seen.append(got)
        return got

    hooks.judge = logged  # type: ignore[assignment]
    rules: collections.Counter[str] = collections.Counter()
    own = 0
    server = LocalLLMServer(cfg).start()
    try:
        with Copywriter(replace(cfg, per_user=True), OpenAILLM(cfg, base_url=server.base_url)) as w:
            for i, r in enumerate(reqs):
                seen.clear()
                m = w.write_now(r, timeout_s=cfg.timeout_s, use_cache=False)
                own += m.writer == "llm"
                print(f"[{i}] {r.lang} {r.stage} {r.item_title!r} -> {m.writer} {m.title!r}", flush=True)
                for j in seen:
                    rules[j.rule or "pass"] += 1
                    print(f"     {j.rule or 'pass':<15} {j.score:4.2f} {j.hook!r}", flush=True)
    finally:
        server.stop()
    print(f"own text: {own}/{len(reqs)}; candidates: {dict(rules)}")


if __name__ == "__main__":
    main()
