"""The recs model folder ``models/recs/<version>/``: its name, format and the checks on reading it.

Training writes a version into ``<version>.tmp`` and renames it when complete; serving takes a
version folder (or the newest one under a parent) and refuses one written for another format,
other ranker features or an encoder of another dimension before reading any data file.
"""

from __future__ import annotations

import platform
from dataclasses import fields
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

from recsvc.errors import FailedPrecondition
from recsvc.recs.config import RecsConfig
from recsvc.recs.ranker import FEATURE_NAMES

MODEL_FORMAT = 3
MODEL_NAME = "recs"


def library_versions() -> dict[str, str]:
    """Versions of Python and the libraries that shape the artifact, for its metadata."""
    out = {"python": platform.python_version()}
    for pkg in ("numpy", "pandas", "lightgbm", "implicit", "faiss-cpu", "sentence-transformers", "torch", "pyarrow"):
        try:
            out[pkg] = importlib_metadata.version(pkg)
        except importlib_metadata.PackageNotFoundError:
            continue
    return out


def resolve_model_dir(path: Path) -> Path:
    """A version folder, or a parent whose newest version folder is taken."""
    if (path / "metadata.json").exists():
        return path
    versions = sorted(p for p in path.glob("*") if (p / "metadata.json").exists() and not p.name.endswith(".tmp"))
    if not versions:
        raise FailedPrecondition(f"{path / 'metadata.json'}: no recs model here (missing metadata.json)")
    return versions[-1]


def check_metadata(path: Path, meta: dict[str, Any], encoder_dim: int) -> None:
    """Refuse another format or name, other ranker features, or an encoder of another dimension."""
    mpath = path / "metadata.json"
    if meta.get("format") != MODEL_FORMAT or meta.get("name") != MODEL_NAME:
        raise FailedPrecondition(
            f"{mpath}: not a recs model of format {MODEL_FORMAT} "
            f"(name={meta.get('name')!r}, format={meta.get('format')!r}); retrain it with `recsvc train`"
        )
    if list(meta.get("feature_names", [])) != list(FEATURE_NAMES):
        raise FailedPrecondition(f"{mpath}: ranker feature names differ from this version of recsvc")
    if int(meta["encoder"]["dim"]) != encoder_dim:
        raise FailedPrecondition(
            f"{path / 'index.faiss'}: model was built with a {meta['encoder']['dim']}-d encoder "
            f"({meta['encoder']['name']}), the given encoder has {encoder_dim} dimensions"
        )


def config_from_metadata(meta: dict[str, Any]) -> RecsConfig:
    """The training config saved in the metadata (unknown keys ignored, tuples restored)."""
    saved = meta.get("config", {})
    known = {f.name for f in fields(RecsConfig)}
    kw = {k: v for k, v in saved.items() if k in known}
    if "ranker_grid" in kw:
        kw["ranker_grid"] = tuple((int(a), int(b)) for a, b in kw["ranker_grid"])
    for name in ("ease_lambdas", "als_regularizations", "als_alphas"):
        if name in kw:
            kw[name] = tuple(float(v) for v in kw[name])
    if "als_factors" in kw:
        kw["als_factors"] = tuple(int(v) for v in kw["als_factors"])
    if "event_weights" in kw:
        kw["event_weights"] = tuple((str(a), float(b)) for a, b in kw["event_weights"])
    return RecsConfig(**kw)
