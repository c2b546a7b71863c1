"""GenerateMessage keeps the caller's deadline when the LLM endpoint hangs: the template answers.

The endpoint here accepts connections and never answers, the worst case for a client (no error to
react to). A caller with a 100 ms deadline must still get copy, written by the template, and
``GetMetrics`` must count the deadline fallbacks.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import grpc
import pytest

from recsvc.server.app import RecsvcServer, build_server
from recsvc.v1 import recsvc_pb2 as pb
from recsvc.v1 import recsvc_pb2_grpc as pb_grpc

from .conftest import Trained


@pytest.fixture(scope="module")
def hanging_endpoint() -> Iterator[str]:
    """An HTTP port that accepts and reads but never replies."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
                held.append(conn)
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    stop.set()
    t.join(timeout=2)
    for c in held:
        c.close()
    sock.close()


@pytest.fixture(scope="module")
def hanging(trained: Trained, hanging_endpoint: str) -> Iterator[tuple[pb_grpc.PushRecommenderStub, RecsvcServer]]:
    settings = trained.settings.with_overrides(copy={"base_url": hanging_endpoint, "timeout_s": 20.0})
    srv: RecsvcServer = build_server(settings)
    srv.start(load_models=False)
    srv.load_models_now()
    with grpc.insecure_channel(f"127.0.0.1:{srv.port}") as ch:
        yield pb_grpc.PushRecommenderStub(ch), srv
    srv.stop(0)


def test_generate_message_within_a_short_deadline_falls_back_to_the_template(
    hanging: tuple[pb_grpc.PushRecommenderStub, RecsvcServer], known_user: str
) -> None:
    hanging_stub, srv = hanging
    item_id = str(srv.engine.store.items_frame()["item_id"].iloc[0])
    req = pb.GenerateMessageRequest(user_id=known_user, item_id=item_id, channel=pb.CHANNEL_APP_PUSH)
    hanging_stub.GenerateMessage(req, timeout=30)  # first call: user state and caches, no deadline pressure
    for i in range(20):
        resp = hanging_stub.GenerateMessage(
            pb.GenerateMessageRequest(
                user_id=known_user, item_id=item_id, channel=pb.CHANNEL_APP_PUSH, offer=f"offer {i}"
            ),
            timeout=0.1,
        )
        assert resp.message.writer == pb.WRITER_TEMPLATE
        assert resp.message.title and resp.message.body
