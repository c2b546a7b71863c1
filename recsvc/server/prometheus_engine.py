"""The engine's own figures (what ``GetMetrics`` returns) as Prometheus gauges, read at scrape time.

Why a collector and not gauges set as things happen: the figures are computed on demand (outcome
rates and retention are store queries, latency percentiles come from a window), so the scrape asks
the engine once, exactly like a ``GetMetrics`` call, and nothing runs between scrapes.

Names: ``recsvc_`` + the ``GetMetrics`` name with every character Prometheus refuses turned into
``_`` (``outcomes.open_rate_7d`` -> ``recsvc_outcomes_open_rate_7d``). Retention carries the
experiment, arm and day as labels instead, since experiment ids and arms come from callers and would
otherwise mint a metric name each: ``recsvc_retention{experiment,arm,day}`` and
``recsvc_retention_users{...}`` (experiment ``""`` is the global control group's split).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator, Mapping
from concurrent import futures
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

PREFIX = "recsvc_"
_NOT_ALLOWED = re.compile(r"[^a-zA-Z0-9_]+")
_RETENTION = re.compile(r"^retention\.(?:(?P<experiment>.+)\.)?(?P<arm>[^.]+)_d(?P<day>\d+)(?P<users>_users)?$")

MetricsSource = Callable[[], tuple[Mapping[str, float], Mapping[str, str]]]


def metric_name(name: str) -> str:
    """``recsvc_`` + ``name`` with runs of characters outside ``[a-zA-Z0-9_]`` as one ``_``."""
    return PREFIX + _NOT_ALLOWED.sub("_", name).strip("_")


class EngineCollector(Collector):
    """Gauges of ``source()`` (``engine.metrics``): one per figure, retention with labels, and
    ``recsvc_model_version_info{model,version}``; ``recsvc_engine_metrics_up`` is 0 when the engine
    could not answer within ``timeout_s`` (a store that is down), so a scrape never fails for it.

    ``source`` always runs on one thread of its own: the HTTP server answers each scrape on a new
    thread, and the stores open a connection per thread that they keep until they close, so a
    scrape every 15 s would otherwise add a connection every 15 s.
    """

    def __init__(self, source: MetricsSource, timeout_s: float = 10.0) -> None:
        self._source = source
        self._timeout_s = timeout_s
        self._thread = futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="metrics-scrape")

    def close(self) -> None:
        self._thread.shutdown(wait=False, cancel_futures=True)

    def describe(self) -> list[Any]:
        return []  # nothing to check at registration: the names depend on what the engine reports

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            values, versions = self._thread.submit(self._source).result(timeout=self._timeout_s)
        except Exception as exc:  # the store may be down; the serving metrics must still be scraped
            logger.warning("engine metrics unavailable for the scrape: %s", exc)
            yield GaugeMetricFamily(f"{PREFIX}engine_metrics_up", "1 when the engine answered this scrape", value=0)
            return
        yield GaugeMetricFamily(f"{PREFIX}engine_metrics_up", "1 when the engine answered this scrape", value=1)
        yield from _gauges(values)
        info = GaugeMetricFamily(
            f"{PREFIX}model_version_info", "The model versions serving (value 1)", labels=["model", "version"]
        )
        for model, version in sorted(versions.items()):
            info.add_metric([model, str(version)], 1.0)
        yield info


def _gauges(values: Mapping[str, float]) -> Iterator[GaugeMetricFamily]:
    retention = GaugeMetricFamily(
        f"{PREFIX}retention", "Share of users active N days after first exposure", labels=["experiment", "arm", "day"]
    )
    retention_users = GaugeMetricFamily(
        f"{PREFIX}retention_users", "Users the retention rate is over", labels=["experiment", "arm", "day"]
    )
    plain: dict[str, tuple[str, float]] = {}
    for name, value in sorted(values.items()):
        m = _RETENTION.match(name)
        if m is not None:
            family = retention_users if m["users"] else retention
            family.add_metric([m["experiment"] or "", m["arm"], m["day"]], float(value))
            continue
        prom = metric_name(name)
        if prom in plain:  # two GetMetrics names that sanitise alike: keep the first, say so once
            logger.debug("metric %s and %s share the Prometheus name %s", plain[prom][0], name, prom)
            continue
        plain[prom] = (name, float(value))
    for prom, (name, value) in plain.items():
        yield GaugeMetricFamily(prom, f"GetMetrics {name}", value=value)
    if retention.samples:
        yield retention
    if retention_users.samples:
        yield retention_users
