from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from recsvc.report.synthetic import synthetic_sends


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "recsvc.cli", "report", *args], capture_output=True, text=True,
                          timeout=300)


@pytest.fixture()
def sends_file(tmp_path: Path) -> Path:
    path = tmp_path / "sends.parquet"
    synthetic_sends(2000, seed=5).to_parquet(path, index=False)
    return path


def test_report_from_a_sends_file(tmp_path: Path, sends_file: Path) -> None:
    out = tmp_path / "sub" / "r.html"
    done = _run("--sends", str(sends_file), "--out", str(out), "--since", "30d")
    assert done.returncode == 0, done.stderr
    assert 'id="chart-funnel"' in out.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (("--since", "7 days"), "--since must look like 7d or 24h"),
        (("--experiment", "nope"), "unknown experiment 'nope'"),
        (("--sends", "/nonexistent/sends.parquet"), "no such file"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, sends_file: Path, extra: tuple[str, ...],
                                          needle: str) -> None:
    args = ["--out", str(tmp_path / "r.html"), *extra]
    if "--sends" not in extra:
        args += ["--sends", str(sends_file)]
    done = _run(*args)
    assert done.returncode == 2
    assert needle in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "r.html").exists()
