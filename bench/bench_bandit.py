"""Thompson sampling against a uniform split on variants with known click rates, fixed seeds.

Run: ``.venv/bin/python bench/bench_bandit.py [--rates 0.04 0.05 0.06] [--sends 200000] [--seeds 20]``.

Each run sends ``--sends`` pushes in batches of ``--batch`` (choices within a batch use the posterior
as it was at the batch's start, as a server does between updates), clicks are drawn from the known
rates, and the bandit is updated once per batch. Regret is the expected clicks lost against always
sending the best variant: sum over sends of (best rate - chosen variant's rate). Targets: Thompson's
regret below half the uniform split's, and at least 80% of the last 20% of sends on the best variant.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from recsvc.experiments.bandit import BanditConfig, ThompsonBandit

CONTEXT = "interest|scheduled|app_push|en-US"


def run_once(rates: np.ndarray, sends: int, batch: int, floor: float, seed: int) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    variants = [f"v{i}" for i in range(len(rates))]
    bandit = ThompsonBandit(config=BanditConfig(floor=floor))
    best = float(rates.max())
    regret = 0.0
    late_start = int(sends * 0.8)
    late_best = late_total = 0
    sent = 0
    while sent < sends:
        n = min(batch, sends - sent)
        picks = bandit.choose_many(CONTEXT, variants, rng, n)
        clicks = rng.random(n) < rates[picks]
        regret += float(np.sum(best - rates[picks]))
        late = np.arange(sent, sent + n) >= late_start
        late_total += int(late.sum())
        late_best += int(np.sum(picks[late] == int(rates.argmax())))
        for i, v in enumerate(variants):
            mine = picks == i
            if mine.any():
                bandit.update(CONTEXT, v, int(clicks[mine].sum()), int(mine.sum()), variants)
        sent += n
    return {"regret": regret, "late_best_share": late_best / max(late_total, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rates", type=float, nargs="+", default=[0.04, 0.05, 0.06])
    ap.add_argument("--sends", type=int, default=200_000)
    ap.add_argument("--batch", type=int, default=1_000)
    ap.add_argument("--floor", type=float, default=0.1)
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--seed", type=int, default=20261202)
    ap.add_argument("--json", default="var/bench/bandit.json")
    args = ap.parse_args()
    rates = np.array(args.rates)
    started = time.perf_counter()
    runs = [run_once(rates, args.sends, args.batch, args.floor, args.seed + i) for i in range(args.seeds)]
    # A uniform split's expected regret is exact: every send loses best - mean(rates) on average.
    uniform_regret = args.sends * float(rates.max() - rates.mean())
    regrets = [r["regret"] for r in runs]
    shares = [r["late_best_share"] for r in runs]
    results: dict[str, Any] = {
        "rates": args.rates,
        "sends": args.sends,
        "batch": args.batch,
        "floor": args.floor,
        "seeds": args.seeds,
        "uniform_regret": uniform_regret,
        "thompson_regret_median": statistics.median(regrets),
        "thompson_regret_max": max(regrets),
        "regret_ratio_median": statistics.median(regrets) / uniform_regret,
        "regret_ratio_worst": max(regrets) / uniform_regret,
        "late_best_share_median": statistics.median(shares),
        "late_best_share_min": min(shares),
        "seconds": round(time.perf_counter() - started, 1),
    }
    print("| measure | value | target | met |\n|---|---|---|---|")
    print(f"| rates | {args.rates} | | |")
    print(f"| sends per run, batch, floor, seeds | {args.sends}, {args.batch}, {args.floor}, {args.seeds} | | |")
    print(f"| uniform split regret (clicks) | {uniform_regret:.0f} | | |")
    print(f"| Thompson regret, median / worst | {results['thompson_regret_median']:.0f} / {max(regrets):.0f} | | |")
    for key, target, ok in (
        ("regret_ratio_median", "< 0.5", results["regret_ratio_median"] < 0.5),
        ("regret_ratio_worst", "< 0.5", results["regret_ratio_worst"] < 0.5),
        ("late_best_share_median", ">= 0.80", results["late_best_share_median"] >= 0.8),
        ("late_best_share_min", ">= 0.80", results["late_best_share_min"] >= 0.8),
    ):
        print(f"| {key} | {results[key]:.3f} | {target} | {'yes' if ok else '**no**'} |")
    print(f"| seconds | {results['seconds']} | | |")
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
