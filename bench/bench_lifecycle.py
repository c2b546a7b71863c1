"""Lifecycle benchmark: train churn + stage models on N demo-generator users, then batch-score everyone.

Goals: training < 10 min and < 8 GiB peak RSS for 1,000,000 users; batch scoring
> 200,000 users/s for both models. Prints a markdown table.

    .venv/bin/python bench/bench_lifecycle.py --users 1000000

Input: the demo generator (``recsvc.data.demo``), the same simulated app as ``recsvc demo-data``,
about 190 events per user over 120 days. One 100,000-user run peaks near 5.5 GiB, so a million users
are generated as shards of ``--shard-users`` users, each its own seed (``--seed`` + shard) with
its user ids prefixed by the shard: the same population, sessions, campaigns and churn process,
only the campaign calendar and catalogue draws differ per shard. Shards are cached as Parquet
under ``~/.cache/recsvc-bench/`` (``--no-cache`` regenerates in a temporary directory);
generation time is reported apart and never counted as training. ``--source synthetic`` keeps the
older uniform synthetic log for comparison.

Timed rows: "encode" turns the Parquet shards into the lifecycle ``EventLog`` (integer users,
sorted by user and time); "training" is ``train_lifecycle`` on that log; "features" computes every
user's features at the end of the log; "scoring" is ``LifecycleModel.score_arrays`` on that
feature frame (calibrated churn + stage probabilities + rule stage), i.e. model inference only.
Peak RSS is the process's ``ru_maxrss`` after each step, so it includes the loaded log.

``--threads`` (default 2, the machine's cores) sets LightGBM's and lleaves' threads. On a host
where another job holds the cores, use ``--threads 1``: OpenMP's spin-waiting made a 2-thread
LightGBM fit there many times slower than a 1-thread one.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from recsvc.data.demo import DemoConfig, generate_demo_frames
from recsvc.lifecycle.config import LifecycleConfig
from recsvc.lifecycle.eventlog import EventLog
from recsvc.lifecycle.model import LifecycleModel
from recsvc.lifecycle.train import train_lifecycle

logger = logging.getLogger(__name__)

START = pd.Timestamp("2025-01-01", tz="UTC")
KINDS = np.array(["app_open", "view", "search", "add_to_cart", "purchase", "push_delivered", "push_opened"])
KIND_P = np.array([0.2, 0.35, 0.08, 0.08, 0.04, 0.18, 0.07])
CACHE = Path("~/.cache/recsvc-bench").expanduser()
COLUMNS = ("user_id", "ts", "event_type", "value", "item_id")


def synthetic_log(n_users: int, days: int, events_per_user: float, seed: int) -> pd.DataFrame:
    """Vectorized: per user a signup day, a dropout day and a pace; events uniform in the active span."""
    rng = np.random.default_rng(seed)
    signup = rng.uniform(0, days * 0.8, n_users)
    life = rng.exponential(days / 3, n_users)
    end = np.minimum(signup + life, days)
    n = rng.poisson(events_per_user * rng.gamma(2.0, 0.5, n_users)) + 1
    user = np.repeat(np.arange(n_users), n)
    t = signup[user] + rng.random(len(user)) * (end[user] - signup[user])
    order = np.argsort(t, kind="stable")
    user, t = user[order], t[order]
    kind = rng.choice(len(KINDS), len(user), p=KIND_P)
    return pd.DataFrame(
        {
            "user_id": pd.Index(np.char.add("u", np.arange(n_users).astype(str)))[user].to_numpy(dtype=object),
            "ts": START + pd.to_timedelta(np.round(t * 86400).astype(np.int64), unit="s"),
            "event_type": KINDS.astype(object)[kind],
            "value": np.where(kind == 4, rng.gamma(2.0, 20.0, len(user)), np.nan),
            "item_id": np.where(np.isin(kind, [1, 3, 4]), rng.integers(0, 20000, len(user)).astype(str), None),
            "ts_offset_min": np.zeros(len(user), dtype=np.int32),
        }
    )


def demo_shards(n_users: int, shard_users: int, seed: int, cache_dir: Path) -> tuple[list[Path], float]:
    """Parquet shards of the demo log for ``n_users`` users (generated once, then cached).

    Returns the shard paths and the seconds spent generating in this call (0 when all were cached).
    """
    root = cache_dir / f"demo-{n_users}-shard{shard_users}-seed{seed}"
    root.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    spent = 0.0
    n_shards = -(-n_users // shard_users)
    for k in range(n_shards):
        path = root / f"part-{k:04d}.parquet"
        paths.append(path)
        if path.is_file():
            continue
        m = min(shard_users, n_users - k * shard_users)
        t0 = time.perf_counter()
        ev = generate_demo_frames(DemoConfig(n_users=m, seed=seed + k), progress=False).events
        uid = ev["user_id"].cat.rename_categories(lambda u, k=k: f"s{k:04d}-{u}")
        table = pa.table(
            {
                "user_id": pa.array(uid),
                "ts": pc.cast(pa.array(ev["ts"].array), pa.timestamp("s", tz="UTC")),
                "event_type": pa.array(ev["event_type"]),
                "value": pa.array(ev["value"].to_numpy(np.float64)),
                "item_id": pa.array(ev["item_id"]),
            }
        )
        del ev
        tmp = path.with_suffix(".tmp")
        pq.write_table(table, tmp)
        tmp.rename(path)
        spent += time.perf_counter() - t0
        logger.info("demo shard %d/%d: %d users, %d events", k + 1, n_shards, m, table.num_rows)
    return paths, spent


def read_shard(path: Path) -> pd.DataFrame:
    """One shard as a frame with categorical ids (cheap to encode)."""
    return pq.read_table(path, columns=list(COLUMNS)).to_pandas()


def load_event_log(paths: list[Path]) -> EventLog:
    """Encode shard by shard into one preallocated log, so the events never exist twice in memory."""
    n_events = sum(pq.ParquetFile(p).metadata.num_rows for p in paths)

    def parts() -> Iterator[EventLog]:
        for p in paths:
            yield EventLog.from_frame(read_shard(p))

    return EventLog.concat(parts(), n_events)


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=1_000_000)
    ap.add_argument("--source", choices=("demo", "synthetic"), default="demo")
    ap.add_argument("--shard-users", type=int, default=100_000, help="demo users generated per shard")
    ap.add_argument("--no-cache", action="store_true", help="regenerate the demo shards in a temporary dir")
    ap.add_argument("--days", type=int, default=365, help="synthetic source only")
    ap.add_argument("--events-per-user", type=float, default=12.0, help="synthetic source only")
    ap.add_argument("--horizon-days", type=int, default=30)
    ap.add_argument("--threads", type=int, default=2, help="LightGBM and scoring threads")
    ap.add_argument("--no-compiled", action="store_true", help="score with plain LightGBM predict")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, help="also write the measures here")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    rows: list[tuple[str, str]] = []
    raw: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        if args.source == "demo":
            cache = Path(tmp) / "demo" if args.no_cache else CACHE
            paths, gen_s = demo_shards(args.users, args.shard_users, args.seed, cache)
            rows.append(("demo shards generated (not timed as training)", f"{len(paths)} ({gen_s:.1f} s this run)"))
            t0 = time.perf_counter()
            log = load_event_log(paths)
        else:
            t0 = time.perf_counter()
            log = EventLog.from_frame(synthetic_log(args.users, args.days, args.events_per_user, args.seed))
        raw["encode_s"] = time.perf_counter() - t0
        rows.append(
            (
                "events loaded + encoded",
                f"{len(log):,} events, {len(log.users):,} users, {log.nbytes / 2**30:.2f} GiB "
                f"({raw['encode_s']:.1f} s)",
            )
        )
        raw["rss_after_load_gib"] = peak_rss_gib()
        rows.append(("peak RSS after load", f"{raw['rss_after_load_gib']:.2f} GiB"))
        cfg = LifecycleConfig(horizon_days=args.horizon_days, num_threads=args.threads)
        now = pd.Timestamp(float(log.ts.max()) + 1, unit="s", tz="UTC")
        t0 = time.perf_counter()
        vdir = train_lifecycle(log, out_dir=Path(tmp) / "models", horizon_days=args.horizon_days, config=cfg)
        raw["train_s"] = time.perf_counter() - t0
        raw["rss_after_train_gib"] = peak_rss_gib()
        rows.append(("training time (goal < 600 s)", f"{raw['train_s']:.1f} s ({args.threads} thread(s))"))
        rows.append(("peak RSS after training (goal < 8 GiB)", f"{raw['rss_after_train_gib']:.2f} GiB"))
        model = LifecycleModel.load(vdir, compiled=not args.no_compiled, num_threads=args.threads)
        for scorer in (model.churn_scorer, model.stage_scorer):
            scorer.min_rows = 0  # the bench scores one big batch: always the compiled path when there
        meta = model.metadata
        m = meta["metrics"]
        rows.append(("training rows (cap lifecycle.max_train_rows)", f"{meta['n_samples']:,}"))
        rows.append(("churn AUC / Brier on time split", f"{m['churn']['auc']:.3f} / {m['churn']['brier']:.3f}"))  # type: ignore[index]
        rows.append(
            (
                "stage macro-F1 (rules alone)",
                f"{m['stage']['macro_f1']:.3f} ({m['stage']['macro_f1_rules_alone']:.3f})",  # type: ignore[index]
            )
        )
        rows.append(("trees churn / stage", f"{model.churn_booster.num_trees()} / {model.stage_booster.num_trees()}"))
        laps = meta.get("training_seconds", {})
        rows.append(("training phases", ", ".join(f"{k} {v:.1f} s" for k, v in laps.items())))  # type: ignore[union-attr]
        t0 = time.perf_counter()
        compiled = model.compile()
        raw["compile_s"] = time.perf_counter() - t0
        rows.append(
            (
                "compile both models (once per model and machine, cached)",
                f"{raw['compile_s']:.1f} s ({'lleaves' if compiled else 'unavailable: LightGBM fallback'})",
            )
        )
        t0 = time.perf_counter()
        feats = model.features(log, now)
        raw["features_s"] = time.perf_counter() - t0
        rows.append(
            (
                "features at 'now' (numpy, 1 thread)",
                f"{len(feats):,} users in {raw['features_s']:.1f} s ({len(feats) / raw['features_s']:,.0f} users/s)",
            )
        )
        t0 = time.perf_counter()
        churn, _probs, _rules = model.score_arrays(feats)
        raw["score_s"] = time.perf_counter() - t0
        raw["score_users_per_s"] = len(churn) / raw["score_s"]
        rows.append(
            (
                "score_arrays, both models (goal > 200,000/s)",
                f"{raw['score_users_per_s']:,.0f} users/s ({raw['score_s']:.2f} s, {model.backend}, "
                f"{model.num_threads} thread(s))",
            )
        )
        sub = feats.iloc[:10_000]
        t0 = time.perf_counter()
        model.score(sub)
        rows.append(("score with reasons", f"{len(sub) / (time.perf_counter() - t0):,.0f} users/s"))
        raw["rss_overall_gib"] = peak_rss_gib()
        rows.append(("peak RSS overall", f"{raw['rss_overall_gib']:.2f} GiB"))
    print("\n| measure | value |\n|---|---|")
    for k, v in rows:
        print(f"| {k} | {v} |")
    if args.json:
        args.json.write_text(json.dumps({"users": args.users, "source": args.source, **raw}, indent=2))


if __name__ == "__main__":
    main()
