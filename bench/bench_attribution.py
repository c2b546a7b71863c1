"""Does attribution slow ``Recommend``? The code before it and after it, served in turn in one run.

The goal: attribution (booked sends, exposures, outcomes; merged in 043d620) must keep
``Recommend``'s p99 at 300 requests/s within 10% of the code before it (e23bf33, 043d620's first
parent), measured in the same run. Check out the code before it once, beside this checkout:

    git worktree add --detach /work/bench-before e23bf33

The final figures (about 15 minutes on a quiet 2-core machine: under 2 training, 8 sessions of about
95 s serving; nothing else running):

    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 .venv/bin/python bench/bench_attribution.py \\
        --before /work/bench-before --after . --rounds 4 --seconds 30 --json var/bench/attribution.json

``--after .`` is this checkout: attribution plus everything merged since. To see attribution alone,
serve its merge commit as the after tree (``git worktree add --detach /work/bench-attr 043d620``,
then ``--after /work/bench-attr``).

Any two trees compare the same way. The code before the evaluation and model work on the products,
churn and send time (3dd3642, the first parent of ed934e5) against this checkout:

    git worktree add --detach /work/bench-before16 3dd3642
    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 .venv/bin/python bench/bench_attribution.py \\
        --before /work/bench-before16 --after . --work var/bench/models-vs-3dd3642 --json var/bench/models.json

A short check that it works end to end (about 3 minutes, half of it training; training is kept under
``--work`` and reused by the next run while the trees' code is unchanged):

    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 .venv/bin/python bench/bench_attribution.py --rounds 1 --seconds 10

The noise floor, A/A (one tree served as both; the ratios should be close to 1.00x):

    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 .venv/bin/python bench/bench_attribution.py \\
        --before . --after . --work var/bench/attribution-aa --rounds 2 --seconds 10

What it does:

* Each tree gets its generated protos if it has none (``grpc_tools.protoc``, as ``make protos``).
* One demo app (``recsvc demo-data`` of the after tree: ``--users`` 2,000 users, 300 items, 60 days)
  is shared by both trees; each tree trains its own models and store from it with its own
  ``recsvc train --import-store``, under ``--work``. Both are kept and reused while the tree's code
  (git's hashes of ``recsvc/`` and ``protos/`` at its commit, unmodified) and the sizes are the same;
  otherwise they are made again.
* Rounds run ABBA (before, after, after, before, ...), ``--rounds`` per tree. Each starts
  ``recsvc serve --processes 2`` from that tree (``PYTHONPATH`` and cwd = the tree, no ``RECSVC_*``
  settings but the store, the models and no LLM) on a fresh copy of its trained store, since
  reserving writes rows a later round must not inherit. Once every process answers SERVING it warms
  up (plain ``Recommend``, ``--warmup`` seconds), then measures ``bench/load_recommend.py``'s open
  loop at ``--rate`` requests/s for ``--seconds`` twice: plain ``Recommend``, then
  ``Recommend(reserve=true)``. Reserving requests go to the users in one shuffled order, one user per
  request until the list wraps (a user booked today mostly meets the daily cap on the next pass,
  which books nothing), the same order for both trees. Latency counts from each request's scheduled
  time. Copy is templates only for both trees (the LLM URL points at a closed port).
* Per tree and mode it reports the medians over rounds of p50 and p99, the achieved rate, errors and
  the sends booked per round (rows added to the caps ledger's ``sends`` table; the after tree writes
  an ``outcome_sends`` row with each, counted in the JSON), and the ratio after/before of the median
  p99. The trees must book the same number of sends for the reserve rows to compare like with like.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from contextlib import closing
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench")]
PROTO_GLOB = "protos/recsvc/v1/*.proto"
PB2 = ("recsvc/v1/recsvc_pb2.py", "recsvc/v1/recsvc_pb2_grpc.py")


def ensure_protos(tree: Path) -> None:
    """Generate the tree's *_pb2 modules if it has none (the arguments of ``make protos``)."""
    if all((tree / f).exists() for f in PB2):
        return
    protos = [str(p.relative_to(tree)) for p in sorted(tree.glob(PROTO_GLOB))]
    cmd = [
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        "-Iprotos",
        "--python_out=.",
        "--pyi_out=.",
        "--grpc_python_out=.",
    ]
    subprocess.run([*cmd, *protos], cwd=tree, check=True)
    print(f"generated protos in {tree}", flush=True)


