"""``recsvc score`` and ``recsvc campaign``: every user (or a segment) to a Parquet file, resumable."""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from recsvc.batch.cluster import parse_dask
from recsvc.errors import FailedPrecondition, InvalidArgument
from recsvc.vocabulary import CHANNELS, TRIGGERS

if TYPE_CHECKING:
    from recsvc.batch.work import BatchJob

_Add = Callable[[str, Callable[[argparse.Namespace], int], str], argparse.ArgumentParser]


def batch_commands(add: _Add, positive_int: Callable[[str], int]) -> None:
    s = add("score", cmd_score, "Score every user (stage, churn risk with reasons, tier, best send slot) to Parquet.")
    _common(s, positive_int)

    c = add("campaign", cmd_campaign, "Decide pushes for every user of a segment: one Parquet row per candidate.")
    _common(c, positive_int)
    c.add_argument(
        "--segment",
        default="all",
        help="users to push, e.g. 'stage=churning and churn_risk>0.6' (fields: stage, predicted_stage, tier, "
        "city, locale with = != in; churn_risk with < <= > >= = !=); default all",
    )
    c.add_argument("--trigger", default="scheduled", choices=TRIGGERS, help="the trigger (default scheduled)")
    c.add_argument(
        "--channels", default="", help=f"allowed channels, comma-separated ({', '.join(CHANNELS)}); default all"
    )
    c.add_argument("--max-candidates", type=positive_int, default=3, help="candidates per user (default 3)")
    c.add_argument(
        "--copy", action="store_true", help="write copy for every candidate (LLM within its budget, else template)"
    )
    c.add_argument("--reserve", action="store_true", help="book each user's first candidate against the frequency caps")
    c.add_argument("--campaign-id", default="", help="campaign id, part of each dedupe key")
    c.add_argument(
        "--experiment",
        default="",
        metavar="ID",
        help="run under this declared experiment alone (the others are off for this run); every row names the "
        "user's experiment and arm, and the global control group is still held out",
    )


def _common(p: argparse.ArgumentParser, positive_int: Callable[[str], int]) -> None:
    p.add_argument("--out", required=True, help="output Parquet file")
    p.add_argument("--users", help="file of user ids (one per line, or CSV with user_id); default every known user")
    p.add_argument("--as-of", help="the time decided for, ISO 8601 (default now; a resumed run keeps its own)")
    p.add_argument("--chunk", type=positive_int, default=500, help="users per chunk written (default 500)")
    p.add_argument("--resume", action="store_true", help="finish an interrupted run writing to --out (in any mode)")
    p.add_argument(
        "--dask",
        type=parse_dask,
        metavar="local:N|tcp://HOST:PORT",
        help="compute the chunks on a Dask LocalCluster of N worker processes, or on the scheduler at "
        "tcp://HOST:PORT (same rows as without it)",
    )


def cmd_score(args: argparse.Namespace) -> int:
    from recsvc.batch.rows import SCORE_COLUMNS

    return _batch(args, "score", {}, SCORE_COLUMNS, None)


def cmd_campaign(args: argparse.Namespace) -> int:
    from recsvc.batch.rows import CAMPAIGN_COLUMNS, CampaignPlan
    from recsvc.batch.segment import Segment

    segment = Segment.parse(args.segment)
    channels = tuple(c.strip() for c in args.channels.split(",") if c.strip())
    unknown = [c for c in channels if c not in CHANNELS]
    if unknown:
        raise InvalidArgument(f"unknown channel {unknown[0]!r}; known: {', '.join(CHANNELS)}", field="channels")
    options = {
        "segment": segment.text,
        "trigger": args.trigger,
        "channels": list(channels),
        "max_candidates": args.max_candidates,
        "copy": args.copy,
        "reserve": args.reserve,
        "campaign_id": args.campaign_id,
        "experiment": args.experiment,
    }
    plan = CampaignPlan(
        segment, args.trigger, channels, args.max_candidates, args.copy, args.reserve, args.campaign_id, args.experiment
    )
    return _batch(args, "campaign", options, CAMPAIGN_COLUMNS, plan)


def _batch(args: argparse.Namespace, command: str, options: dict[str, Any], columns: Sequence[str], plan: Any) -> int:
    """Check the input, connect to the cluster if asked (an unreachable one fails before anything
    loads), then run the chunks here or on the cluster and print the summary."""
    if args.dask is None:
        job, ids, params = _prepare(args, command, options, plan)
        return _run_here(args, job, ids, params, columns)
    from recsvc.batch.cluster import dask_client

    _check_input(args)
    with dask_client(args.dask) as client:
        job, ids, params = _prepare(args, command, options, plan)
        return _run_on_cluster(args, client, job, ids, params, columns)


