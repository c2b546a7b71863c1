"""A Parquet output written in numbered chunks, so an interrupted run resumes where it stopped.

Chunks go to ``OUT.parts/part-NNNNN.parquet`` (each written to a temporary name, then renamed, so a
chunk is there whole or not at all) beside ``run.json``, which records the run's parameters. A
resumed run must have the same parameters (the same users, time and options): it skips the chunks
that exist. When every chunk is there they are joined into ``OUT`` and the parts folder is removed.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from recsvc.errors import FailedPrecondition


class ChunkedParquet:
    def __init__(self, out: str | Path, params: dict[str, Any], columns: Sequence[str], *, resume: bool) -> None:
        self.out = Path(out)
        self.parts = self.out.with_name(self.out.name + ".parts")
        self.columns = list(columns)
        manifest = self.parts / "run.json"
        if self.parts.exists():
            if not resume:
                raise FailedPrecondition(
                    f"{self.parts} holds an interrupted run: pass --resume to finish it, or delete it", field="out"
                )
            before = json.loads(manifest.read_text(encoding="utf-8")) if manifest.exists() else {}
            changed = sorted(k for k in set(before) | set(params) if before.get(k) != params.get(k))
            if changed:
                raise FailedPrecondition(
                    f"--resume needs the interrupted run's parameters; these differ: {', '.join(changed)}",
                    field="resume",
                )
        else:
            self.parts.mkdir(parents=True)
            _write_atomic(manifest, json.dumps(params, indent=2, sort_keys=True).encode("utf-8"))

    def done(self) -> set[int]:
        """The numbers of the chunks already written."""
        return {int(p.stem.split("-")[1]) for p in self.parts.glob("part-*.parquet")}

    def write(self, number: int, rows: list[dict[str, Any]]) -> None:
        frame = pd.DataFrame(rows, columns=self.columns)
        tmp = self.parts / f".part-{number:05d}.tmp"
        frame.to_parquet(tmp, index=False)
        _fsync_rename(tmp, self.parts / f"part-{number:05d}.parquet")

    def finish(self) -> int:
        """Join the chunks into the output file; returns its number of rows."""
        files = sorted(self.parts.glob("part-*.parquet"))
        frames = [f for f in (pd.read_parquet(p) for p in files) if len(f)]
        frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=self.columns)
        tmp = self.out.with_name(f".{self.out.name}.tmp")
        frame.to_parquet(tmp, index=False)
        _fsync_rename(tmp, self.out)
        shutil.rmtree(self.parts)
        return len(frame)


def _fsync_rename(tmp: Path, final: Path) -> None:
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, final)


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    _fsync_rename(tmp, path)


def interrupted_params(out: str | Path) -> dict[str, Any] | None:
    """The parameters of an interrupted run writing to ``out``, or None when there is none."""
    manifest = Path(out).with_name(Path(out).name + ".parts") / "run.json"
    return json.loads(manifest.read_text(encoding="utf-8")) if manifest.exists() else None
