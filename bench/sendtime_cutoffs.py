"""Send-time hit@1h at several cut-offs: one cut-off is a lottery on small or campaign-driven logs.

Runs the `recsvc evaluate sendtime` protocol at each cut-off and prints a markdown table with the
margin over the best baseline and its mean (the README's "Several cut-offs" figures).

    .venv/bin/python bench/sendtime_cutoffs.py ../shared/data/ml-100k \
        1997-12-01,1997-12-15,1998-01-01,1998-01-15,1998-02-01,1998-02-15,1998-03-01,1998-03-15
"""

from __future__ import annotations

import argparse

from recsvc.data.convert import load_dataset
from recsvc.evaluation.sendtime import evaluate_sendtime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("events", help="events file or raw data set folder, as for `recsvc evaluate`")
    ap.add_argument("cutoffs", help="comma-separated cut-off dates")
    ap.add_argument("--users", default=None, help="users file (time zones)")
    args = ap.parse_args()
    ds = load_dataset(args.events, users=args.users)
    print("| cut-off | users | recsvc | population | user_mode | margin | mode |\n|---|---|---|---|---|---|---|")
    margins = []
    for cutoff in args.cutoffs.split(","):
        r = evaluate_sendtime(ds, cutoff.strip(), progress=False)
        best = max(r["baselines"].values())
        margins.append(r["hit@1h"] - best)
        print(
            f"| {cutoff} | {r['n_users']} | {r['hit@1h']:.3f} | {r['baselines']['population']:.3f} | "
            f"{r['baselines']['user_mode']:.3f} | {margins[-1]:+.3f} | {r.get('model_mode', '')} |",
            flush=True,
        )
    print(f"\nmean margin over the best baseline: {sum(margins) / len(margins):+.3f} ({len(margins)} cut-offs)")


if __name__ == "__main__":
    main()
