"""Batch jobs: train every model from canonical files, load the store, warm the copy cache.

``recsvc train`` writes new versions under ``models/<name>/<version>/``; a running server picks
them up on its next reload check and keeps the old ones if the new ones fail to load.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd

from recsvc.data.convert import Dataset, load_dataset
from recsvc.errors import InvalidArgument
from recsvc.settings import Settings

logger = logging.getLogger(__name__)


def train_all(
    settings: Settings,
    *,
    events: str,
    items: str | None,
    users: str | None,
    only: tuple[str, ...] = (),
    import_store: bool = False,
    progress: bool = True,
    dask_client: Any = None,
) -> dict[str, Path]:
    """Train the lifecycle, recs and send-time models (or ``only`` some) on one data set.

    With ``dask_client`` (a ``distributed.Client``) the lifecycle models' boosting runs on its cluster
    with ``lightgbm.dask``; their features, and the recs and send-time models, are still computed here."""
    users_path = users if users and Path(users).exists() else None
    ds = load_dataset(events, items=items if items and Path(items).exists() else None, users=users_path)
    if ds.events.empty:
        raise InvalidArgument(f"{events}: no events to train on", field="events")
    models_dir = Path(settings.paths.models_dir)
    wanted = only or ("lifecycle", "recs", "sendtime")
    out: dict[str, Path] = {}
    if import_store:
        _import_into_store(settings, ds, items, users_path)
    if "lifecycle" in wanted:
        from recsvc.lifecycle.train import train_lifecycle

        out["lifecycle"] = train_lifecycle(
            ds.events,
            out_dir=models_dir / "lifecycle",
            horizon_days=settings.lifecycle.horizon_days,
            config=settings.lifecycle,
            progress=progress,
            client=dask_client,
        )
    if "recs" in wanted:
        if ds.items is None:
            raise InvalidArgument("training recs needs an items file with titles (--items)", field="items")
        from recsvc.recs.embeddings import SentenceTransformerEncoder
        from recsvc.recs.training import train_recs

        encoder = SentenceTransformerEncoder(settings.recs.embedding_model or None)
        out["recs"] = train_recs(
            ds.events,
            ds.items,
            out_dir=models_dir / "recs",
            encoder=encoder,
            config=settings.recs,
            progress=progress,
            users=ds.users,
        )
    if "sendtime" in wanted:
        from recsvc.timing.sendtime import SendTimeModel

        cutoff = ds.events["ts"].max() + pd.Timedelta(seconds=1)
        model = SendTimeModel.fit(ds.events, ds.users, cutoff=cutoff, config=settings.timing, progress=progress)
        out["sendtime"] = model.save_version(models_dir / "sendtime")
    return out


def import_log(
    settings: Settings,
    *,
    events: str,
    items: str | None,
    users: str | None,
    chunk_rows: int = 500_000,
    progress: bool = True,
) -> dict[str, Any]:
    """Load a canonical log of any size into the store: items and users first, then the events
    ``chunk_rows`` at a time, so memory holds one piece however long the log is. Idempotent by
    event id, so a load that stopped part way is finished by running it again."""
    from tqdm.auto import tqdm

    from recsvc.data.io import read_events_chunks, read_items, read_users
    from recsvc.frequency import open_ledger
    from recsvc.store import open_store

    store = open_store(settings.paths.store, settings.postgres)
    ledger = open_ledger(store, settings.frequency)
    accepted = duplicate = 0
    try:
        if items:
            store.upsert_items(_with_extra_columns(read_items(items), items))
        if users:
            store.upsert_users(_with_extra_columns(read_users(users), users))
        with tqdm(desc="import events", unit=" events", unit_scale=True, disable=not progress) as bar:
            for frame in read_events_chunks(events, chunk_rows):
                res = store.import_events(frame, derive=ledger.derive_from_events)
                accepted, duplicate = accepted + res.accepted, duplicate + res.duplicate
                bar.update(len(frame))
    finally:
        ledger.close()
        store.close()
    return {"store": store.location, "events_accepted": accepted, "events_already_there": duplicate}


def _import_into_store(settings: Settings, ds: Dataset, items: str | None, users_path: str | None) -> None:
    """Load the data set into the service's store, deriving opt-outs and feedback from its events."""
    from recsvc.frequency import open_ledger
    from recsvc.store import open_store

    store = open_store(settings.paths.store, settings.postgres)
    ledger = open_ledger(store, settings.frequency)  # its tables, for derive_from_events
    try:
        if ds.items is not None:
            store.upsert_items(_with_extra_columns(ds.items, items))
        if ds.users is not None:
            store.upsert_users(_with_extra_columns(ds.users, users_path))
        res = store.import_events(ds.events, derive=ledger.derive_from_events)
        logger.info("store %s: %d events imported (%d already there)", store.location, res.accepted, res.duplicate)
    finally:
        ledger.close()
        store.close()


def _with_extra_columns(frame: pd.DataFrame, path: str | None) -> pd.DataFrame:
    """Keep the file's extra columns (e.g. ``title_zh``) beside the canonical ones for the store."""
    if not path or not str(path).endswith((".csv", ".csv.gz", ".parquet", ".jsonl")):
        return frame
    from recsvc.data.io import read_table

    raw = read_table(path)
    extra = [c for c in raw.columns if c not in frame.columns]
    if not extra or len(raw) != len(frame):
        return frame
    return pd.concat([frame.reset_index(drop=True), raw[extra].reset_index(drop=True)], axis=1)


def warm_copy(settings: Settings, *, top_items: int, local_llm: bool = False, progress: bool = True) -> dict[str, Any]:
    """Write LLM variants for the most popular items ahead of time (stage x channel x locale)."""
    from contextlib import ExitStack

    from recsvc.catalog_text import item_text
    from recsvc.copy.cache_tables import backing_for
    from recsvc.copy.llm import OpenAILLM
    from recsvc.copy.types import CopyRequest
    from recsvc.copy.writer import Copywriter
    from recsvc.store import open_store
    from recsvc.vocabulary import CHANNELS, LOCALES, STAGES

    with ExitStack() as stack:
        # The store stays open while writing: on PostgreSQL the cache's table is reached through its pool.
        store = open_store(settings.paths.store, settings.postgres)
        stack.callback(store.close)
        rows = store.most_evented_items(top_items)
        if not rows:
            raise InvalidArgument(
                "the store has no items with events; run `recsvc train --import-store` first", field="store"
            )
        if local_llm:
            from recsvc.copy.local_server import LocalLLMServer

            llm = stack.enter_context(LocalLLMServer(settings.copy))
            settings = settings.with_overrides(copy={"base_url": llm.base_url})
        writer = Copywriter(settings.copy, OpenAILLM(settings.copy), cache_db=backing_for(store))
        reqs = [
            CopyRequest(
                user_id="",
                locale=loc,
                stage=stage,
                channel=ch,
                item_id=r["item_id"],
                item_title=item_text(r, loc).title,
                price=r["price"],
                currency=r["currency"],
                image_url=r["image_url"],
                video_url=r["video_url"],
                audio_url=r["audio_url"],
                item_url=settings.engine.item_url(r["item_id"]),
            )
            for r in rows
            for stage in STAGES
            for ch in CHANNELS[:3]
            for loc in LOCALES
        ]
        try:
            return writer.warm(reqs, progress=progress)
        finally:
            writer.close()
