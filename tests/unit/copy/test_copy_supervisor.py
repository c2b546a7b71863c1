"""The supervisor's published status and exit descriptions (the real child runs in tests/integration)."""

from __future__ import annotations

import signal
from pathlib import Path

from recsvc.copy.local_server import describe_exit
from recsvc.copy.supervisor import LLMStatus, status_metrics


def test_describe_exit_names_the_signal() -> None:
    assert describe_exit(-int(signal.SIGSEGV)) == "killed by SIGSEGV"
    assert describe_exit(-int(signal.SIGKILL)) == "killed by SIGKILL"
    assert describe_exit(1) == "exited with code 1"


def test_status_round_trips_and_a_damaged_file_reads_as_none(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    status = LLMStatus(state="restarting", pid=0, restarts=3, failures=2, last_exit="killed by SIGSEGV", since=1.0)
    path.write_text(status.to_json())
    assert LLMStatus.read(path) == status
    path.write_text('{"state": "rea')
    assert LLMStatus.read(path) is None
    assert LLMStatus.read(tmp_path / "missing.json") is None


def test_status_metrics() -> None:
    values, details = status_metrics(LLMStatus(state="ready", restarts=1, since=0.0))
    assert values["local_llm_up"] == 1.0 and values["local_llm_restarts"] == 1.0
    assert details == {"local_llm.state": "ready"}
    assert status_metrics(None) == ({}, {})
