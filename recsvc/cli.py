"""``recsvc``: the command line. The only place that configures logging.

Every command answers bad input with one line on stderr and a non-zero exit (2 for usage and
data errors, 1 for anything unexpected), never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from recsvc.errors import InvalidArgument, RecsvcError
from recsvc.vocabulary import TRIGGERS

logger = logging.getLogger("recsvc.cli")

_OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def _settings(args: argparse.Namespace) -> Any:
    from recsvc.settings import load_settings

    return load_settings(getattr(args, "config", None))


def _date(value: str) -> Any:
    import pandas as pd

    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise argparse.ArgumentTypeError(f"not a date: {value!r} (want YYYY-MM-DD)") from None
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _positive_int(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from None
    if n <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {n}")
    return n


def _write_json(result: dict[str, Any], out: str | None) -> None:
    text = json.dumps(result, indent=2, ensure_ascii=False, default=str)
    print(text)
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(text + "\n", encoding="utf-8")


# ---- commands -------------------------------------------------------------------------------
def cmd_serve(args: argparse.Namespace) -> int:
    from recsvc.server.run import serve

    settings = _settings(args)
    overrides: dict[str, Any] = {}
    if args.port is not None:
        overrides["port"] = args.port
    if args.host is not None:
        overrides["host"] = args.host
    if args.processes is not None:
        overrides["processes"] = args.processes
    if args.metrics_port is not None:
        overrides["metrics_port"] = args.metrics_port
    if overrides:
        settings = settings.with_overrides(server=overrides)
    return serve(settings, local_llm=args.local_llm, show_sample=args.show_sample)


def cmd_demo_data(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from recsvc.data.demo import generate_demo

    # The demo's last day is today by default, so a freshly built demo looks alive to the server's clock.
    end = (
        args.end.to_pydatetime()
        if args.end is not None
        else datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    )
    paths = generate_demo(
        Path(args.out),
        n_users=args.users,
        n_items=args.items,
        days=args.days,
        seed=args.seed,
        end=end,
        progress=not args.quiet,
    )
    print(f"wrote {paths.events}, {paths.items}, {paths.users}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from contextlib import nullcontext

    from recsvc.training import train_all

    settings = _settings(args)
    if args.dask is not None:
        from recsvc.batch.cluster import dask_client

        if args.only and "lifecycle" not in args.only:
            raise InvalidArgument("--dask trains the lifecycle models only; add --only lifecycle", field="dask")

        cluster: Any = dask_client(args.dask)  # an unreachable scheduler fails before the data loads
    else:
        cluster = nullcontext(None)
    with cluster as client:
        out = train_all(
            settings,
            events=args.events,
            items=args.items,
            users=args.users,
            only=tuple(args.only or ()),
            import_store=args.import_store,
            progress=not args.quiet,
            dask_client=client,
        )
        if client is not None:
            from recsvc.batch.cluster import worker_peak_rss_mb

            logger.info("dask workers' peak RSS (MB): %s", worker_peak_rss_mb(client))
    for name, path in out.items():
        print(f"{name}: {path}")
    return 0


def _cutoff_list(value: str) -> list[Any]:
    dates = [_date(v.strip()) for v in value.split(",") if v.strip()]
    if not dates:
        raise argparse.ArgumentTypeError(f"no dates in {value!r} (want A,B,C)")
    if len(set(dates)) != len(dates):
        raise argparse.ArgumentTypeError(f"repeated cut-off in {value!r}")
    return sorted(dates)


def _item_first_seen(path: str | None) -> Any:
    """The items table's optional ``first_seen`` column (item_id -> UTC time), else None."""
    if not path or Path(path).is_dir() or path.endswith(".item"):
        return None
    import pandas as pd

    from recsvc.data.io import read_table

    raw = read_table(path)
    if "first_seen" not in raw.columns:
        return None
    when = pd.to_datetime(raw["first_seen"], utc=True, errors="coerce")
    if when.isna().any():
        row = int(when.isna().to_numpy().argmax())
        raise InvalidArgument(
            f"{path}: row {row + 1}: unparsable first_seen {raw['first_seen'].iloc[row]!r}", field="items"
        )
    return pd.Series(when.to_numpy(), index=raw["item_id"].astype(str).str.strip())


