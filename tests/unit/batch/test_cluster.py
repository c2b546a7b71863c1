from __future__ import annotations

import argparse
import socket
from pathlib import Path

import pytest

from recsvc.batch.cluster import DaskSpec, parse_dask
from recsvc.cli import main


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    ("value", "spec"),
    [
        ("local:1", DaskSpec(workers=1)),
        ("local:8", DaskSpec(workers=8)),
        ("tcp://10.0.0.5:8786", DaskSpec(address="tcp://10.0.0.5:8786")),
        ("tcp://sched.example.org:8786", DaskSpec(address="tcp://sched.example.org:8786")),
    ],
)
def test_dask_values_that_name_a_cluster(value: str, spec: DaskSpec) -> None:
    assert parse_dask(value) == spec
    assert str(parse_dask(value)) == value


@pytest.mark.parametrize("value", ["foo", "local:0", "local:", "local:-2", "tcp://host", "tcp://h:0", "http://h:1"])
def test_other_dask_values_are_refused(value: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        parse_dask(value)


@pytest.mark.parametrize(("command", "value"), [("campaign", "foo"), ("score", "local:0"), ("campaign", "tcp://x")])
def test_a_bad_dask_value_is_one_line_and_exit_2(
    command: str, value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([command, "-q", "--out", str(tmp_path / "x.parquet"), "--dask", value])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--dask" in err[0] and "Traceback" not in err[0]


def test_an_unreachable_scheduler_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    address = f"tcp://127.0.0.1:{_closed_port()}"
    assert main(["campaign", "-q", "--out", str(tmp_path / "x.parquet"), "--dask", address]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1, err
    assert address in err[0] and "cannot reach" in err[0] and "Traceback" not in err[0]
    assert not (tmp_path / "x.parquet.parts").exists()  # nothing started
