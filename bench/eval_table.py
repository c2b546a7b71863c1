"""Markdown tables from `recsvc evaluate ... --json OUT` files (one cut-off or `--cutoffs`).

One row per cut-off with recsvc and every baseline on the chosen metric, then the mean and the
95% t-interval of recsvc's margin over the best baseline (the README's evaluation tables).

    .venv/bin/python bench/eval_table.py var/eval/churn_cdnow.json --metric auc
    .venv/bin/python bench/eval_table.py var/eval/recs_ml.json --metric ndcg@10 --new-items
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from recsvc.evaluation.cutoffs import scores, summarize


def _fmt(x: float) -> str:
    return "n/a" if x is None or math.isnan(x) else f"{x:.3f}"


def _interval(m: dict[str, Any]) -> str:
    lo, hi = m["ci95"]
    ci = "" if math.isnan(lo) else f" [{lo:+.3f}, {hi:+.3f}]"
    return f"{m['mean']:+.3f}{ci}"


def table(doc: dict[str, Any], metric: str, new_items: bool = False) -> str:
    per = doc.get("per_cutoff", [doc])
    if new_items:
        per = [{**r["with_new_items"], "cutoff": r["cutoff"]} for r in per]
    names = list(scores(per[0], metric)[1])
    head = f"| cut-off | users | **recsvc** | {' | '.join(names)} | margin over best |"
    lines = [head, "|" + "---|" * (4 + len(names))]
    for r in per:
        ours, base = scores(r, metric)
        best = max(base.values())
        cells = " | ".join(_fmt(base.get(n, float("nan"))) for n in names)
        lines.append(f"| {r['cutoff'][:10]} | {r['n_users']:,} | {_fmt(ours)} | {cells} | {ours - best:+.3f} |")
    s = summarize(per, [metric])["metrics"][metric]
    means = " | ".join(_fmt(s["baselines"][n]["mean"]) for n in names)
    lines.append(f"| mean | | {_fmt(s['recsvc']['mean'])} | {means} | |")
    out = "\n".join(lines)
    if len(per) > 1:
        out += (
            f"\n\n{metric}: recsvc minus the best baseline by mean ({s['best_baseline']}): "
            f"{_interval(s['margin_over_best'])} (mean, 95% t-interval over {len(per)} cut-offs); "
            + ", ".join(f"vs {n} {_interval(m)}" for n, m in s["margins"].items())
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("json", nargs="+", help="files written by `recsvc evaluate ... --json`")
    ap.add_argument("--metric", required=True, help="auc, hit@1h, ndcg@10, recall@10 or recall@10_full")
    ap.add_argument("--new-items", action="store_true", help="the --include-new-items report")
    args = ap.parse_args()
    for path in args.json:
        print(f"### {Path(path).name}\n\n{table(json.loads(Path(path).read_text()), args.metric, args.new_items)}\n")


if __name__ == "__main__":
    main()
