"""A real server on port 0, trained on a small seeded demo app, called through the generated stubs.

The LLM endpoint points at a closed port here, so copy comes from templates and says so; the
real llama.cpp server is exercised in tests/integration.
"""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pandas as pd
import pytest

from recsvc.data.demo import generate_demo
from recsvc.server.app import RecsvcServer, build_server
from recsvc.settings import Settings, load_settings
from recsvc.training import train_all
from recsvc.v1 import recsvc_pb2_grpc as pb_grpc


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Trained:
    settings: Settings
    data: Path


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    root = tmp_path_factory.mktemp("svc")
    end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    paths = generate_demo(root / "demo", n_users=400, n_items=150, days=90, end=end, seed=7, progress=False)
    settings = load_settings(env={}).with_overrides(
        paths={"store": str(root / "recsvc.db"), "models_dir": str(root / "models")},
        server={"port": 0},
        copy={"base_url": f"http://127.0.0.1:{closed_port()}/v1", "timeout_s": 0.5, "max_retries": 0},
        engine={"reload_interval_s": 0.0},
    )
    train_all(
        settings,
        events=str(paths.events),
        items=str(paths.items),
        users=str(paths.users),
        import_store=True,
        progress=False,
    )
    return Trained(settings=settings, data=root / "demo")


@pytest.fixture(scope="session")
def server(trained: Trained) -> Iterator[RecsvcServer]:
    srv = build_server(trained.settings)
    srv.start(load_models=False)
    srv.load_models_now()
    yield srv
    srv.stop(0)


@pytest.fixture(scope="session")
def channel(server: RecsvcServer) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as ch:
        yield ch


@pytest.fixture(scope="session")
def stub(channel: grpc.Channel) -> pb_grpc.PushRecommenderStub:
    return pb_grpc.PushRecommenderStub(channel)


@pytest.fixture(scope="session")
def known_user(server: RecsvcServer) -> str:
    """The user with the most purchases: a long history every model has seen. Shared by the tests
    that only read it; a test that changes what the service knows about a user takes ``own_user``."""
    return server.engine.store.most_active_users(event_type="purchase", limit=1)[0]


@pytest.fixture()
def own_user(server: RecsvcServer, known_user: str) -> str:
    """A user of this test alone: ``known_user``'s profile and history copied under a new id into the
    running server's store, with the opt-outs and feedback those events imply."""
    return clone_user(server, known_user, f"own-{uuid.uuid4().hex[:16]}")


def clone_user(server: RecsvcServer, source: str, user_id: str) -> str:
    """Store ``source``'s user row and every event of it again as ``user_id``; returns ``user_id``."""
    store = server.engine.store
    profile = store.get_user(source)
    if profile is not None:
        attributes = json.loads(profile.pop("attributes") or "{}")
        store.upsert_users(pd.DataFrame([{**profile, **attributes, "user_id": user_id}]))
    events = store.events_for_user(source, limit=store.count("events"))
    rows = [
        {**row, "user_id": user_id, "event_id": f"{user_id}-{i}"} for i, row in enumerate(events.to_dict("records"))
    ]
    store.add_events(rows, derive=server.engine.caps.derive_from_events)
    return user_id