def _evaluator(
    args: argparse.Namespace, ds: Any
) -> tuple[Callable[[Any], dict[str, Any]], Callable[[Any], None], tuple[str, ...]]:
    """One cut-off's evaluation for ``args.what``, its cheap check that a cut-off can be judged, and
    the metrics its margins are summarised on."""
    from dataclasses import replace

    progress = not args.quiet
    # the evaluated model is trained with the settings a server would use (--config, RECSVC_*)
    settings = _settings(args)
    if args.what == "churn":
        from recsvc.evaluation import churn

        lifecycle = replace(settings.lifecycle, horizon_days=args.horizon_days)
        return (
            lambda c: churn.evaluate_churn(ds, c, args.horizon_days, progress=progress, config=lifecycle),
            lambda c: churn.check_cutoff(ds, c, args.horizon_days),
            churn.METRICS,
        )
    if args.what == "recs":
        from recsvc.evaluation import recs
        from recsvc.recs.embeddings import SentenceTransformerEncoder

        if ds.items is None:
            raise InvalidArgument("recs evaluation needs item titles: pass --items FILE", field="items")
        encoder = recs.cached(SentenceTransformerEncoder(settings.recs.embedding_model or None))
        first_seen = _item_first_seen(args.items)

        def one(c: Any) -> dict[str, Any]:
            return recs.evaluate_recs(
                ds,
                c,
                args.horizon_days,
                encoder=encoder,
                progress=progress,
                recent_days=args.recent_days,
                include_new_items=args.include_new_items,
                item_first_seen=first_seen,
                config=settings.recs,
            )

        def check(c: Any) -> None:
            recs.check_cutoff(ds, c, args.horizon_days, recent_days=args.recent_days, item_first_seen=first_seen)

        return one, check, recs.METRICS
    from recsvc.evaluation import sendtime

    return (
        lambda c: sendtime.evaluate_sendtime(ds, c, progress=progress, config=settings.timing),
        lambda c: sendtime.check_cutoff(ds, c),
        sendtime.METRICS,
    )


def cmd_evaluate(args: argparse.Namespace) -> int:
    from recsvc.data.convert import load_dataset
    from recsvc.evaluation.cutoffs import run_cutoffs

    ds = load_dataset(args.events, items=getattr(args, "items", None), users=getattr(args, "users", None))
    evaluate, check, metrics = _evaluator(args, ds)
    if args.cutoffs is not None:
        result = run_cutoffs(evaluate, args.cutoffs, metrics, check)
        if getattr(args, "include_new_items", False):
            per = result["per_cutoff"]
            from recsvc.evaluation.cutoffs import summarize

            result["summary_with_new_items"] = summarize([r["with_new_items"] for r in per], metrics)
    else:
        result = evaluate(args.cutoff)
    _write_json(result, args.json)
    return 0


def cmd_recommend(args: argparse.Namespace) -> int:
    from recsvc.client import recommend_once

    settings = _settings(args)
    target = args.target or f"{settings.server.host}:{settings.server.port}"
    result = recommend_once(
        target,
        args.user,
        max_candidates=args.n,
        trigger=args.trigger,
        locale=args.locale,
        write_copy=not args.no_copy,
        token=os.environ.get("RECSVC_API_TOKEN", ""),
        timeout_s=args.timeout,
        tls_ca=args.tls_ca,
    )
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        from recsvc.client import format_recommendation

        print(format_recommendation(result))
    return 0


def cmd_copy_warm(args: argparse.Namespace) -> int:
    from recsvc.training import warm_copy

    settings = _settings(args)
    stats = warm_copy(settings, top_items=args.top_items, local_llm=args.local_llm, progress=not args.quiet)
    print(json.dumps(stats, indent=2))
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    from recsvc.data.convert import load_dataset
    from recsvc.data.io import write_table

    ds = load_dataset(args.source)
    out = Path(args.out)
    write_table(ds.events, out / "events.csv.gz")
    if ds.items is not None:
        write_table(ds.items, out / "items.csv")
    if ds.users is not None:
        write_table(ds.users, out / "users.csv")
    print(f"wrote canonical tables to {out}")
    return 0


def cmd_mcp(args: argparse.Namespace) -> int:
    from recsvc.mcp_server import run_mcp

    settings = _settings(args)
    return run_mcp(args.target or f"{settings.server.host}:{settings.server.port}")


def cmd_db(args: argparse.Namespace) -> int:
    from recsvc.store.admin import db_migrate, db_status

    settings = _settings(args)
    if args.action == "import":
        from recsvc.training import import_log

        if not args.events:
            raise InvalidArgument("`recsvc db import` needs --events", field="events")
        loaded = import_log(
            settings,
            events=args.events,
            items=args.items,
            users=args.users,
            chunk_rows=args.chunk_rows,
            progress=not args.quiet,
        )
        _write_json(loaded, None)
        return 0
    run = db_migrate if args.action == "migrate" else db_status
    _write_json(run(settings.paths.store, settings.postgres), None)
    return 0


