"""A server whose only model version is bad starts NOT_SERVING, keeps watching, and serves once a
good version lands (the real server on port 0, loading in its background thread)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from recsvc.engine.models import MODEL_NAMES
from recsvc.server.app import build_server
from recsvc.server.run import wait_serving

NEW = "99990101T000000Z"  # sorts after any real version name


def _health(port: int) -> int:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        return int(health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=5).status)


def test_starts_on_a_bad_version_and_serves_once_a_good_one_lands(trained: Any, tmp_path: Path) -> None:
    src, models = Path(trained.settings.paths.models_dir), tmp_path / "models"
    good = {}
    for name in MODEL_NAMES:
        good[name] = sorted(p for p in (src / name).iterdir() if p.is_dir())[-1]
        shutil.copytree(good[name], models / name / good[name].name)
    calibration = models / "lifecycle" / good["lifecycle"].name / "calibration.json"
    calibration.write_bytes(calibration.read_bytes()[:10])  # the only lifecycle version is now bad
    settings = trained.settings.with_overrides(
        paths={"models_dir": str(models), "store": str(tmp_path / "recsvc.db")},
        engine={"reload_interval_s": 0.2, "warm_on_load": False},
    )
    srv = build_server(settings)
    srv.start()
    try:
        deadline = time.monotonic() + 60
        while srv.engine.metrics()[0].get("model_versions_refused", 0) < 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert srv.engine.metrics()[0].get("model_versions_refused") == 1, "the bad version was never refused"
        assert _health(srv.port) == health_pb2.HealthCheckResponse.NOT_SERVING
        shutil.copytree(good["lifecycle"], models / "lifecycle" / NEW)
        assert wait_serving(f"127.0.0.1:{srv.port}", timeout_s=120), "a good version landed but health stayed down"
        assert srv.engine.versions()["lifecycle"] == NEW
        assert srv.engine.metrics()[0]["model_versions_refused"] == 1
    finally:
        srv.stop(0)
