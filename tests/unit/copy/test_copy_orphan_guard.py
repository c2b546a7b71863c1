"""The local LLM child must not outlive a service killed with SIGKILL."""

from __future__ import annotations

import os
import signal
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


# A command that, like llama.cpp's server mid-completion, does not stop at SIGTERM.
_STUBBORN = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(120)"
)


@pytest.mark.parametrize(
    ("command", "parent_signal"),
    [
        (["sleep", "120"], signal.SIGKILL),
        (["sleep", "120"], signal.SIGTERM),
        ([sys.executable, "-c", _STUBBORN], signal.SIGTERM),
        ([sys.executable, "-c", _STUBBORN], signal.SIGKILL),
    ],
)
def test_child_dies_when_its_parent_is_killed(command: list[str], parent_signal: int) -> None:
    script = (
        "import os, subprocess, sys, time\n"
        f"p = subprocess.Popen([sys.executable, '-m', 'recsvc.copy.orphan_guard', str(os.getpid()), *{command!r}])\n"
        "print(p.pid, flush=True)\n"
        "time.sleep(120)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    deadline = time.monotonic() + 60
    while Path(f"/proc/{child}/cmdline").read_text().split("\0")[: len(command)] != command:
        assert time.monotonic() < deadline, "launcher never exec'd the command"
        time.sleep(0.05)
    if command[0] == sys.executable:
        assert parent.stdout.readline() == "ready\n"  # SIGTERM is ignored from now on
    parent.send_signal(parent_signal)
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
