"""The local LLM child must not outlive a service killed with SIGKILL."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from recsvc.copy.orphan_guard import main

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux-only")

ROOT = Path(__file__).resolve().parents[3]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def test_child_dies_when_its_parent_is_killed() -> None:
    script = (
        "import os, subprocess, sys, time\n"
        "p = subprocess.Popen([sys.executable, '-m', 'recsvc.copy.orphan_guard', str(os.getpid()), 'sleep', '120'])\n"
        "print(p.pid, flush=True)\n"
        "time.sleep(120)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    deadline = time.monotonic() + 30
    while Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")[0] != b"sleep":  # until it became the command
        assert time.monotonic() < deadline, "launcher never exec'd the command"
        time.sleep(0.05)
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 10
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    alive = _alive(child)
    if alive:
        os.kill(child, 9)
    assert not alive, "the child outlived its SIGKILLed parent"


def test_launcher_refuses_when_parent_is_gone() -> None:
    # In a child process: the launcher sets the death signal on whoever runs it.
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "recsvc.copy.orphan_guard", "999999999", "true"]
    assert subprocess.run(cmd, env=env, timeout=60).returncode == 1


def test_launcher_usage_error() -> None:
    assert main(["not-a-pid", "true"]) == 2