# ---- parser ---------------------------------------------------------------------------------
class _Parser(argparse.ArgumentParser):
    """Usage errors in one line (with a pointer to --help), not argparse's two-line usage dump."""

    def error(self, message: str) -> Any:
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


_Add = Callable[[str, Callable[[argparse.Namespace], int], str], argparse.ArgumentParser]


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="recsvc",
        description="recsvc: for every app user, what to push, on which channel, in what words and when.",
        epilog="Quick start: `recsvc demo-data && recsvc train --import-store && recsvc serve`, then in another "
        "shell `recsvc recommend --user u00001`.",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    def add(name: str, fn: Callable[[argparse.Namespace], int], help_: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help_, description=help_)
        sp.add_argument("--config", help="TOML settings file (else $RECSVC_CONFIG; env RECSVC_* overrides)")
        sp.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
        sp.set_defaults(fn=fn)
        return sp

    for add_commands in (_serving_commands, _data_commands, _evaluate_command, _client_commands):
        add_commands(add)
    from recsvc.batch.commands import batch_commands

    batch_commands(add, _positive_int)
    from recsvc.report.commands import report_command

    report_command(add)
    from recsvc.simulate.commands import simulate_command

    simulate_command(add, _positive_int)
    return p


def _serving_commands(add: _Add) -> None:
    s = add("serve", cmd_serve, "Serve the gRPC API (health NOT_SERVING until models are loaded).")
    s.add_argument("--port", type=int, help="port (default 50051; 0 picks a free one)")
    s.add_argument("--host", help="address to bind (default 127.0.0.1)")
    s.add_argument("--processes", type=_positive_int, help="server processes sharing the port")
    s.add_argument(
        "--metrics-port",
        type=int,
        help="serve Prometheus metrics at http://HOST:PORT/metrics (default server.metrics_port; 0 = off)",
    )
    s.add_argument(
        "--local-llm",
        action="store_true",
        help="start the embedded llama.cpp server (Gemma 3 270M) as a child process for copy",
    )
    s.add_argument("--show-sample", action="store_true", help="log one sample recommendation once serving")

    c = add("copy", cmd_copy_warm, "Copy jobs: `recsvc copy warm` writes LLM variants for the top items ahead of time.")
    c.add_argument("action", choices=("warm",))
    c.add_argument("--top-items", type=_positive_int, default=50)
    c.add_argument("--local-llm", action="store_true", help="start the embedded llama.cpp server for the job")

    db = add(
        "db",
        cmd_db,
        "The store: `recsvc db status` (schema version, pending steps), `recsvc db migrate` (apply them), "
        "`recsvc db import --events F` (load a canonical log of any size, piece by piece, without training).",
    )
    db.add_argument("action", choices=("status", "migrate", "import"))
    db.add_argument("--events", help="import: canonical events file (.csv[.gz], .jsonl, .parquet)")
    db.add_argument("--items", help="import: items file, loaded first (optional)")
    db.add_argument("--users", help="import: users file, loaded first (optional)")
    db.add_argument("--chunk-rows", type=_positive_int, default=500_000, help="import: events per piece")


def _data_commands(add: _Add) -> None:
    d = add("demo-data", cmd_demo_data, "Generate the seeded demo e-commerce app (canonical CSV files).")
    d.add_argument("--out", default="var/demo", help="output folder (default var/demo)")
    d.add_argument("--users", type=_positive_int, default=5000)
    d.add_argument("--items", type=_positive_int, default=1000)
    d.add_argument("--days", type=_positive_int, default=120)
    d.add_argument("--seed", type=int, default=42)
    d.add_argument("--end", type=_date, help="last day of the simulated log (default: today, UTC)")

    t = add("train", cmd_train, "Train lifecycle, recs and send-time models from canonical files into models/.")
    t.add_argument("--events", default="var/demo/events.csv.gz", help="events file (canonical or raw CDNOW/ML)")
    t.add_argument("--items", default="var/demo/items.csv", help="items file")
    t.add_argument("--users", default="var/demo/users.csv", help="users file (optional)")
    t.add_argument("--only", action="append", choices=("lifecycle", "recs", "sendtime"), help="train only these")
    t.add_argument("--import-store", action="store_true", help="also load the files into the service's store")
    from recsvc.batch.cluster import parse_dask

    t.add_argument(
        "--dask",
        type=parse_dask,
        metavar="local:N|tcp://HOST:PORT",
        help="fit the lifecycle models with lightgbm.dask on a LocalCluster of N worker processes, or on the "
        "scheduler at tcp://HOST:PORT (their features are still computed here)",
    )

    v = add("convert", cmd_convert, "Convert raw CDNOW / MovieLens files to the canonical tables.")
    v.add_argument("source", help="CDNOW_*.txt or the ml-100k folder")
    v.add_argument("--out", required=True, help="output folder")


