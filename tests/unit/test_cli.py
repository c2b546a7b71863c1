from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def _run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "recsvc.cli", *args], capture_output=True, text=True, timeout=300, cwd=cwd
    )


def test_help_explains_every_command() -> None:
    out = _run("--help")
    assert out.returncode == 0
    for cmd in ("serve", "demo-data", "train", "evaluate", "recommend", "copy", "convert", "mcp", "report"):
        assert cmd in out.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (
            ("evaluate", "churn", "--events", "/nonexistent.csv", "--cutoff", "2020-01-01", "--horizon-days", "30"),
            "no such file",
        ),
        (("evaluate", "churn", "--events", "x.csv", "--cutoff", "someday", "--horizon-days", "30"), "not a date"),
        (("evaluate", "churn", "--events", "x.csv", "--cutoff", "2020-01-01", "--horizon-days", "-3"), "must be > 0"),
        (("recommend", "--user", "u1", "--target", "127.0.0.1:1", "--timeout", "2"), "no recsvc server"),
        (("frobnicate",), "invalid choice"),
    ],
)
def test_errors_are_one_line_and_non_zero(args: tuple[str, ...], needle: str) -> None:
    out = _run(*args)
    assert out.returncode != 0
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, out.stderr
    assert needle in lines[0]
    assert "Traceback" not in out.stderr


def test_events_file_with_missing_column(tmp_path: Path) -> None:
    f = tmp_path / "e.csv"
    f.write_text("user_id,event_type\nu1,view\n")
    out = _run("evaluate", "churn", "--events", str(f), "--cutoff", "2020-01-01", "--horizon-days", "30")
    assert out.returncode == 2
    assert "column 'ts'" in out.stderr and str(f) in out.stderr


def test_evaluate_trains_with_the_settings_of_the_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import argparse

    from recsvc import cli
    from recsvc.evaluation import churn, recs, sendtime
    from recsvc.recs import embeddings

    cfg = tmp_path / "recsvc.toml"
    cfg.write_text("[lifecycle]\nnum_leaves = 7\n[recs]\nranker_seeds = 1\n[timing]\nmin_validation_z = 3.5\n")
    seen: dict[str, object] = {}

    def fake(name: str) -> object:
        def run(*args: object, config: object = None, **kwargs: object) -> dict[str, object]:
            seen[name] = config
            return {}

        return run

    monkeypatch.setattr(churn, "evaluate_churn", fake("churn"))
    monkeypatch.setattr(recs, "evaluate_recs", fake("recs"))
    monkeypatch.setattr(sendtime, "evaluate_sendtime", fake("sendtime"))
    monkeypatch.setattr(embeddings, "SentenceTransformerEncoder", lambda *a, **k: argparse.Namespace(name="e", dim=4))
    ds = argparse.Namespace(items=["an item"])
    for what in ("churn", "recs", "sendtime"):
        args = argparse.Namespace(
            what=what, quiet=True, config=str(cfg), horizon_days=21, items=str(tmp_path),
            recent_days=30, include_new_items=False,
        )  # fmt: skip
        evaluate, _, _ = cli._evaluator(args, ds)
        evaluate("2020-01-01")
    assert seen["churn"].num_leaves == 7 and seen["churn"].horizon_days == 21  # type: ignore[attr-defined]
    assert seen["recs"].ranker_seeds == 1  # type: ignore[attr-defined]
    assert seen["sendtime"].min_validation_z == 3.5  # type: ignore[attr-defined]


@pytest.mark.parametrize("what", ["churn", "recs", "sendtime"])
def test_a_cut_off_that_cannot_be_judged_stops_the_run_before_any_is_evaluated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], what: str
) -> None:
    from recsvc import cli
    from recsvc.evaluation import churn, recs, sendtime

    events = tmp_path / "events.csv"
    rows = ["user_id,ts,event_type,item_id"]
    for u in range(6):  # half the users stop by the first cut-off; items new to each user keep coming
        for d in range(1, 12 if u % 2 else 28, 2):
            rows.append(f"u{u},2024-01-{d:02d}T{9 + u}:00:00Z,purchase,i{(3 * u + d) % 20}")
    events.write_text("\n".join(rows) + "\n")
    items = tmp_path / "items.csv"
    items.write_text("item_id,title\n" + "".join(f"i{k},item {k}\n" for k in range(20)))
    evaluated: list[object] = []

    def record(*args: object, **kwargs: object) -> dict[str, object]:
        evaluated.append(args[1])
        return {}

    monkeypatch.setattr(churn, "evaluate_churn", record)
    monkeypatch.setattr(recs, "evaluate_recs", record)
    monkeypatch.setattr(sendtime, "evaluate_sendtime", record)
    argv = ["evaluate", what, "--events", str(events), "--cutoffs", "2024-01-14,2030-01-01", "--quiet"]
    argv += [] if what == "sendtime" else ["--horizon-days", "7"]
    argv += ["--items", str(items)] if what == "recs" else []

    assert cli.main(argv) == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("recsvc")]
    assert len(err) == 1 and "2030-01-01" in err[0], err
    assert evaluated == []  # the judgeable first cut-off was not evaluated for nothing
