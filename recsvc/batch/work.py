"""One chunk of a batch: what to compute (a :class:`BatchJob`) and the engine that computes it.

The job is the same object in every mode, and so is the function that turns a chunk into rows:
the single-process run calls it in this process, a Dask worker calls it in its own. Each process
loads the model set once (:func:`engine_for`, keyed by the store and the exact model versions) and
keeps it for every chunk it is given.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from recsvc.batch.engine import BatchEngine
from recsvc.batch.rows import CampaignPlan, campaign_rows, score_rows
from recsvc.settings import Settings


@dataclass(frozen=True)
class BatchJob:
    """A ``score`` or ``campaign`` run: its settings, exact model versions, time and plan."""

    command: str
    settings: Settings = field(repr=False)
    model_paths: dict[str, Path]
    as_of: datetime
    plan: CampaignPlan | None = None

    @property
    def engine_key(self) -> tuple[str, ...]:
        paths = (str(self.model_paths[name]) for name in sorted(self.model_paths))
        return (self.settings.paths.store, *paths)

    def rows(self, engine: BatchEngine, chunk: Sequence[str]) -> list[dict[str, Any]]:
        if self.plan is None:
            return score_rows(engine, chunk, self.as_of)
        engine.score_chunk(chunk, self.as_of, reasons=False)  # campaign rows show no churn reasons
        return campaign_rows(engine, chunk, self.as_of, self.plan)


_engines: dict[tuple[str, ...], BatchEngine] = {}
_engines_lock = threading.Lock()


def engine_for(job: BatchJob) -> BatchEngine:
    """This process's engine for ``job``'s store and model versions, loaded on first use."""
    with _engines_lock:
        engine = _engines.get(job.engine_key)
        if engine is None:
            for old in _engines.values():  # another run's models: one model set per process at a time
                old.close()
            _engines.clear()
            engine = BatchEngine(job.settings)
            engine.load_models(job.model_paths)
            _engines[job.engine_key] = engine
    return engine


@dataclass(frozen=True)
class ChunkResult:
    number: int
    users: int
    rows: list[dict[str, Any]]
    seconds: float  # time spent computing the rows in the worker (not waiting or moving them)


def chunk_task(job: BatchJob, number: int, chunk: Sequence[str]) -> ChunkResult:
    """Compute chunk ``number`` (the task a Dask worker runs; the driver writes the part)."""
    engine = engine_for(job)
    t0 = time.perf_counter()
    rows = job.rows(engine, chunk)
    return ChunkResult(number, len(chunk), rows, time.perf_counter() - t0)
