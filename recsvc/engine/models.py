"""The set of trained models the engine serves, loaded and checked together and swapped whole.

Versions live in ``<models_dir>/<name>/<version>/``; the newest folder with a ``metadata.json``
wins. A new set is loaded completely and checked before it replaces the old one, so a broken
artifact leaves the old models serving (Gorse's approach to hot-swapped models).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from recsvc.errors import FailedPrecondition
from recsvc.lifecycle.model import LifecycleModel
from recsvc.recs.embeddings import Encoder
from recsvc.recs.model import RecsModel
from recsvc.settings import Settings
from recsvc.timing.sendtime import SendTimeModel

logger = logging.getLogger(__name__)

MODEL_NAMES = ("lifecycle", "recs", "sendtime")


def latest_version(models_dir: Path, name: str) -> Path:
    """The newest complete version folder of one model, or a one-line error naming the fix."""
    root = models_dir / name
    versions = sorted(p for p in root.glob("*") if (p / "metadata.json").is_file()) if root.is_dir() else []
    if not versions:
        raise FailedPrecondition(
            f"no trained {name} model in {root} (build it with `recsvc train` or `make train`)", field="models_dir"
        )
    return versions[-1]


def check_artifacts(settings: Settings) -> dict[str, Path]:
    """Fail fast at start when a model directory is missing."""
    models_dir = Path(settings.paths.models_dir)
    return {name: latest_version(models_dir, name) for name in MODEL_NAMES}


@dataclass(frozen=True)
class ModelSet:
    lifecycle: LifecycleModel
    recs: RecsModel
    sendtime: SendTimeModel
    paths: dict[str, Path]

    @property
    def versions(self) -> dict[str, str]:
        return {name: p.name for name, p in self.paths.items()}


def load_model_set(settings: Settings, encoder: Encoder, paths: dict[str, Path] | None = None) -> ModelSet:
    """Load every model (raises ``FailedPrecondition`` naming the artifact that does not fit)."""
    paths = paths or check_artifacts(settings)
    lifecycle = LifecycleModel.load(paths["lifecycle"])
    recs = RecsModel.load(paths["recs"], encoder)
    sendtime = SendTimeModel.load(paths["sendtime"])
    return ModelSet(lifecycle=lifecycle, recs=recs, sendtime=sendtime, paths=paths)
