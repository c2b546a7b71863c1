"""The engine's shared counters and lazy encoder under many threads at once."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from recsvc.engine import engine as engine_mod
from recsvc.engine.counters import Counters, Version
from recsvc.engine.engine import Engine
from recsvc.engine.metrics import record_call
from recsvc.settings import load_settings

THREADS = 16
PER_THREAD = 2000


@pytest.fixture
def fast_switching() -> Iterator[None]:
    """Thread switches every microsecond, so an unlocked read-modify-write gets interleaved."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(old)


class _FakeEncoder:
    dim = 4

    def encode(self, texts: list[str]) -> np.ndarray:
        return np.zeros((len(texts), self.dim), dtype=np.float32)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    settings = load_settings(env={}).with_overrides(
        paths={"store": str(tmp_path / "db.sqlite"), "models_dir": str(tmp_path / "models")}
    )
    eng = Engine(settings, encoder=_FakeEncoder())  # type: ignore[arg-type]
    yield eng
    eng.close()


def _together(fn: Callable[[int], None], n: int = THREADS) -> list[BaseException]:
    """Run ``fn(i)`` on ``n`` threads started at once; returns what they raised."""
    errors: list[BaseException] = []
    start = threading.Barrier(n)

    def run(i: int) -> None:
        start.wait()
        try:
            fn(i)
        except BaseException as exc:  # collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def test_counters_sum_exactly_from_many_threads(fast_switching: None) -> None:
    c = Counters()
    v = Version()

    def work(i: int) -> None:
        for _ in range(PER_THREAD):
            c.inc("calls")
            c.inc(f"thread_{i}", 2)
            v.bump()

    assert _together(work) == []
    values = c.values()
    assert values["calls"] == THREADS * PER_THREAD
    assert all(values[f"thread_{i}"] == 2 * PER_THREAD for i in range(THREADS))
    assert v.value == THREADS * PER_THREAD


def test_engine_counts_every_call_and_metrics_never_raise_meanwhile(engine: Engine, fast_switching: None) -> None:
    done = threading.Event()
    metric_errors: list[BaseException] = []
    snapshots = 0

    def read_metrics() -> None:
        nonlocal snapshots
        while not done.is_set():
            try:
                engine.metrics()
                snapshots += 1
            except BaseException as exc:  # collected for the assertion
                metric_errors.append(exc)
                return

    reader = threading.Thread(target=read_metrics)
    reader.start()

    def work(i: int) -> None:
        counters = engine._counters
        for j in range(PER_THREAD // 4):
            record_call(counters, "recommend", time.perf_counter())
            record_call(counters, f"kind_{i}_{j % 50}", time.perf_counter())  # new names while metrics() iterates

    errors = _together(work)
    done.set()
    reader.join()
    assert errors == [] and metric_errors == []
    assert snapshots > 0
    values, _ = engine.metrics()
    assert values["recommend_calls"] == THREADS * (PER_THREAD // 4)
    assert sum(v for k, v in values.items() if k.startswith("kind_")) == THREADS * (PER_THREAD // 4)


def test_the_encoder_is_created_once_when_many_threads_ask_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    created: list[object] = []

    class SlowEncoder(_FakeEncoder):
        def __init__(self, name: str | None = None) -> None:
            time.sleep(0.05)  # loading a real model takes seconds: long enough for others to arrive
            created.append(self)

    monkeypatch.setattr(engine_mod, "SentenceTransformerEncoder", SlowEncoder)
    settings = load_settings(env={}).with_overrides(paths={"store": str(tmp_path / "db.sqlite")})
    eng = Engine(settings)
    try:
        seen: list[object] = []
        assert _together(lambda i: seen.append(eng.encoder), n=8) == []
        assert len(created) == 1
        assert all(e is created[0] for e in seen)
    finally:
        eng.close()