ensure_protos(REPO)  # this checkout's client code (load_recommend.py) imports them

from load_recommend import _open_loop, _pct, _run, _users  # noqa: E402

from recsvc.server.run import wait_serving  # noqa: E402
from tests.server_process import stop_server  # noqa: E402

MODES = ("plain", "reserve")
DEMO_SEED = 11


@dataclass(frozen=True)
class Tree:
    name: str  # "before" or "after"
    path: Path
    commit: str
    code: str  # git's hashes of recsvc/ and protos/ at the commit: what the trained artifacts depend on
    dirty: bool  # recsvc/ or protos/ differ from the commit
    reserve: bool  # its RecommendRequest has the reserve field


@dataclass
class Measure:
    tree: str
    mode: str
    round: int
    requests: int  # scheduled
    ok: int
    errors: int
    rate: float  # answered requests per second
    p50_ms: float
    p99_ms: float
    max_ms: float
    booked: int  # sends rows added in this mode (reserve mode; 0 for plain)
    outcome_sends: int  # outcome_sends rows added (after tree only; -1 where the table does not exist)
    load1: float  # the machine's 1-minute load average when the measurement ended


def _git(tree: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(tree), *args], capture_output=True, text=True, check=True).stdout.strip()


def _tree(name: str, path: Path) -> Tree:
    path = path.resolve()
    if not (path / "recsvc" / "cli.py").exists():
        raise SystemExit(f"{name} tree {path} has no recsvc/cli.py")
    commit = _git(path, "rev-parse", "HEAD")
    code = _git(path, "rev-parse", "HEAD:recsvc", "HEAD:protos").replace("\n", " ")
    dirty = bool(_git(path, "status", "--porcelain", "--", "recsvc", "protos"))
    return Tree(name, path, commit, code, dirty, _has_reserve(path))


def _has_reserve(tree: Path) -> bool:
    """Whether the tree's RecommendRequest message declares ``reserve`` (read from its .proto)."""
    for proto in sorted(tree.glob(PROTO_GLOB)):
        text = proto.read_text(encoding="utf-8")
        start = text.find("message RecommendRequest {")
        if start >= 0:
            body = text[start : text.find("\n}", start)]
            return any(line.split("//")[0].split()[:2] == ["bool", "reserve"] for line in body.splitlines())
    return False


