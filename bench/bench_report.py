"""How long does ``recsvc report`` take over a million attributed sends?

Run: ``.venv/bin/python bench/bench_report.py [--sends 1000000] [--repeats 5] [--json OUT]``.

Generates the sends with numpy (seeded; 3 arms, 14 days, 5 stages, 4 channels) and writes them to a
temporary parquet file, then times, per repeat: reading the file (what ``--sends FILE`` does), building
the report's rows (group-bys), judging the experiment (stats), and rendering the HTML page. Prints the
median and the slowest repeat of each step and of the whole.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import pandas as pd

from recsvc.report.analysis import judge_all
from recsvc.report.data import report_data_from_frames
from recsvc.report.html import render_report
from recsvc.report.synthetic import synthetic_feedback, synthetic_sends


def _one_run(parquet: Path, feedback: pd.DataFrame) -> dict[str, float]:
    t0 = time.perf_counter()
    sends = pd.read_parquet(parquet)
    t1 = time.perf_counter()
    data = report_data_from_frames(sends, feedback)
    t2 = time.perf_counter()
    verdicts = judge_all(data)
    t3 = time.perf_counter()
    page = render_report(data, verdicts)
    t4 = time.perf_counter()
    assert data.funnel.sends == len(sends) and "chart-funnel" in page
    return {"read": t1 - t0, "build": t2 - t1, "judge": t3 - t2, "render": t4 - t3, "total": t4 - t0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sends", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", help="also write the result here")
    args = ap.parse_args()
    sends = synthetic_sends(args.sends, seed=11)
    feedback = synthetic_feedback(args.sends // 50, seed=11)
    with tempfile.TemporaryDirectory() as tmp:
        parquet = Path(tmp) / "sends.parquet"
        sends.to_parquet(parquet, index=False)
        del sends
        runs = [_one_run(parquet, feedback) for _ in range(args.repeats)]
    result: dict[str, object] = {"sends": args.sends, "repeats": args.repeats}
    for step in ("read", "build", "judge", "render", "total"):
        values = [r[step] for r in runs]
        result[step] = {"median_s": round(statistics.median(values), 3), "max_s": round(max(values), 3)}
        print(f"{step:>7}: median {statistics.median(values):7.3f} s   slowest {max(values):7.3f} s")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
