"""``recsvc score`` and ``recsvc campaign``: every user (or a segment) to a Parquet file, resumable."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from recsvc.errors import FailedPrecondition, InvalidArgument
from recsvc.vocabulary import CHANNELS, TRIGGERS

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


def _common(p: argparse.ArgumentParser, positive_int: Callable[[str], int]) -> None:
    p.add_argument("--out", required=True, help="output Parquet file")
    p.add_argument("--users", help="file of user ids (one per line, or CSV with user_id); default every known user")
    p.add_argument("--as-of", help="the time decided for, ISO 8601 (default now; a resumed run keeps its own)")
    p.add_argument("--chunk", type=positive_int, default=500, help="users per chunk written (default 500)")
    p.add_argument("--resume", action="store_true", help="finish an interrupted run writing to --out")


def cmd_score(args: argparse.Namespace) -> int:
    from recsvc.batch.rows import SCORE_COLUMNS, score_rows

    engine, ids, as_of, params = _prepare(args, "score", {})
    return _run(args, params, SCORE_COLUMNS, lambda chunk: score_rows(engine, chunk, as_of), ids, "score")


def cmd_campaign(args: argparse.Namespace) -> int:
    from recsvc.batch.rows import CAMPAIGN_COLUMNS, CampaignPlan, campaign_rows
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
    }
    engine, ids, as_of, params = _prepare(args, "campaign", options)
    plan = CampaignPlan(segment, args.trigger, channels, args.max_candidates, args.copy, args.reserve, args.campaign_id)
    return _run(
        args, params, CAMPAIGN_COLUMNS, lambda chunk: campaign_rows(engine, chunk, as_of, plan), ids, "campaign"
    )


def _prepare(
    args: argparse.Namespace, command: str, options: dict[str, Any]
) -> tuple[Any, list[str], datetime, dict[str, Any]]:
    from recsvc.batch.parts import interrupted_params
    from recsvc.batch.run import ids_digest, read_user_ids
    from recsvc.cli import _settings
    from recsvc.engine.engine import Engine

    previous = interrupted_params(args.out) if args.resume else None
    as_of = _as_of(args.as_of, previous)
    given = read_user_ids(args.users) if args.users else None  # bad input is refused before models load
    settings = _settings(args)
    Engine.check_artifacts(settings)
    engine = Engine(settings)
    engine.load_models()
    ids = given if given is not None else engine.known_user_ids()
    params = {
        "command": command,
        "as_of": as_of.isoformat(),
        "chunk": args.chunk,
        "users": len(ids),
        "users_digest": ids_digest(ids),
        "models": engine.versions(),
        **options,
    }
    return engine, ids, as_of, params


def _as_of(text: str | None, previous: dict[str, Any] | None) -> datetime:
    if not text:
        return datetime.fromisoformat(previous["as_of"]) if previous else datetime.now(UTC)
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidArgument(f"not an ISO 8601 time: {text!r}", field="as_of") from None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def _run(args: argparse.Namespace, params: dict[str, Any], columns: Any, rows: Any, ids: list[str], desc: str) -> int:
    from recsvc.batch.parts import ChunkedParquet
    from recsvc.batch.run import run_chunks

    if not ids:
        raise FailedPrecondition("no users to process: the store has no events (import some first)", field="users")
    parts = ChunkedParquet(args.out, params, columns, resume=args.resume)
    summary = run_chunks(ids, args.chunk, parts, rows, progress=not args.quiet, desc=desc)
    print(json.dumps(summary.__dict__, indent=2))
    return 0
