"""Stopping a ``recsvc serve`` subprocess, for the tests and benches that start one."""

from __future__ import annotations

import os
import signal
import subprocess


def stop_server(proc: subprocess.Popen[bytes], timeout_s: float = 60.0) -> None:
    """SIGTERM (a graceful drain), then SIGKILL after ``timeout_s``: to the whole process group when
    the server leads its own (started with ``start_new_session``, so its worker processes die too),
    else to the server alone."""
    proc.terminate()
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        if os.getpgid(proc.pid) == proc.pid:
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
        proc.wait()