def _evaluate_command(add: _Add) -> None:
    e = add("evaluate", cmd_evaluate, "Evaluate a model against simple baselines on real data (see DATA.md).")
    esub = e.add_subparsers(dest="what", required=True, metavar="WHAT", parser_class=_Parser)
    for what, help_ in (
        (
            "churn",
            "churn AUC vs BG/NBD and Pareto/NBD (P(no purchase in the horizon), -E[purchases], 1-P(alive)), "
            "recency, frequency",
        ),
        ("recs", "Recall@10/NDCG@10 vs popularity (all time, recent), tuned ALS, EASE, item-kNN"),
        ("sendtime", "hit@1h vs the population's and the user's best hour (+/- 1 h window)"),
    ):
        w = esub.add_parser(what, help=help_, description=help_)
        w.add_argument("--events", required=True, help="events: canonical file, CDNOW_*.txt, or the ml-100k folder")
        when = w.add_mutually_exclusive_group(required=True)
        when.add_argument("--cutoff", type=_date, help="cut-off date, e.g. 1998-03-01")
        when.add_argument(
            "--cutoffs",
            type=_cutoff_list,
            help="several cut-offs, e.g. 1998-01-01,1998-02-01,1998-03-01: per cut-off results, then the mean "
            "and a 95%% t-interval (over cut-offs) of recsvc's margin over each baseline",
        )
        if what != "sendtime":
            w.add_argument("--horizon-days", required=True, type=_positive_int, help="days judged after the cut-off")
        if what == "recs":
            w.add_argument(
                "--items", help="items file with titles (ml-100k.item works too); optional first_seen column"
            )
            w.add_argument(
                "--recent-days", type=_positive_int, default=30, help="window of the recent-popularity baseline (30)"
            )
            w.add_argument(
                "--include-new-items",
                action="store_true",
                help="also report, separately, a catalog that includes items first seen after the cut-off",
            )
        w.add_argument("--users", help="users file (time zones)")
        w.add_argument("--json", help="also write the result to this file")
        w.add_argument("--config", help="TOML settings file")
        w.add_argument("-q", "--quiet", action="store_true", help="no progress bars")


def _client_commands(add: _Add) -> None:
    r = add("recommend", cmd_recommend, "Ask a running server for one user's push candidates.")
    r.add_argument("--user", required=True, help="user id (an unknown id is a new user: cold start)")
    r.add_argument("--target", help="HOST:PORT of the server (default from settings)")
    r.add_argument("-n", type=_positive_int, default=3, help="how many candidates (default 3)")
    r.add_argument(
        "--trigger",
        default="scheduled",
        choices=TRIGGERS,
        help="what prompted the call (default scheduled)",
    )
    r.add_argument("--locale", default="", help="show items, reasons and copy in this locale (default the user's)")
    r.add_argument("--no-copy", action="store_true", help="skip message copy")
    r.add_argument("--json", action="store_true", help="machine-readable output")
    r.add_argument("--timeout", type=float, default=10.0, help="deadline in seconds")
    r.add_argument("--tls-ca", help="CA certificate to verify a TLS server")

    m = add("mcp", cmd_mcp, "Run an MCP server (stdio) that offers recsvc's abilities to a chat AI as tools.")
    m.add_argument("--target", help="HOST:PORT of the recsvc gRPC server")


def main(argv: Sequence[str] | None = None) -> int:
    for k, v in _OFFLINE_ENV.items():
        os.environ.setdefault(k, v)
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("faiss.loader", "sentence_transformers", "httpx", "httpx2", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return int(args.fn(args))
    except RecsvcError as exc:
        print(f"recsvc {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the user gets one line; the log keeps the traceback at debug level
        logger.debug("unexpected error", exc_info=True)
        first = str(exc).splitlines()[0] if str(exc) else ""
        print(f"recsvc {args.command}: unexpected error: {type(exc).__name__}: {first}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
