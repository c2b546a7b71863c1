"""Run a command that dies with the process that launched it.

Why: the local llama.cpp server is a child of the service. ``stop()`` ends it on a clean exit, but
if the service is killed with SIGKILL nothing runs, and the child would keep its port and 400 MB.
On Linux the kernel can send a signal to a process when its parent dies (``PR_SET_PDEATHSIG``);
the setting survives ``exec``, so this tiny launcher sets it and then becomes the command:

    python -m recsvc.copy.orphan_guard <parent pid> <command> [args ...]

The parent pid closes the race where the parent died before ``prctl`` ran. Elsewhere (macOS) it
just runs the command. The signal fires when the *thread* that started the child exits, so start
the child from a thread that lives as long as the service (the main thread does).

The signal is SIGKILL, not SIGTERM: llama.cpp's server takes SIGTERM as a graceful shutdown and
first finishes the completion in flight, which on a busy CPU kept an orphan alive (its port, its
memory, a core) for tens of seconds after its parent was gone; it has nothing to save.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def set_parent_death_signal(sig: int = signal.SIGTERM) -> bool:
    """Ask the kernel to send ``sig`` to this process when its parent dies; False if unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return int(libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def main(argv: list[str]) -> int:
    if len(argv) < 2 or not argv[0].isdigit():
        print("usage: python -m recsvc.copy.orphan_guard <parent pid> <command> [args ...]", file=sys.stderr)
        return 2
    parent, cmd = int(argv[0]), argv[1:]
    set_parent_death_signal(signal.SIGKILL)
    if os.getppid() != parent:  # the parent is already gone: do not start an orphan
        return 1
    os.execvp(cmd[0], cmd)
    return 127  # pragma: no cover - execvp does not return


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
