"""``recsvc score`` and ``recsvc campaign`` on a real Dask LocalCluster give the single-process rows."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from recsvc.batch.parts import ChunkedParquet
from recsvc.cli import main
from recsvc.store import open_store
from tests.grpc.conftest import Trained

AS_OF = "2026-12-01T09:30:00+00:00"
CHUNK = "7"


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    """One LocalCluster of 2 worker processes for the module's runs that pass ``--dask tcp://...``."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, memory_limit=0, dashboard_address=None) as cluster:
        yield str(cluster.scheduler_address)


@pytest.fixture()
def config(trained: Trained, tmp_path: Path) -> str:
    """Settings over a copy of the trained store, so bookings made here stay here."""
    s = trained.settings
    store = tmp_path / "store.db"
    with sqlite3.connect(s.paths.store) as src, sqlite3.connect(store) as dst:
        src.backup(dst)
    path = tmp_path / "recsvc.toml"
    path.write_text(
        f'[paths]\nstore = "{store}"\nmodels_dir = "{s.paths.models_dir}"\n'
        f'[copy]\nbase_url = "{s.copy.base_url}"\ntimeout_s = 0.5\nmax_retries = 0\n',
        encoding="utf-8",
    )
    return str(path)


@pytest.fixture()
def users(trained: Trained, tmp_path: Path) -> Path:
    """30 users: active buyers, quiet ones and one the store does not know (cold start)."""
    store = open_store(trained.settings.paths.store)
    try:
        ids = sorted(store.history_signatures())
    finally:
        store.close()
    path = tmp_path / "users.txt"
    path.write_text("\n".join([*ids[:29], "nobody-knows-me"]) + "\n", encoding="utf-8")
    return path


def _run(command: str, config: str, users: Path, out: Path, *extra: str) -> int:
    argv = [command, "--config", config, "-q", "--out", str(out), "--users", str(users), "--as-of", AS_OF]
    return main([*argv, "--chunk", CHUNK, *extra])


def _same_rows(a: Path, b: Path) -> None:
    left, right = pd.read_parquet(a), pd.read_parquet(b)
    assert len(left) > 0
    pd.testing.assert_frame_equal(left, right, check_exact=False, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("command", ["campaign", "score"])
def test_a_local_cluster_gives_the_single_process_rows(
    command: str, config: str, users: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    here, there = tmp_path / "here.parquet", tmp_path / "there.parquet"
    assert _run(command, config, users, here) == 0
    assert _run(command, config, users, there, "--dask", "local:2") == 0
    _same_rows(here, there)
    assert '"workers": 2' in capsys.readouterr().out


def test_reservations_from_parallel_workers_are_exact(config: str, users: Path, tmp_path: Path, scheduler: str) -> None:
    store = sqlite3.connect(Path(config).with_name("store.db"))
    (last,) = store.execute("SELECT COALESCE(MAX(id), 0) FROM sends").fetchone()
    out = tmp_path / "booked.parquet"
    argv = ("--reserve", "--campaign-id", "dask-test", "--max-candidates", "2")
    assert _run("campaign", config, users, out, *argv, "--dask", scheduler) == 0
    rows = pd.read_parquet(out)
    booked = rows[(rows["rank"] == 1) & (rows["suppressed"] == "") & (rows["channel"] != "")]
    assert len(booked) > 0
    new = [k for (k,) in store.execute("SELECT dedupe_key FROM sends WHERE id > ?", (last,))]
    assert sorted(new) == sorted(booked["dedupe_key"])  # one send per booked row: none twice, none lost

    again = tmp_path / "again.parquet"
    assert _run("campaign", config, users, again, *argv, "--dask", scheduler) == 0
    assert store.execute("SELECT COUNT(*) FROM sends WHERE id > ?", (last,)).fetchone()[0] == len(new)
    store.close()


def _interrupt_after(parts_written: int) -> Callable[[ChunkedParquet, int, list[dict[str, Any]]], None]:
    """A ``ChunkedParquet.write`` that stands in for Ctrl-C once ``parts_written`` parts are written."""
    real = ChunkedParquet.write
    written = [0]

    def write(parts: ChunkedParquet, number: int, rows: list[dict[str, Any]]) -> None:
        if written[0] == parts_written:
            raise KeyboardInterrupt
        written[0] += 1
        real(parts, number, rows)

    return write


@pytest.mark.parametrize(("first", "then"), [("dask", "dask"), ("dask", "here"), ("here", "dask")])
def test_an_interrupted_run_resumes_in_either_mode(
    first: str,
    then: str,
    config: str,
    users: Path,
    tmp_path: Path,
    scheduler: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mode = {"dask": ("--dask", scheduler), "here": ()}
    whole, cut = tmp_path / "whole.parquet", tmp_path / "cut.parquet"
    assert _run("campaign", config, users, whole) == 0

    monkeypatch.setattr(ChunkedParquet, "write", _interrupt_after(2))
    assert _run("campaign", config, users, cut, *mode[first]) == 130
    monkeypatch.undo()
    parts = cut.with_name(cut.name + ".parts")
    assert not cut.exists() and len(list(parts.glob("part-*.parquet"))) == 2

    assert _run("campaign", config, users, cut, "--resume", *mode[then]) == 0
    assert not parts.exists()
    _same_rows(whole, cut)
