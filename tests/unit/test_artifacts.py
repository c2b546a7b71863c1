"""Verification of a version folder names the damaged file and what is wrong with it."""

from __future__ import annotations

import json
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pytest

from recsvc.artifacts import verify, write_metadata
from recsvc.errors import FailedPrecondition


def _version(d: Path, *, checksums: bool = True) -> Path:
    d.mkdir()
    rng = np.random.default_rng(0)
    np.save(d / "vectors.npy", rng.random((50, 8)).astype(np.float32))
    x = rng.random((200, 3))
    booster = lgb.train({"objective": "binary", "verbose": -1}, lgb.Dataset(x, (x[:, 0] > 0.5).astype(int)), 3)
    booster.save_model(str(d / "model.txt"))
    (d / "params.json").write_text(json.dumps({"a": 1}))
    if checksums:
        write_metadata(d, {"name": "test"})
    else:
        (d / "metadata.json").write_text(json.dumps({"name": "test"}))
    return d


def test_metadata_lists_every_file_and_a_good_version_passes(tmp_path: Path) -> None:
    d = _version(tmp_path / "v1")
    files = json.loads((d / "metadata.json").read_text())["files"]
    assert sorted(files) == ["model.txt", "params.json", "vectors.npy"]
    assert verify(d) is True


@pytest.mark.parametrize(
    ("fname", "damage", "message"),
    [
        ("vectors.npy", "truncate", r"vectors\.npy: \d+ bytes, metadata\.json says \d+"),
        ("vectors.npy", "garble", r"vectors\.npy: sha256 differs"),
        ("model.txt", "garble", r"model\.txt: sha256 differs"),
        ("params.json", "delete", r"params\.json: missing model file"),
    ],
)
def test_damage_is_refused_naming_the_file(tmp_path: Path, fname: str, damage: str, message: str) -> None:
    d = _version(tmp_path / "v1")
    p = d / fname
    data = p.read_bytes()
    if damage == "truncate":
        p.write_bytes(data[: len(data) // 2])
    elif damage == "garble":
        mid = len(data) // 2
        p.write_bytes(data[:mid] + bytes(b ^ 0xFF for b in data[mid : mid + 16]) + data[mid + 16 :])
    else:
        p.unlink()
    with pytest.raises(FailedPrecondition, match=message):
        verify(d)


def test_versions_without_checksums_get_header_checks(tmp_path: Path) -> None:
    d = _version(tmp_path / "v1", checksums=False)
    assert verify(d) is False  # no checksums: loads after the header checks and a trial load
    arr = (d / "vectors.npy").read_bytes()
    (d / "vectors.npy").write_bytes(arr[: len(arr) - 40])
    with pytest.raises(FailedPrecondition, match=r"vectors\.npy: \.npy declares shape \(50, 8\)"):
        verify(d)
    (d / "vectors.npy").write_bytes(arr)
    text = (d / "model.txt").read_bytes()
    (d / "model.txt").write_bytes(text[: len(text) // 2])
    with pytest.raises(FailedPrecondition, match=r"model\.txt: LightGBM model text is incomplete"):
        verify(d)
    (d / "model.txt").write_bytes(b"garbage" + text)
    with pytest.raises(FailedPrecondition, match=r"model\.txt: not a LightGBM model text"):
        verify(d)


def test_object_arrays_are_refused(tmp_path: Path) -> None:
    d = tmp_path / "v1"
    d.mkdir()
    np.save(d / "objs.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    write_metadata(d, {})
    with pytest.raises(FailedPrecondition, match="no pickle"):
        verify(d)
