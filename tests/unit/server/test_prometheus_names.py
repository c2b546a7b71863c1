"""The engine's GetMetrics figures as Prometheus gauges: names sanitised, retention as labels, a
failing engine that does not fail the scrape."""

from __future__ import annotations

import threading

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from recsvc.server.prometheus import method_label
from recsvc.server.prometheus_engine import EngineCollector, metric_name


def _samples(collector: EngineCollector) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    registry = CollectorRegistry()
    registry.register(collector)
    text = generate_latest(registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_names_are_sanitised_and_retention_is_labelled() -> None:
    values = {
        "recommend_calls": 3.0,
        "outcomes.open_rate_7d": 0.25,
        "copy_guardrail:too-long": 1.0,
        "retention.pushed_d7": 0.5,
        "retention.pushed_d7_users": 40.0,
        "retention.exp.v2.holdout_d30": 0.1,
    }
    got = _samples(EngineCollector(lambda: (values, {"recs": "v3"})))
    assert got[("recsvc_recommend_calls", ())] == 3.0
    assert got[("recsvc_outcomes_open_rate_7d", ())] == 0.25
    assert got[("recsvc_copy_guardrail_too_long", ())] == 1.0
    assert got[("recsvc_retention", (("arm", "pushed"), ("day", "7"), ("experiment", "")))] == 0.5
    assert got[("recsvc_retention_users", (("arm", "pushed"), ("day", "7"), ("experiment", "")))] == 40.0
    assert got[("recsvc_retention", (("arm", "holdout"), ("day", "30"), ("experiment", "exp.v2")))] == 0.1
    assert got[("recsvc_model_version_info", (("model", "recs"), ("version", "v3")))] == 1.0
    assert got[("recsvc_engine_metrics_up", ())] == 1.0


def test_an_engine_that_cannot_answer_does_not_fail_the_scrape() -> None:
    def down() -> tuple[dict[str, float], dict[str, str]]:
        raise OSError("store unreachable")

    assert _samples(EngineCollector(down)) == {("recsvc_engine_metrics_up", ()): 0.0}


def test_metric_and_method_names() -> None:
    assert metric_name("a..b c") == "recsvc_a_b_c"
    assert method_label("/recsvc.v1.PushRecommender/Recommend", "recsvc.v1.PushRecommender") == "Recommend"
    assert method_label("/grpc.health.v1.Health/Check", "recsvc.v1.PushRecommender") == "grpc.health.v1.Health/Check"


def test_the_engine_is_read_on_one_thread_whatever_thread_scrapes() -> None:
    """Stores keep a connection per thread: scrapes from new threads must not add one each."""
    seen: set[int] = set()

    def source() -> tuple[dict[str, float], dict[str, str]]:
        seen.add(threading.get_ident())
        return {"x": 1.0}, {}

    collector = EngineCollector(source)
    registry = CollectorRegistry()
    registry.register(collector)
    threads = [threading.Thread(target=generate_latest, args=(registry,)) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    collector.close()
    assert len(seen) == 1


def test_an_engine_that_hangs_does_not_hang_the_scrape() -> None:
    release = threading.Event()

    def stuck() -> tuple[dict[str, float], dict[str, str]]:
        release.wait(5)
        return {}, {}

    collector = EngineCollector(stuck, timeout_s=0.2)
    try:
        assert _samples(collector) == {("recsvc_engine_metrics_up", ()): 0.0}
    finally:
        release.set()
        collector.close()
