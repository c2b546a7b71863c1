"""The `make run` sample waits for the LLM's copy only when an LLM answers, and stops once it has it."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest

from recsvc.server.run import _has_llm_copy, _llm_answers
from tests.grpc.conftest import closed_port


class _Refuses(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # an endpoint that wants a key still listens
        self.send_response(401)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture()
def endpoint() -> Iterator[str]:
    srv = http.server.HTTPServer(("127.0.0.1", 0), _Refuses)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_port}/v1"
    srv.shutdown()


def test_an_answering_endpoint_is_waited_for_and_a_closed_port_is_not(endpoint: str) -> None:
    assert _llm_answers(endpoint)
    assert not _llm_answers(f"http://127.0.0.1:{closed_port()}/v1")
    assert not _llm_answers("not a url")


def test_llm_copy_is_recognised_by_its_writer() -> None:
    template = {"candidates": [{"message": {"writer": "WRITER_TEMPLATE"}}]}
    assert not _has_llm_copy(template) and not _has_llm_copy({"candidates": []})
    assert _has_llm_copy(
        {"candidates": [{"message": {"writer": "WRITER_TEMPLATE"}}, {"message": {"writer": "WRITER_LLM"}}]}
    )
