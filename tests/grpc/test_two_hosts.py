"""Two "hosts": two server processes on different ports sharing one real PostgreSQL database.

Each host is a separate ``recsvc serve`` process (its own FAISS index, caches and pool), started
against a database that ``recsvc train --import-store`` filled, as a deployment would.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import psycopg
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_health.v1 import health_pb2, health_pb2_grpc

from recsvc.data.demo import generate_demo
from recsvc.server.run import wait_serving
from recsvc.settings import load_settings
from recsvc.training import train_all
from recsvc.v1 import recsvc_pb2 as pb
from recsvc.v1 import recsvc_pb2_grpc as pb_grpc
from recsvc.vocabulary import EngagementTier
from tests.pg_cluster import PgCluster, free_port

REPO = Path(__file__).resolve().parents[2]
ITEM_SYNC_S = 1.0


@dataclass
class Host:
    port: int
    proc: subprocess.Popen[bytes]
    channel: grpc.Channel

    @property
    def stub(self) -> pb_grpc.PushRecommenderStub:
        return pb_grpc.PushRecommenderStub(self.channel)

    def health(self) -> int:
        r = health_pb2_grpc.HealthStub(self.channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
        return int(r.status)


@dataclass
class Deployment:
    url: str
    env: dict[str, str]
    hosts: list[Host]
    log_dir: Path

    def start_host(self) -> Host:
        port = free_port()
        log = open(self.log_dir / f"host-{port}.log", "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
            [sys.executable, "-m", "recsvc.cli", "serve", "--port", str(port)],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        if not wait_serving(f"127.0.0.1:{port}", timeout_s=300):
            proc.kill()
            raise AssertionError(f"host on {port} never SERVING:\n{(self.log_dir / f'host-{port}.log').read_text()}")
        host = Host(port, proc, grpc.insecure_channel(f"127.0.0.1:{port}"))
        self.hosts.append(host)
        return host

    def rows(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        with psycopg.connect(self.url, password=os.environ["RECSVC_POSTGRES_PASSWORD"], autocommit=True) as conn:
            return list(conn.execute(sql, params).fetchall())


@pytest.fixture(scope="module")
def deployment(pg_cluster: PgCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    root = tmp_path_factory.mktemp("two-hosts")
    url = pg_cluster.new_database()
    end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    paths = generate_demo(root / "demo", n_users=300, n_items=120, days=60, end=end, seed=3, progress=False)
    closed = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "RECSVC_PATHS_STORE": url,
        "RECSVC_PATHS_MODELS_DIR": str(root / "models"),
        "RECSVC_COPY_BASE_URL": f"http://127.0.0.1:{closed}/v1",
        "RECSVC_COPY_TIMEOUT_S": "0.5",
        "RECSVC_COPY_MAX_RETRIES": "0",
        "RECSVC_ENGINE_RELOAD_INTERVAL_S": "0",
        "RECSVC_ENGINE_WARM_ON_LOAD": "false",
        "RECSVC_ENGINE_ITEM_SYNC_S": str(ITEM_SYNC_S),
    }
    env.pop("RECSVC_CONFIG", None)
    settings = load_settings(env=env)
    train_all(
        settings,
        events=str(paths.events),
        items=str(paths.items),
        users=str(paths.users),
        import_store=True,
        progress=False,
    )
    dep = Deployment(url, env, [], root)
    try:
        dep.start_host()
        dep.start_host()
        yield dep
    finally:
        for h in dep.hosts:
            h.channel.close()
            if h.proc.poll() is None:
                h.proc.terminate()
                try:
                    h.proc.wait(30)
                except subprocess.TimeoutExpired:
                    h.proc.kill()
                    h.proc.wait()


def _ts(dt: datetime) -> Timestamp:
    t = Timestamp()
    t.FromDatetime(dt)
    return t


def _high_tier_user(dep: Deployment, skip: int) -> str:
    """A user host 0 would send to now, at the HIGH tier (largest caps); ``skip`` of them are left over."""
    found = 0
    for (user,) in dep.rows("SELECT user_id FROM users ORDER BY user_id"):
        r = dep.hosts[0].stub.Recommend(
            pb.RecommendRequest(user_id=str(user), max_candidates=3, write_copy=False), timeout=30
        )
        if r.candidates and not r.HasField("suppression") and r.engagement_tier == pb.ENGAGEMENT_TIER_HIGH:
            if found == skip:
                return str(user)
            found += 1
    raise AssertionError("too few sendable HIGH-tier users in the demo")


def test_an_event_acknowledged_by_one_host_is_seen_by_the_others_next_recommend(deployment: Deployment) -> None:
    a, b = deployment.hosts[:2]
    user = _high_tier_user(deployment, skip=0)
    event = pb.Event(
        event_id=f"unsub-{uuid.uuid4().hex}",
        user_id=user,
        ts=_ts(datetime.now(UTC)),
        event_type=pb.EVENT_TYPE_UNSUBSCRIBE,
    )
    assert a.stub.ReportEvents(pb.ReportEventsRequest(events=[event]), timeout=30).accepted == 1
    r = b.stub.Recommend(pb.RecommendRequest(user_id=user, max_candidates=3, write_copy=False), timeout=30)
    assert r.HasField("suppression") and r.suppression.reason == pb.SUPPRESSION_REASON_OPTED_OUT


def test_1000_concurrent_reservations_over_both_hosts_never_exceed_the_cap(deployment: Deployment) -> None:
    user = _high_tier_user(deployment, skip=1)
    hosts = deployment.hosts[:2]
    now = datetime.now(UTC).replace(microsecond=0)

    def reserve(i: int) -> pb.RecommendResponse:
        ctx = pb.RequestContext(campaign_id=f"c{i}", now=_ts(now + timedelta(seconds=i % 300)))
        req = pb.RecommendRequest(user_id=user, context=ctx, max_candidates=1, write_copy=False, reserve=True)
        return hosts[i % 2].stub.Recommend(req, timeout=120)

    with ThreadPoolExecutor(32) as pool:
        answers = list(pool.map(reserve, range(1000)))
    booked = [a for a in answers if not a.HasField("suppression")]
    sends = deployment.rows("SELECT ts FROM sends WHERE user_id=%s", (user,))
    cap = load_settings(env={}).frequency.daily_cap(EngagementTier.HIGH)
    assert len(booked) == len(sends) == cap
    refused = [a.suppression.reason for a in answers if a.HasField("suppression")]
    assert set(refused) == {pb.SUPPRESSION_REASON_FREQUENCY_CAP}


def test_an_item_upserted_through_one_host_is_retrievable_through_the_other(deployment: Deployment) -> None:
    a, b = deployment.hosts[:2]
    sku = f"spork-{uuid.uuid4().hex[:8]}"
    item = pb.Item(
        item_id=sku,
        title="Titanium camping spork with carry case",
        category="outdoor",
        price=12.0,
        currency="CNY",
        in_stock=True,
    )
    assert a.stub.UpsertItems(pb.UpsertItemsRequest(items=[item]), timeout=60).indexed == 1
    upserted = time.monotonic()
    # A call that starts engine.item_sync_s after the upsert was acknowledged must find the item.
    time.sleep(max(0.0, upserted + ITEM_SYNC_S - time.monotonic()))
    chunks = list(
        b.stub.AssistantReply(
            pb.AssistantReplyRequest(
                user_id="camper",
                conversation=[pb.ChatTurn(role="user", text="a titanium spork for camping")],
                max_items=5,
            ),
            timeout=60,
        )
    )
    assert sku in [c.item.item_id for c in chunks[0].items]


def test_kill_9_of_a_host_mid_load_loses_no_acknowledged_event(deployment: Deployment) -> None:
    victim = deployment.start_host()
    acked: list[str] = []
    stop = threading.Event()

    def load() -> None:
        n = 0
        while not stop.is_set():
            ids = [f"k9-{uuid.uuid4().hex}" for _ in range(50)]
            events = [
                pb.Event(
                    event_id=e, user_id=f"k9-user-{n % 7}", ts=_ts(datetime.now(UTC)), event_type=pb.EVENT_TYPE_APP_OPEN
                )
                for e in ids
            ]
            n += 1
            try:
                victim.stub.ReportEvents(pb.ReportEventsRequest(events=events), timeout=10)
            except grpc.RpcError:
                return  # the host is gone: this batch was never acknowledged
            acked.extend(ids)

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    while len(acked) < 1000:
        time.sleep(0.05)
    victim.proc.send_signal(signal.SIGKILL)
    victim.proc.wait(30)
    stop.set()
    for t in threads:
        t.join(30)
    stored = {str(r[0]) for r in deployment.rows("SELECT event_id FROM events WHERE event_id LIKE 'k9-%%'")}
    assert len(acked) >= 1000 and set(acked) <= stored


def test_postgres_down_means_not_serving_and_unavailable_then_recovery(
    deployment: Deployment, pg_cluster: PgCluster
) -> None:
    host = deployment.hosts[0]
    req = pb.RecommendRequest(user_id="someone-new", max_candidates=1, write_copy=False)
    pg_cluster.stop("fast")
    try:
        deadline = time.monotonic() + 20
        while host.health() != health_pb2.HealthCheckResponse.NOT_SERVING:
            assert time.monotonic() < deadline, "health still SERVING with PostgreSQL down"
            time.sleep(0.2)
        events = [
            pb.Event(
                event_id=f"down-{uuid.uuid4().hex}",
                user_id="u-down",
                ts=_ts(datetime.now(UTC)),
                event_type=pb.EVENT_TYPE_APP_OPEN,
            )
        ]
        with pytest.raises(grpc.RpcError) as err:
            host.stub.ReportEvents(pb.ReportEventsRequest(events=events), timeout=30)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE, err.value.details()
    finally:
        pg_cluster.start()
    deadline = time.monotonic() + 30
    while host.health() != health_pb2.HealthCheckResponse.SERVING:
        assert time.monotonic() < deadline, "health did not recover once PostgreSQL was back"
        time.sleep(0.2)
    assert host.stub.Recommend(req, timeout=30).user_id == "someone-new"
