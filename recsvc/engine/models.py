"""The set of trained models the engine serves, loaded and checked together and swapped whole.

Versions live in ``<models_dir>/<name>/<version>/``; a folder counts once its ``metadata.json``
exists, and names sort oldest to newest. Each model serves its newest *good* version: every
version is verified (sizes, checksums, headers: :mod:`recsvc.artifacts`) before a native library
reads it, and a version that fails verification or loading is refused and the next older one is
tried, per model. A refused version is remembered by its content (:class:`VersionGate`): logged
once, and tried again only when its files change. A new set is loaded completely before it
replaces the old one, so a broken artifact leaves the old models serving.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recsvc.artifacts import content_key
from recsvc.errors import FailedPrecondition
from recsvc.lifecycle.model import LifecycleModel
from recsvc.recs.embeddings import Encoder
from recsvc.recs.serving import RecsModel
from recsvc.settings import Settings
from recsvc.timing.sendtime import SendTimeModel

logger = logging.getLogger(__name__)

MODEL_NAMES = ("lifecycle", "recs", "sendtime")


def versions(models_dir: Path, name: str) -> list[Path]:
    """Complete version folders of one model, oldest first (``.tmp`` folders are still being written)."""
    root = Path(models_dir) / name
    if not root.is_dir():
        return []
    return sorted(
        p
        for p in root.iterdir()
        if not p.name.endswith(".tmp") and not p.name.startswith(".") and (p / "metadata.json").is_file()
    )


def _none_trained(models_dir: Path, name: str) -> FailedPrecondition:
    root = Path(models_dir) / name
    return FailedPrecondition(
        f"no trained {name} model in {root} (build it with `recsvc train` or `make train`)", field="models_dir"
    )


def latest_version(models_dir: Path, name: str) -> Path:
    """The newest complete version folder of one model, or a one-line error naming the fix."""
    found = versions(models_dir, name)
    if not found:
        raise _none_trained(models_dir, name)
    return found[-1]


def check_artifacts(settings: Settings) -> dict[str, Path]:
    """Fail fast at start when a model directory is missing."""
    models_dir = Path(settings.paths.models_dir)
    return {name: latest_version(models_dir, name) for name in MODEL_NAMES}


class VersionGate:
    """Remembers refused versions by content, so each is logged once and retried only once changed."""

    def __init__(self) -> None:
        self._refused: dict[Path, str] = {}
        self._lock = threading.Lock()
        self.refusals = 0  # versions refused so far (a version counts again after its content changed)

    def is_refused(self, vdir: Path) -> bool:
        with self._lock:
            key = self._refused.get(vdir)
        return key is not None and key == content_key(vdir)

    def refuse(self, vdir: Path, exc: BaseException) -> None:
        key = content_key(vdir)
        with self._lock:
            if self._refused.get(vdir) == key:
                return
            self._refused[vdir] = key
            self.refusals += 1
        logger.error("refused model version %s: %s (not retried until its files change)", vdir, exc)


@dataclass(frozen=True)
class ModelSet:
    lifecycle: LifecycleModel
    recs: RecsModel
    sendtime: SendTimeModel
    paths: dict[str, Path]

    @property
    def versions(self) -> dict[str, str]:
        return {name: p.name for name, p in self.paths.items()}

    def model(self, name: str) -> Any:
        return {"lifecycle": self.lifecycle, "recs": self.recs, "sendtime": self.sendtime}[name]


def _loaders(encoder: Encoder) -> dict[str, Callable[[Path], Any]]:
    return {
        "lifecycle": LifecycleModel.load,
        "recs": lambda p: RecsModel.load(p, encoder),
        "sendtime": SendTimeModel.load,
    }


def _candidates(models_dir: Path, name: str, gate: VersionGate, current: ModelSet | None) -> list[Path]:
    """Versions worth trying, newest first: not refused, and newer than the one serving."""
    serving = current.paths[name].name if current is not None else None
    newer = [v for v in reversed(versions(models_dir, name)) if serving is None or v.name > serving]
    return [v for v in newer if not gate.is_refused(v)]


def newer_versions_pending(models_dir: Path, gate: VersionGate, current: ModelSet | None) -> bool:
    """Whether a reload could change anything: some model has an untried version newer than its current one."""
    return any(_candidates(models_dir, name, gate, current) for name in MODEL_NAMES)


def _newest_good(
    name: str, models_dir: Path, load: Callable[[Path], Any], gate: VersionGate, current: ModelSet | None
) -> tuple[Path, Any]:
    for vdir in _candidates(models_dir, name, gate, current):
        try:
            return vdir, load(vdir)
        except Exception as exc:  # whatever is wrong with the files refuses this version, not the server
            gate.refuse(vdir, exc)
    if current is not None:
        return current.paths[name], current.model(name)
    if not versions(models_dir, name):
        raise _none_trained(models_dir, name)
    raise FailedPrecondition(
        f"no usable {name} model in {Path(models_dir) / name}: every version was refused (see the log)",
        field="models_dir",
    )


def load_model_set(
    settings: Settings,
    encoder: Encoder,
    paths: dict[str, Path] | None = None,
    *,
    gate: VersionGate | None = None,
    current: ModelSet | None = None,
) -> ModelSet:
    """Load the newest good version of every model, newer than ``current``'s (whose models are reused
    where nothing newer loads). Explicit ``paths`` load exactly those, raising ``FailedPrecondition``
    naming the artifact that does not fit."""
    load = _loaders(encoder)
    if paths is not None:
        return ModelSet(
            lifecycle=load["lifecycle"](paths["lifecycle"]),
            recs=load["recs"](paths["recs"]),
            sendtime=load["sendtime"](paths["sendtime"]),
            paths=dict(paths),
        )
    gate = gate or VersionGate()
    models_dir = Path(settings.paths.models_dir)
    if current is None:
        for name in MODEL_NAMES:  # before loading anything: a model with nothing left to try fails the set
            if not _candidates(models_dir, name, gate, None):
                _newest_good(name, models_dir, load[name], gate, None)
    chosen = {name: _newest_good(name, models_dir, load[name], gate, current) for name in MODEL_NAMES}
    return ModelSet(
        lifecycle=chosen["lifecycle"][1],
        recs=chosen["recs"][1],
        sendtime=chosen["sendtime"][1],
        paths={name: c[0] for name, c in chosen.items()},
    )
