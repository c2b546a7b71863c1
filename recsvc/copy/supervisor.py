"""Keep the local llama.cpp server alive: self-test at start, restart with backoff when it dies.

The service must never depend on the child for correctness (copy falls back to templates), but a
child that crashed must not stay dead, nor linger as a zombie, without anyone noticing. A monitor
thread waits on the child (which also reaps it), logs how it ended (the signal, e.g. SIGSEGV, and
the tail of its log), and starts it again on the same port after a backoff that doubles with each
failure in a row. The state is published as a small JSON file, so every server process (they may
be separate processes from the one that owns the child) can report it in health and metrics.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from recsvc.copy.config import CopyConfig
from recsvc.copy.local_server import LocalLLMServer, describe_exit, free_port

logger = logging.getLogger(__name__)

STATES = ("starting", "ready", "restarting", "failed", "stopped")


@dataclass(frozen=True)
class LLMStatus:
    """What the supervisor knows of the local LLM server; ``up`` only in state ``ready``."""

    state: str = "stopped"
    pid: int = 0
    restarts: int = 0
    failures: int = 0  # failed starts and crashes in a row (resets once a start passes its self-test)
    last_exit: str = ""  # how the last child ended, e.g. "killed by SIGSEGV"
    last_error: str = ""
    since: float = 0.0  # unix time the state was entered
    base_url: str = ""

    @property
    def up(self) -> bool:
        return self.state == "ready"

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def read(cls, path: str | Path) -> LLMStatus | None:
        """The status another process published, or None when there is none (or it is unreadable)."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
            return cls(**known)
        except (OSError, ValueError, TypeError):
            return None


class LLMSupervisor:
    """Owns one :class:`LocalLLMServer` and keeps it serving; use as a context manager.

    ``start()`` returns after the first attempt, whether it passed or not: the service starts with
    templates if the model cannot run, and the monitor keeps trying with backoff.
    """

    def __init__(self, config: CopyConfig, *, status_file: str | Path | None = None) -> None:
        if config.local_port == 0:  # restarts must come back on the same address
            config = replace(config, local_port=free_port(config.local_host))
        self._cfg = config
        self._server = LocalLLMServer(config)
        self._status_file = Path(status_file) if status_file else None
        self._status = LLMStatus(base_url=self._server.base_url)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return self._server.base_url

    @property
    def server(self) -> LocalLLMServer:
        return self._server

    def status(self) -> LLMStatus:
        with self._lock:
            return self._status

    def _set(self, **changes: object) -> None:
        with self._lock:
            if "state" in changes:
                changes.setdefault("since", time.time())
            self._status = replace(self._status, **changes)  # type: ignore[arg-type]
            status = self._status
        if self._status_file is not None:
            tmp = self._status_file.with_name(self._status_file.name + ".tmp")
            try:
                tmp.write_text(status.to_json(), encoding="utf-8")
                os.replace(tmp, self._status_file)
            except OSError as exc:
                logger.warning("cannot publish local LLM status to %s: %s", self._status_file, exc)

    # ---- lifecycle ------------------------------------------------------------------------
    def start(self) -> LLMSupervisor:
        self._set(state="starting")
        self._launch()
        # The child's parent-death signal is tied to the thread that forked it: relaunches happen
        # on the monitor thread, which lives until stop() ends the child anyway.
        self._thread = threading.Thread(target=self._monitor, name="llm-supervisor", daemon=True)
        self._thread.start()
        return self

    def _launch(self) -> bool:
        """One start with self-test; records the outcome. True when the server is ready."""
        try:
            self._server.start()
        except Exception as exc:
            failures = self.status().failures + 1
            logger.error("local LLM server failed to start (attempt %d): %s", failures, exc)
            self._set(state="failed", pid=0, failures=failures, last_error=str(exc)[:500])
            return False
        self._set(state="ready", pid=self._server.pid or 0, failures=0, last_error="")
        return True

    def _backoff_s(self) -> float:
        cfg, failures = self._cfg, max(1, self.status().failures)
        return float(min(cfg.local_restart_backoff_max_s, cfg.local_restart_backoff_s * 2 ** (failures - 1)))

    def _monitor(self) -> None:
        while not self._stop.is_set():
            if self.status().state == "ready":
                code = self._server.wait_exit(0.5)  # reaps the child when it ends
                if code is None or self._stop.is_set():
                    continue
                how, pid, tail = describe_exit(code), self.status().pid, self._server.log_tail(600)
                self._server.stop()
                self._set(state="restarting", pid=0, last_exit=how, failures=self.status().failures + 1)
                logger.warning(
                    "local LLM server (pid %s) %s; restarting in %.1fs. Its log ends: %s",
                    pid,
                    how,
                    self._backoff_s(),
                    tail,
                )
            if self._stop.wait(self._backoff_s()):
                break
            if self._launch():
                self._set(restarts=self.status().restarts + 1)
                logger.info("local LLM server restarted (restart %d)", self.status().restarts)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self._server.stop()
        self._set(state="stopped", pid=0)
        if self._status_file is not None:
            with contextlib.suppress(OSError):
                self._status_file.unlink()

    def __enter__(self) -> LLMSupervisor:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def status_metrics(status: LLMStatus | None) -> tuple[dict[str, float], dict[str, str]]:
    """``GetMetrics`` values and details for a published status (nothing when there is no local LLM)."""
    if status is None:
        return {}, {}
    values = {
        "local_llm_up": 1.0 if status.up else 0.0,
        "local_llm_restarts": float(status.restarts),
        "local_llm_failures_in_row": float(status.failures),
        "local_llm_state_seconds": max(0.0, time.time() - status.since) if status.since else 0.0,
    }
    details = {
        "local_llm.state": status.state,
        "local_llm.base_url": status.base_url,
        "local_llm.last_exit": status.last_exit,
        "local_llm.last_error": status.last_error,
    }
    return values, {k: v for k, v in details.items() if v}