def _env(tree: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The parent's environment without any RECSVC_* setting (both trees run on defaults), plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECSVC_")}
    env.update(PYTHONPATH=str(tree), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    env.update(extra or {})
    return env


def check_import(tree: Path) -> None:
    """The tree's own recsvc is what its processes import (the shared venv's editable install points
    at one checkout; ``PYTHONPATH`` and the cwd must win over it)."""
    code = "import recsvc; print(recsvc.__file__)"
    got = subprocess.run(
        [sys.executable, "-c", code], cwd=tree, env=_env(tree), capture_output=True, text=True, check=True
    ).stdout.strip()
    if not Path(got).resolve().is_relative_to(tree):
        raise SystemExit(f"python with PYTHONPATH={tree} imports {got}, not the tree's recsvc")


def _cli(tree: Path, args: Sequence[str], log: Path, extra: dict[str, str] | None = None) -> None:
    """``python -m recsvc.cli ARGS`` of ``tree``, output to ``log``; exits naming the log if it fails."""
    with log.open("wb") as out:
        rc = subprocess.run(
            [sys.executable, "-m", "recsvc.cli", *args], cwd=tree, env=_env(tree, extra), stdout=out, stderr=out
        ).returncode
    if rc != 0:
        raise SystemExit(f"`recsvc {' '.join(args[:1])}` in {tree} failed ({rc}); see {log}")


def _stamp(**parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def prepare_demo(after: Tree, work: Path, users: int, items: int, days: int) -> Path:
    """The shared demo app, made by the after tree's ``recsvc demo-data`` (kept while its stamp holds)."""
    demo = work / "demo"
    stamp = _stamp(users=users, items=items, days=days, seed=DEMO_SEED, code=after.code)
    if (demo / "stamp").exists() and (demo / "stamp").read_text() == stamp and not after.dirty:
        print(f"demo app: reusing {demo}", flush=True)
        return demo
    shutil.rmtree(demo, ignore_errors=True)
    demo.mkdir(parents=True)
    t0 = time.perf_counter()
    args = ["demo-data", "-q", "--out", str(demo), "--users", str(users), "--items", str(items)]
    _cli(after.path, [*args, "--days", str(days), "--seed", str(DEMO_SEED)], work / "demo-data.log")
    (demo / "stamp").write_text(stamp)
    print(f"demo app: {users} users, {items} items, {days} days in {time.perf_counter() - t0:.0f} s", flush=True)
    return demo


def prepare_tree(tree: Tree, demo: Path, work: Path) -> tuple[Path, Path]:
    """The tree's models and store, trained by its own ``recsvc train --import-store`` from ``demo``."""
    root = work / tree.name
    store, models = root / "store.db", root / "models"
    stamp = _stamp(code=tree.code, demo=(demo / "stamp").read_text())
    if (root / "stamp").exists() and (root / "stamp").read_text() == stamp and not tree.dirty:
        print(f"{tree.name}: reusing the models and store in {root}", flush=True)
        return store, models
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    t0 = time.perf_counter()
    files = [
        "--events",
        str(demo / "events.csv.gz"),
        "--items",
        str(demo / "items.csv"),
        "--users",
        str(demo / "users.csv"),
    ]
    paths = {"RECSVC_PATHS_STORE": str(store), "RECSVC_PATHS_MODELS_DIR": str(models)}
    _cli(tree.path, ["train", "-q", *files, "--import-store"], root / "train.log", paths)
    (root / "stamp").write_text(stamp)
    print(f"{tree.name}: trained and imported in {time.perf_counter() - t0:.0f} s ({root})", flush=True)
    return store, models


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _copy_store(store: Path, dest: Path) -> Path:
    """A fresh copy of the SQLite store (with its WAL files, if the trainer left any)."""
    dest.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        src = Path(f"{store}{suffix}")
        if src.exists():
            shutil.copy2(src, dest / f"{store.name}{suffix}")
    return dest / store.name


def _count(store: Path, table: str) -> int:
    """Rows in ``table`` (-1 when the store has no such table)."""
    with closing(sqlite3.connect(store)) as db:
        if db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (table,)).fetchone() is None:
            return -1
        return int(db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])  # table: one of two fixed names


def _all_serving(target: str, connections: int, timeout_s: float) -> bool:
    """SERVING on ``connections`` fresh connections in a row: with several processes on one port
    (SO_REUSEPORT) one answering SERVING says nothing about the others."""
    deadline = time.monotonic() + timeout_s
    streak = 0
    while time.monotonic() < deadline and streak < connections:
        with grpc.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)]) as ch:
            try:
                r = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=2)
                streak = streak + 1 if r.status == health_pb2.HealthCheckResponse.SERVING else 0
            except grpc.RpcError:
                streak = 0
        if streak == 0:
            time.sleep(0.5)
    return streak >= connections


