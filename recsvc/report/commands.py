"""The ``recsvc report`` command: arguments in, one HTML file out."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import Any


def _declared_experiments(config: str | None) -> tuple[Any, ...]:
    """The ``[[experiments]]`` of the settings file: their planned weights, control arm and metric.

    Experiments exist only in the file (they have no environment form), so without a file there are
    none, and the settings (whose import loads the model code, seconds) are not read at all.
    """
    if not (config or os.environ.get("RECSVC_CONFIG")):
        return ()
    from recsvc.settings import load_settings

    return load_settings(config).experiments


def cmd_report(args: argparse.Namespace) -> int:
    from recsvc.report.build import build_report, load_sends, parse_since, write_report

    since = parse_since(args.since) if args.since is not None else None
    declared = _declared_experiments(args.config)
    settings = None
    if not (args.sends or args.demo):
        from recsvc.settings import load_settings

        settings = load_settings(args.config)
    inputs = load_sends(args.sends, args.feedback, demo=args.demo, settings=settings, since=since)
    path = write_report(build_report(inputs, since=since, experiment=args.experiment, declared=declared), args.out)
    print(f"wrote {path} ({len(inputs.sends):,} sends read)")
    return 0


def report_command(add: Callable[[str, Callable[[argparse.Namespace], int], str], Any]) -> None:
    r = add(
        "report",
        cmd_report,
        "Write one self-contained HTML report: funnel, rates per experiment arm over time, lift with 95%% "
        "intervals, sequential p-values and SRM, breakdown by stage and channel, feedback.",
    )
    r.add_argument("--out", required=True, help="the HTML file to write")
    r.add_argument("--since", help="only sends of the last N days or hours, e.g. 7d or 24h (default: all)")
    r.add_argument("--experiment", help="only this experiment's section (an unknown id is an error)")
    source = r.add_mutually_exclusive_group()
    source.add_argument(
        "--sends", help="attributed sends: .parquet/.csv, one row per send (default: the store's outcome log)"
    )
    source.add_argument("--demo", action="store_true", help="seeded synthetic sends, to see what the report shows")
    r.add_argument("--feedback", help="feedback answers: .parquet/.csv with columns rating, reason")
