from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from recsvc.batch.parts import ChunkedParquet, interrupted_params
from recsvc.batch.run import read_user_ids, run_chunks
from recsvc.errors import FailedPrecondition, InvalidArgument, NotFound

COLUMNS = ("user_id", "value")
USERS = [f"u{i:03d}" for i in range(23)]


class Rows:
    """Rows of a chunk; raises KeyboardInterrupt on the chunk numbered ``fail_at`` (an interrupted run)."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.fail_at = fail_at
        self.calls: list[str] = []

    def __call__(self, chunk: Sequence[str]) -> list[dict[str, Any]]:
        if self.fail_at is not None and len(self.calls) == self.fail_at:
            raise KeyboardInterrupt
        self.calls.append(chunk[0])
        return [{"user_id": u, "value": int(u[1:]) * 2} for u in chunk if int(u[1:]) % 3]


def _run(out: Path, rows: Rows, *, resume: bool, params: dict[str, Any] | None = None) -> int:
    parts = ChunkedParquet(out, params or {"as_of": "2026-01-01T00:00:00+00:00"}, COLUMNS, resume=resume)
    return run_chunks(USERS, 5, parts, rows, progress=False, desc="test").rows


def test_an_interrupted_run_resumes_where_it_stopped_and_matches_an_uninterrupted_one(tmp_path: Path) -> None:
    whole = tmp_path / "whole.parquet"
    _run(whole, Rows(), resume=False)

    out = tmp_path / "cut.parquet"
    with pytest.raises(KeyboardInterrupt):
        _run(out, Rows(fail_at=2), resume=False)
    assert not out.exists()
    assert interrupted_params(out) == {"as_of": "2026-01-01T00:00:00+00:00"}

    again = Rows()
    n = _run(out, again, resume=True)
    assert again.calls == ["u010", "u015", "u020"]  # chunks 0 and 1 were not computed again
    assert n == len(pd.read_parquet(out))
    pd.testing.assert_frame_equal(pd.read_parquet(out), pd.read_parquet(whole))
    assert not out.with_name(out.name + ".parts").exists()


def test_leftover_parts_without_resume_are_refused(tmp_path: Path) -> None:
    out = tmp_path / "x.parquet"
    with pytest.raises(KeyboardInterrupt):
        _run(out, Rows(fail_at=1), resume=False)
    with pytest.raises(FailedPrecondition, match="--resume"):
        _run(out, Rows(), resume=False)


def test_resume_with_other_parameters_is_refused_naming_them(tmp_path: Path) -> None:
    out = tmp_path / "x.parquet"
    with pytest.raises(KeyboardInterrupt):
        _run(out, Rows(fail_at=1), resume=False, params={"as_of": "a", "segment": "all"})
    with pytest.raises(FailedPrecondition, match="segment"):
        _run(out, Rows(), resume=True, params={"as_of": "a", "segment": "stage=loyal"})


def test_an_empty_result_still_writes_a_file_with_the_columns(tmp_path: Path) -> None:
    out = tmp_path / "empty.parquet"
    parts = ChunkedParquet(out, {}, COLUMNS, resume=False)
    assert run_chunks(["u003"], 5, parts, Rows(), progress=False, desc="t").rows == 0
    assert list(pd.read_parquet(out).columns) == list(COLUMNS)


def test_user_files_one_per_line_or_csv(tmp_path: Path) -> None:
    lines = tmp_path / "ids.txt"
    lines.write_text("u1\nu2\n\nu1\n", encoding="utf-8")
    assert read_user_ids(str(lines)) == ["u1", "u2"]
    table = tmp_path / "ids.csv"
    table.write_text("user_id,city\nu9,上海\nu8,北京\n", encoding="utf-8")
    assert read_user_ids(str(table)) == ["u9", "u8"]
    bad = tmp_path / "bad.csv"
    bad.write_text("id,city\nu9,x\n", encoding="utf-8")
    with pytest.raises(InvalidArgument, match="user_id column"):
        read_user_ids(str(bad))
    with pytest.raises(NotFound):
        read_user_ids(str(tmp_path / "missing.txt"))
