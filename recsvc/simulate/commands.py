"""The ``recsvc simulate`` command: arguments in, the comparison of policies as JSON out."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _at_least_zero(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {n}")
    return n


def _share(value: str) -> float:
    try:
        x = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if not 0.0 <= x < 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {x}")
    return x


def _headline(out: dict[str, Any]) -> str:
    """One line per policy: the numbers the comparison is judged on."""

    def pct(x: float | None) -> str:
        return "n/a" if x is None else f"{100 * x:5.1f}%"

    lines = [f"{'policy':16} {'ret@7':>7} {'ret@28':>7} {'open':>7} {'click':>7} {'conv':>7} {'unsub':>7}"]
    for name, p in out["policies"].items():
        lines.append(
            f"{name:16} {pct(p['retention_d7']):>7} {pct(p['retention_d28']):>7} {pct(p['open_rate']):>7} "
            f"{pct(p['click_rate']):>7} {pct(p['conversion_rate']):>7} {pct(p['unsubscribe_rate']):>7}"
        )
    gc = out.get("global_control")
    if gc:
        for n in (7, 28):
            if gc.get(f"incremental_retention_d{n}_points") is not None:
                lines.append(
                    f"global control: retention@{n} pushed {pct(gc[f'pushed_retention_d{n}'])} vs held out "
                    f"{pct(gc[f'control_retention_d{n}'])} ({gc[f'incremental_retention_d{n}_points']:+.1f} points; "
                    f"CUPED {gc[f'cuped_incremental_retention_d{n}_points']:+.1f})"
                )
    return "\n".join(lines)


def cmd_simulate(args: argparse.Namespace) -> int:
    from recsvc.settings import load_settings
    from recsvc.simulate.run import SimConfig, run_simulation

    cfg = SimConfig(
        users=args.users,
        days=args.days,
        seed=args.seed,
        retrain_every=args.retrain_every,
        history_days=args.history_days,
        items=args.items,
        control_share=args.control_share,
        policies=tuple(args.policies.split(",")) if args.policies else SimConfig.policies,
    )
    cfg.validate()
    workdir = Path(args.workdir) if args.workdir else None
    out = run_simulation(cfg, workdir=workdir, settings=load_settings(args.config), progress=not args.quiet)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(out, indent=2, default=str) + "\n", encoding="utf-8")
    print(_headline(out))
    if args.json:
        print(f"wrote {args.json}")
    return 0


def simulate_command(
    add: Callable[[str, Callable[[argparse.Namespace], int], str], Any], positive_int: Callable[[str], int]
) -> None:
    s = add(
        "simulate",
        cmd_simulate,
        "Run the demo app forward day by day and compare push policies on the same simulated users: recsvc "
        "(the real engine, ingestion and retraining), batch-and-blast, random and no pushes. Users answer by a "
        "seeded hidden response model (README: Simulator). Copy is template-only (no LLM).",
    )
    s.add_argument("--users", type=positive_int, default=1000, help="simulated users (default 1000)")
    s.add_argument("--days", type=positive_int, default=28, help="simulated days, at most 60 (default 28)")
    s.add_argument("--seed", type=_at_least_zero, default=42, help="seed of the demo world and the responses")
    s.add_argument("--json", metavar="OUT", help="write the full result (per policy, control group, experiment)")
    s.add_argument(
        "--retrain-every",
        type=_at_least_zero,
        default=7,
        metavar="K",
        help="retrain recsvc's models every K days (0: never)",
    )
    s.add_argument(
        "--history-days", type=positive_int, default=60, help="days of demo history trained on first (default 60)"
    )
    s.add_argument("--items", type=positive_int, default=300, help="catalog size (default 300)")
    s.add_argument(
        "--control-share",
        type=_share,
        default=0.1,
        help="share of users in recsvc's global control group (default 0.1)",
    )
    s.add_argument("--policies", help="comma-separated subset of recsvc,batch_and_blast,random,none (default all)")
    s.add_argument("--workdir", help="keep the run's store, models and demo files here (default: a temporary folder)")
