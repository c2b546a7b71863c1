"""Helpers for the model artifact tests: copy a trained version, add a new one, damage a file."""

from __future__ import annotations

import json
import shutil
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from recsvc.engine.engine import Engine
from recsvc.engine.models import MODEL_NAMES
from recsvc.settings import load_settings


class HashEncoder:
    """Deterministic unit vectors per text: real FAISS indexes and rankers without loading MiniLM."""

    name = "hash"

    def __init__(self, dim: int = 32) -> None:
        self.dim = dim

    def encode(self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False) -> np.ndarray:
        rows = [np.random.default_rng(zlib.crc32(t.encode())).standard_normal(self.dim) for t in texts]
        x = np.asarray(rows, dtype=np.float32).reshape(len(rows), self.dim)
        return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def good_version(models: Path, name: str) -> Path:
    (only,) = sorted(p for p in (models / name).iterdir() if p.is_dir())
    return only


def encoder_dim(models: Path) -> int:
    return int(json.loads((good_version(models, "recs") / "metadata.json").read_text())["encoder"]["dim"])


def copy_models(models: Path, dest: Path) -> dict[str, str]:
    """Copy the good version of every model into ``dest``; returns their version names."""
    out = {}
    for name in MODEL_NAMES:
        src = good_version(models, name)
        shutil.copytree(src, dest / name / src.name)
        out[name] = src.name
    return out


def add_version(models: Path, dest: Path, name: str, version: str, *, legacy: bool = False) -> Path:
    """A copy of the good ``name`` version as ``dest/name/version``; ``legacy`` drops its checksums
    (the ``files`` list of its metadata), which verification must still accept."""
    vdir = dest / name / version
    shutil.copytree(good_version(models, name), vdir)
    if legacy:
        meta = json.loads((vdir / "metadata.json").read_text())
        meta.pop("files", None)
        (vdir / "metadata.json").write_text(json.dumps(meta, indent=2))
    return vdir


def truncate(path: Path) -> None:
    """Cut the file to half its size, as an interrupted copy would."""
    with open(path, "r+b") as f:
        f.truncate(path.stat().st_size // 2)


def garble(path: Path) -> None:
    """Flip 64 bytes in the middle: same size, same header and trailer, different content."""
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    for i in range(mid, min(mid + 64, len(data))):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def serving_engine(trained_models: Path, store: str, **overrides: Any) -> Engine:
    """An engine serving the trained models from ``store`` (SQLite path or PostgreSQL URL), copy
    pointed at a closed port (templates only), one catalog item ``tea-1`` upserted. The caller closes it."""
    settings = load_settings(env={}).with_overrides(
        paths={"store": store, "models_dir": str(trained_models)},
        copy={"base_url": "http://127.0.0.1:9/v1", "timeout_s": 0.5, "max_retries": 0},
        **overrides,
    )
    eng = Engine(settings, encoder=HashEncoder(encoder_dim(trained_models)))
    try:
        eng.load_models()
        eng.upsert_items([{"item_id": "tea-1", "title": "Green tea", "price": 4.5, "currency": "USD"}])
    except BaseException:
        eng.close()
        raise
    return eng