def _check_input(args: argparse.Namespace) -> None:
    from recsvc.batch.parts import interrupted_params
    from recsvc.batch.run import read_user_ids

    previous = interrupted_params(args.out) if args.resume else None
    _as_of(args.as_of, previous)
    if args.users:
        read_user_ids(args.users)


def _prepare(
    args: argparse.Namespace, command: str, options: dict[str, Any], plan: Any
) -> tuple[BatchJob, list[str], dict[str, Any]]:
    from recsvc.batch.parts import interrupted_params
    from recsvc.batch.run import ids_digest, read_user_ids
    from recsvc.batch.work import BatchJob
    from recsvc.cli import _settings
    from recsvc.engine.models import check_artifacts
    from recsvc.experiments.definitions import experiment_by_id

    previous = interrupted_params(args.out) if args.resume else None
    as_of = _as_of(args.as_of, previous)
    given = read_user_ids(args.users) if args.users else None  # bad input is refused before models load
    settings = _settings(args)
    if plan is not None and plan.experiment:
        only = experiment_by_id(_declared_experiments(settings), plan.experiment, field="experiment")
        settings = dataclasses.replace(settings, experiments=(only,)).with_overrides(engine={"api_experiments": False})
    # The newest version of each model, named exactly, so every process of the run loads the same ones.
    paths = check_artifacts(settings)
    ids = given if given is not None else _known_user_ids(settings)
    versions = {name: p.name for name, p in paths.items()}
    params = {
        "command": command,
        "as_of": as_of.isoformat(),
        "chunk": args.chunk,
        "users": len(ids),
        "users_digest": ids_digest(ids),
        "models": {**versions, "copy": settings.copy.model},
        **options,
    }
    # Workers need no API token; the store's password (if any) they do need, as the driver does.
    job = BatchJob(command, settings.with_overrides(api_token=""), paths, as_of, plan)
    return job, ids, params


def _declared_experiments(settings: Any) -> tuple[Any, ...]:
    """The settings file's experiments and those declared through the API."""
    from recsvc.experiments.registry import ExperimentRegistry
    from recsvc.store import open_store

    store = open_store(settings.paths.store, settings.postgres)
    try:
        return ExperimentRegistry(store, lambda: settings.experiments, use_stored=settings.engine.api_experiments).all()
    finally:
        store.close()


def _known_user_ids(settings: Any) -> list[str]:
    """Every user with at least one event, sorted (a stable order for the chunks)."""
    from recsvc.store import open_store

    store = open_store(settings.paths.store, settings.postgres)
    try:
        return sorted(store.history_signatures())
    finally:
        store.close()


def _as_of(text: str | None, previous: dict[str, Any] | None) -> datetime:
    if not text:
        return datetime.fromisoformat(previous["as_of"]) if previous else datetime.now(UTC)
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidArgument(f"not an ISO 8601 time: {text!r}", field="as_of") from None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def _parts(args: argparse.Namespace, params: dict[str, Any], columns: Sequence[str], ids: list[str]) -> Any:
    from recsvc.batch.parts import ChunkedParquet

    if not ids:
        raise FailedPrecondition("no users to process: the store has no events (import some first)", field="users")
    return ChunkedParquet(args.out, params, columns, resume=args.resume)


def _run_here(
    args: argparse.Namespace, job: BatchJob, ids: list[str], params: dict[str, Any], columns: Sequence[str]
) -> int:
    from recsvc.batch.engine import BatchEngine
    from recsvc.batch.run import run_chunks

    parts = _parts(args, params, columns, ids)
    engine = BatchEngine(job.settings)
    try:
        engine.load_models(job.model_paths)
        rows = lambda chunk: job.rows(engine, chunk)  # noqa: E731
        summary = run_chunks(ids, args.chunk, parts, rows, progress=not args.quiet, desc=job.command)
    finally:
        engine.close()
    print(json.dumps(_summary(summary), indent=2))
    return 0


def _run_on_cluster(
    args: argparse.Namespace,
    client: Any,
    job: BatchJob,
    ids: list[str],
    params: dict[str, Any],
    columns: Sequence[str],
) -> int:
    from recsvc.batch.run import run_chunks_dask

    parts = _parts(args, params, columns, ids)
    summary = run_chunks_dask(client, job, ids, args.chunk, parts, progress=not args.quiet, desc=job.command)
    print(json.dumps(_summary(summary), indent=2))
    return 0


def _summary(summary: Any) -> dict[str, Any]:
    out = dict(summary.__dict__)
    if out.get("workers", 1) == 1 and not out.get("worker_peak_rss_mb"):
        for key in ("workers", "worker_peak_rss_mb", "worker_busy", "compute_s"):
            out.pop(key, None)
    return out