def _serve(tree: Tree, store: Path, models: Path, processes: int, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = _env(
        tree.path,
        {
            "RECSVC_PATHS_STORE": str(store),
            "RECSVC_PATHS_MODELS_DIR": str(models),
            # No LLM for either tree: copy falls back to templates at once (nothing listens there).
            "RECSVC_COPY_BASE_URL": f"http://127.0.0.1:{_free_port()}/v1",
            "RECSVC_ENGINE_RELOAD_INTERVAL_S": "0",
        },
    )
    cmd = [sys.executable, "-m", "recsvc.cli", "serve", "--port", str(port), "--processes", str(processes)]
    # Its own session, so that the server and its worker processes can be stopped as one group.
    proc = subprocess.Popen(
        cmd, cwd=tree.path, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True
    )
    target = f"127.0.0.1:{port}"
    if not (wait_serving(target, timeout_s=600) and _all_serving(target, 4 * processes, 120)):
        stop_server(proc)
        raise SystemExit(f"{tree.name} server never SERVING; see {log}")
    return proc, target


def _load(
    target: str, user_sets: list[list[str]], rate: float, seconds: float, reserve: bool
) -> tuple[list[float], int]:
    """The open loop of load_recommend.py, ``rate`` split evenly over one client process per user set."""
    procs = len(user_sets)
    lat, errors, _ = _run(_open_loop, [(target, u, rate / procs, seconds) for u in user_sets], reserve=reserve)
    return lat, errors


def one_session(
    tree: Tree, rnd: int, base: tuple[Path, Path], args: argparse.Namespace, users: list[str], runs: Path
) -> list[Measure]:
    """Start the tree's server on a fresh store copy, warm up, measure each mode, stop; drop the copy."""
    run_dir = runs / f"{tree.name}-{rnd}"
    shutil.rmtree(run_dir, ignore_errors=True)
    store = _copy_store(base[0], run_dir)
    proc, target = _serve(tree, store, base[1], args.processes, run_dir / "serve.log")
    out: list[Measure] = []
    try:
        # Plain requests over all users, from every client process alike.
        plain_sets = [users] * args.client_procs
        if args.warmup > 0:
            _load(target, plain_sets, args.rate, args.warmup, reserve=False)
        # Reserving requests: the users shuffled once (the same order every round, both trees) and
        # dealt to the client processes, so no two processes book for the same user.
        shuffled = random.Random(DEMO_SEED).sample(users, len(users))
        reserve_sets = [shuffled[i :: args.client_procs] for i in range(args.client_procs)]
        for mode in MODES:
            if mode == "reserve" and not tree.reserve:
                continue
            sends0, outcomes0 = _count(store, "sends"), _count(store, "outcome_sends")
            reserve = mode == "reserve"
            lat, errors = _load(target, reserve_sets if reserve else plain_sets, args.rate, args.seconds, reserve)
            sends1, outcomes1 = _count(store, "sends"), _count(store, "outcome_sends")
            m = Measure(
                tree=tree.name,
                mode=mode,
                round=rnd,
                requests=int(args.rate / args.client_procs * args.seconds) * args.client_procs,
                ok=len(lat),
                errors=errors,
                rate=len(lat) / args.seconds,
                p50_ms=statistics.median(lat) if lat else float("nan"),
                p99_ms=_pct(lat, 0.99),
                max_ms=max(lat, default=float("nan")),
                booked=sends1 - sends0,
                outcome_sends=outcomes1 - outcomes0 if outcomes0 >= 0 else -1,
                load1=os.getloadavg()[0],
            )
            out.append(m)
            print(
                f"  round {rnd} {tree.name:6} {mode:7}: {m.rate:5.0f} req/s, p50 {m.p50_ms:6.2f} ms, "
                f"p99 {m.p99_ms:7.2f} ms, max {m.max_ms:7.1f} ms, errors {m.errors}, booked {m.booked}, "
                f"load {m.load1:.1f}",
                flush=True,
            )
    finally:
        stop_server(proc)
    store.unlink(missing_ok=True)  # the log stays; the 50 MB copy need not
    for suffix in ("-wal", "-shm"):
        Path(f"{store}{suffix}").unlink(missing_ok=True)
    return out


def abba(rounds: int) -> list[tuple[int, str]]:
    """(round, tree) in ABBA order: before, after, after, before, before, after, ..."""
    order: list[tuple[int, str]] = []
    for r in range(rounds):
        pair = ["before", "after"] if r % 2 == 0 else ["after", "before"]
        order.extend((r + 1, t) for t in pair)
    return order


def summarize(measures: list[Measure]) -> list[dict[str, Any]]:
    """Per mode and tree: medians over rounds, and the ratio of the after tree's median p99 to the before's."""
    rows: list[dict[str, Any]] = []
    for mode in MODES:
        by_tree: dict[str, dict[str, Any]] = {}
        for tree in ("before", "after"):
            ms = [m for m in measures if m.mode == mode and m.tree == tree]
            if not ms:
                continue
            by_tree[tree] = {
                "mode": mode,
                "tree": tree,
                "rounds": len(ms),
                "rate": statistics.median(m.rate for m in ms),
                "p50_ms": statistics.median(m.p50_ms for m in ms),
                "p99_ms": statistics.median(m.p99_ms for m in ms),
                "p99_rounds_ms": [round(m.p99_ms, 2) for m in ms],
                "errors": sum(m.errors for m in ms),
                "booked": statistics.median(m.booked for m in ms),
            }
        if "before" in by_tree and "after" in by_tree:
            before, after = by_tree["before"], by_tree["after"]
            after["p50_ratio"] = after["p50_ms"] / before["p50_ms"]
            after["p99_ratio"] = after["p99_ms"] / before["p99_ms"]
        rows.extend(by_tree.values())
    return rows


def print_table(summary: list[dict[str, Any]], trees: dict[str, Tree], rate: float) -> None:
    print(f"\n### Recommend at {rate:.0f} requests/s, the before tree and the after tree (medians over rounds)\n")
    cols = ("mode", "tree", "rounds", "req/s done", "p50 ms", "p99 ms", "p99 per round ms", "errors", "booked/round")
    print(f"| {' | '.join(cols)} | p99 after/before |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in summary:
        t = trees[r["tree"]]
        label = f"{r['tree']} ({t.commit[:7]}{', modified' if t.dirty else ''})"
        ratio = (
            f"**{r['p99_ratio']:.2f}x**" if "p99_ratio" in r else "1.00x (baseline)" if r["tree"] == "before" else "n/a"
        )
        per_round = ", ".join(f"{x:.1f}" for x in r["p99_rounds_ms"])
        print(
            f"| {r['mode']} | {label} | {r['rounds']} | {r['rate']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | "
            f"{per_round} | {r['errors']} | {r['booked']:.0f} | {ratio} |"
        )
    print()
    for r in summary:
        if "p99_ratio" in r:
            within = "within" if r["p99_ratio"] <= 1.10 else "NOT within"
            print(f"{r['mode']}: p99 after/before {r['p99_ratio']:.2f}x, {within} the 10% goal")
    if not trees["before"].reserve:
        print("The before tree's RecommendRequest has no `reserve`: it ran plain Recommend only.")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", default="/work/bench-before", help="the tree before attribution (e23bf33)")
    ap.add_argument("--after", default=str(REPO), help="the tree with attribution (default: this checkout)")
    ap.add_argument("--work", default=str(REPO / "var" / "bench" / "attribution"), help="demo app, models, logs")
    ap.add_argument("--users", type=int, default=2000, help="demo users")
    ap.add_argument("--items", type=int, default=300, help="demo items")
    ap.add_argument("--days", type=int, default=60, help="demo days")
    ap.add_argument("--rounds", type=int, default=4, help="rounds per tree, ABBA")
    ap.add_argument("--seconds", type=float, default=30.0, help="measured seconds per mode and round")
    ap.add_argument("--warmup", type=float, default=10.0, help="plain requests before measuring, seconds")
    ap.add_argument("--rate", type=float, default=300.0, help="open-loop requests per second")
    ap.add_argument("--processes", type=int, default=2, help="server processes")
    ap.add_argument("--client-procs", type=int, default=2, help="load generator processes")
    ap.add_argument("--json", default="", help="write the raw figures here too")
    args = ap.parse_args()
    work = Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    trees = {"before": _tree("before", Path(args.before)), "after": _tree("after", Path(args.after))}
    for t in trees.values():
        ensure_protos(t.path)
        check_import(t.path)
        print(
            f"{t.name}: {t.path} at {t.commit[:7]}{' (modified)' if t.dirty else ''}, reserve={t.reserve}", flush=True
        )
    demo = prepare_demo(trees["after"], work, args.users, args.items, args.days)
    bases = {name: prepare_tree(t, demo, work) for name, t in trees.items()}
    users = _users(str(demo / "users.csv"), n=args.users)
    order = abba(args.rounds)
    per_session = args.warmup + args.seconds * len(MODES) + 25  # + start-up and the stop, roughly
    print(f"{len(order)} sessions in ABBA order, about {len(order) * per_session / 60:.0f} min", flush=True)
    measures: list[Measure] = []
    t0 = time.perf_counter()
    for i, (rnd, name) in enumerate(order, 1):
        print(f"session {i}/{len(order)}: {name}, round {rnd} ({time.perf_counter() - t0:.0f} s in)", flush=True)
        measures.extend(one_session(trees[name], rnd, bases[name], args, users, work / "runs"))
    summary = summarize(measures)
    print_table(summary, trees, args.rate)
    if args.json:
        out = Path(args.json)
        out.parent.mkdir(parents=True, exist_ok=True)
        doc = {
            "args": vars(args),
            "trees": {k: {**asdict(t), "path": str(t.path)} for k, t in trees.items()},
            "measures": [asdict(m) for m in measures],
            "summary": summary,
        }
        out.write_text(json.dumps(doc, indent=1))
        print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
