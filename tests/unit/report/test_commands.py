from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from recsvc.report.synthetic import synthetic_sends


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "recsvc.cli", "report", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


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
    ("extra", "with_sends", "needle"),
    [
        (("--since", "7 days"), True, "--since must look like 7d or 24h"),
        (("--experiment", "nope"), True, "unknown experiment 'nope'"),
        (("--sends", "/nonexistent/sends.parquet"), False, "no such file"),
        ((), False, "no store at"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, sends_file: Path, extra: tuple[str, ...], with_sends: bool, needle: str
) -> None:
    args = ["--out", str(tmp_path / "r.html"), *extra, *(("--sends", str(sends_file)) if with_sends else ())]
    done = _run(*args, env={"RECSVC_PATHS_STORE": str(tmp_path / "missing.db")})
    assert done.returncode == 2
    assert needle in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "r.html").exists()


def test_declared_weights_from_the_settings_file_drive_the_srm_check(tmp_path: Path, sends_file: Path) -> None:
    """The sends are split in thirds; a file that planned 50/25/25 makes that a sample-ratio mismatch."""
    config = tmp_path / "recsvc.toml"
    config.write_text(
        '[[experiments]]\nid = "demo_copy"\ndecision = "copy_variant"\nprimary_metric = "open_rate"\n'
        'arms = [{ name = "control", weight = 0.5 }, { name = "variant_b", weight = 0.25 },'
        ' { name = "variant_c", weight = 0.25 }]\n',
        encoding="utf-8",
    )
    out = tmp_path / "r.html"
    done = _run("--config", str(config), "--sends", str(sends_file), "--out", str(out))
    assert done.returncode == 0, done.stderr
    page = out.read_text(encoding="utf-8")
    assert "planned control 0.5, variant_b 0.25, variant_c 0.25" in page
    assert "MISMATCH" in page
    assert "Metric: open rate" in page
