"""Inference of LightGBM boosters (the lifecycle models, the products ranker) as native code (lleaves),
with plain LightGBM as fallback.

Why: LightGBM's own ``predict`` walks each tree through a generic interpreter, about 0.1 µs per tree
and row; compiled with LLVM (lleaves) the same trees run several times faster, which is what
batch-scoring a million users a second needs. The LightGBM text file stays the artifact: the
compiled object is only a cache, keyed by a hash of that file and of the compiler versions, stored
outside the model directory and rebuilt whenever it is missing or unreadable. It is an object file
that LLVM loads, not a pickle. Anything that goes wrong (lleaves or llvmlite missing or
incompatible, no writable cache) falls back to LightGBM with a warning: same numbers, slower.
"""

from __future__ import annotations

import hashlib
import logging
import os
import platform
import threading
from importlib import metadata
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np

logger = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/recsvc/lleaves`` (``~/.cache/recsvc/lleaves``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path("~/.cache").expanduser())
    return Path(base) / "recsvc" / "lleaves"


def _versions() -> str:
    out = []
    for dist in ("lleaves", "llvmlite"):
        try:
            out.append(f"{dist}={metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            out.append(f"{dist}=none")
    return ";".join(out)


def cache_key(model_file: Path) -> str:
    """sha256 of the model text, the compiler versions and the CPU: a stale object can never load."""
    h = hashlib.sha256(Path(model_file).read_bytes())
    h.update(f"|{_versions()}|{platform.machine()}|{platform.processor()}".encode())
    try:
        import llvmlite.binding as llvm

        h.update(f"|{llvm.get_host_cpu_name()}|{llvm.get_host_cpu_features().flatten()}".encode())
    except Exception:  # llvmlite absent or too old: the fallback path does not need it
        pass
    return h.hexdigest()[:32]


def _digest_path(cache: Path) -> Path:
    return cache.with_name(cache.name + ".sha256")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class TreeScorer:
    """``predict(X) -> (n,) or (n, k)`` for one booster: compiled when possible, else LightGBM.

    Compilation is lazy (in the background from the first batch of at least ``min_rows`` rows, or
    now with :meth:`compile`) and happens once per model and machine thanks to the cache; small
    batches always use LightGBM, whose per-call cost is lower.
    """

    def __init__(
        self,
        booster: lgb.Booster,
        model_file: Path,
        *,
        compiled: bool = True,
        cache_dir: Path | None = None,
        num_threads: int = 1,
        min_rows: int = 2048,
    ) -> None:
        self.booster = booster
        self.model_file = Path(model_file)
        self.want_compiled = compiled
        self.cache_dir = cache_dir if cache_dir is not None else default_cache_dir()
        self.num_threads = num_threads
        self.min_rows = min_rows
        self._compiled: Any = None
        self._failed = not compiled
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def backend(self) -> str:
        return "lleaves" if self._compiled is not None else "lightgbm"

    def compile(self) -> bool:
        """Build (or load from the cache) the native model; False, with a warning, when it cannot."""
        with self._lock:
            if self._compiled is not None or self._failed:
                return self._compiled is not None
            try:
                import lleaves

                model = lleaves.Model(model_file=str(self.model_file))
                cache = self._cache_path()
                model.compile(cache=str(cache) if cache else None)
                if cache is not None and not _digest_path(cache).exists():
                    _digest_path(cache).write_text(_sha256(cache))
                self._compiled = model
                logger.info("%s compiled with lleaves (%d trees)", self.model_file.name, model.num_trees())
                return True
            except Exception as exc:  # any failure leaves LightGBM in charge
                self._failed = True
                logger.warning("lleaves unavailable for %s (%s): using LightGBM predict", self.model_file.name, exc)
                return False

    def _cache_path(self) -> Path | None:
        """Where the object file lives, or None (compile in memory) when the cache is not writable.

        LLVM aborts the whole process on a damaged object file, so a cached object is used only when
        its sha256 matches the digest written beside it after a successful compile; else it is rebuilt.
        """
        cache = self.cache_dir / f"{self.model_file.stem}-{cache_key(self.model_file)}.o"
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            if cache.exists():
                digest = _digest_path(cache)
                if not digest.exists() or digest.read_text().strip() != _sha256(cache):
                    logger.warning("lleaves cache %s damaged: rebuilding it from %s", cache, self.model_file)
                    cache.unlink()
                    digest.unlink(missing_ok=True)
            return cache
        except OSError as exc:
            logger.warning("lleaves cache %s not usable (%s): compiling without cache", cache, exc)
            return None

    def compile_in_background(self) -> threading.Thread | None:
        """Start compiling in a daemon thread (once); batches use LightGBM until it is ready."""
        with self._lock:
            if self._compiled is not None or self._failed or self._thread is not None:
                return None
            self._thread = threading.Thread(target=self.compile, name=f"lleaves-{self.model_file.stem}", daemon=True)
            self._thread.start()
            return self._thread

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Probabilities as LightGBM's ``predict`` returns them, for a float matrix in feature order.

        A big batch before the compiled model is ready starts the compile in the background and is
        itself scored by LightGBM, so a server never stalls for the minutes a large forest takes.
        """
        model = self._compiled
        if len(X) >= self.min_rows and model is not None:
            return np.asarray(model.predict(np.ascontiguousarray(X, dtype=np.float64), n_jobs=self.threads))
        if len(X) >= self.min_rows:
            self.compile_in_background()
        return np.asarray(self.booster.predict(X, num_threads=self.num_threads))

    def predict_raw(self, X: np.ndarray) -> np.ndarray:
        """Raw scores (log-odds for a binary model). The compiled path returns probabilities, so their
        logit is taken: exact to float64 rounding for the scores trees produce (|raw| < 30)."""
        if self._compiled is not None and len(X) >= self.min_rows:
            p = np.clip(self.predict(X), 1e-15, 1 - 1e-15)
            return np.asarray(np.log(p) - np.log1p(-p))
        if len(X) >= self.min_rows:
            self.compile_in_background()
        return np.asarray(self.booster.predict(X, num_threads=self.num_threads, raw_score=True))

    @property
    def threads(self) -> int:
        return self.num_threads or (os.cpu_count() or 1)
