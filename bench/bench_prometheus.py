"""What the Prometheus interceptor costs per gRPC call.

``direct``: the interceptor's own cost, without the network: a unary handler is looked up through
the interceptor (``intercept_service``, which wraps it for this call) and called in process, against
the same handler called bare. ``loopback``: two in-process servers answer the same trivial unary
method (bytes in, bytes out) over loopback, one with a pass-through interceptor (recsvc's server
always has interceptors, so gRPC's interceptor pipeline is in both) and one with it and
:class:`recsvc.server.prometheus.PrometheusInterceptor`. Each side alternates with the other in
rounds, so drift on a shared machine hits both alike; the table gives median and p99 per call, the
difference and the ratio (the direct ratio is against a bare function call, so only its difference
means something). The ``multiprocess`` rows repeat it with ``PROMETHEUS_MULTIPROC_DIR`` set, as
``serve --processes N`` runs (values written to memory-mapped files).

Run: ``.venv/bin/python bench/bench_prometheus.py [--calls 20000] [--direct-calls 200000] [--round 500]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc

REPO = Path(__file__).resolve().parents[1]
METHOD = "/bench.Echo/Call"


def _server(interceptors: list[grpc.ServerInterceptor]) -> tuple[grpc.Server, int]:
    def call(request: bytes, context: grpc.ServicerContext) -> bytes:
        return request

    handler = grpc.method_handlers_generic_handler(
        "bench.Echo", {"Call": grpc.unary_unary_rpc_method_handler(call, lambda b: b, lambda b: b)}
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), interceptors=interceptors)
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, port


def _percentile(sorted_us: list[float], q: float) -> float:
    return sorted_us[min(len(sorted_us) - 1, int(q * len(sorted_us)))]


class _PassThrough(grpc.ServerInterceptor):
    def intercept_service(self, continuation: Any, handler_call_details: Any) -> Any:
        return continuation(handler_call_details)


class _Details:
    method = METHOD
    invocation_metadata = ()


class _Context:
    """The one thing the interceptor asks of a context: the code set by abort (none here)."""

    def code(self) -> None:
        return None


def _stats(lat: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    out = {}
    for key, values in lat.items():
        s = sorted(values)
        out[key] = {"p50_us": _percentile(s, 0.5), "p99_us": _percentile(s, 0.99), "calls": float(len(s))}
    return out


def measure_direct(calls: int, per_round: int) -> dict[str, dict[str, float]]:
    """Per-call time (µs) of looking a handler up and calling it, bare and through the interceptor."""
    from recsvc.server.prometheus import PrometheusInterceptor, ServingMetrics

    handler = grpc.unary_unary_rpc_method_handler(lambda request, context: request)
    interceptor = PrometheusInterceptor(ServingMetrics.create(), "bench.Echo")
    details, context = _Details(), _Context()

    def bare() -> None:
        h = handler  # what a plain server's lookup returns
        h.unary_unary(b"x", context)

    def intercepted() -> None:
        h = interceptor.intercept_service(lambda d: handler, details)  # type: ignore[arg-type]
        h.unary_unary(b"x", context)  # type: ignore[union-attr]

    fns = {"off": bare, "on": intercepted}
    lat: dict[str, list[float]] = {"off": [], "on": []}
    for fn in fns.values():
        for _ in range(2000):
            fn()
    clock = time.perf_counter_ns
    done = 0
    while done < calls:
        for key in ("off", "on") if (done // per_round) % 2 == 0 else ("on", "off"):
            fn, out = fns[key], lat[key]
            for _ in range(per_round):
                t0 = clock()
                fn()
                out.append((clock() - t0) / 1000.0)
        done += per_round
    return _stats(lat)


def measure(calls: int, per_round: int) -> dict[str, dict[str, float]]:
    """Per-call latency (µs) without and with the interceptor, alternating rounds of ``per_round``."""
    from recsvc.server.prometheus import PrometheusInterceptor, ServingMetrics

    metrics = ServingMetrics.create()
    # recsvc's server always runs interceptors (decode, in-flight): the baseline has a pass-through
    # one, so the difference is the Prometheus interceptor's, not gRPC's interceptor pipeline.
    servers = {
        "off": _server([_PassThrough()]),
        "on": _server([_PassThrough(), PrometheusInterceptor(metrics, "bench.Echo")]),
    }
    channels = {k: grpc.insecure_channel(f"127.0.0.1:{port}") for k, (_, port) in servers.items()}
    stubs = {k: ch.unary_unary(METHOD, lambda b: b, lambda b: b) for k, ch in channels.items()}
    for stub in stubs.values():  # connections, threads and first-use costs out of the figures
        for _ in range(500):
            stub(b"x", timeout=5)
    lat: dict[str, list[float]] = {"off": [], "on": []}
    done = 0
    while done < calls:
        for key in ("off", "on") if (done // per_round) % 2 == 0 else ("on", "off"):
            stub = stubs[key]
            out = lat[key]
            for _ in range(per_round):
                t0 = time.perf_counter_ns()
                stub(b"x", timeout=5)
                out.append((time.perf_counter_ns() - t0) / 1000.0)
        done += per_round
    for ch in channels.values():
        ch.close()
    for server, _ in servers.values():
        server.stop(None)
    counted = sum(s.value for m in metrics.registry.collect() for s in m.samples if s.name.endswith("requests_total"))
    result = _stats(lat)
    result["on"]["counted"] = counted
    return result


def _child(mode: str, how: str, calls: int, per_round: int) -> dict[str, dict[str, float]]:
    env = dict(os.environ)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    with tempfile.TemporaryDirectory(prefix="bench-prom-") as folder:
        if mode == "multiprocess":
            env["PROMETHEUS_MULTIPROC_DIR"] = folder  # read when prometheus_client is imported
        out = subprocess.run(
            [sys.executable, __file__, "--child", how, "--calls", str(calls), "--round", str(per_round)],
            env={**env, "PYTHONPATH": str(REPO)},
            capture_output=True,
            text=True,
            check=True,
        )
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=20_000, help="loopback calls per server (default 20000)")
    ap.add_argument("--direct-calls", type=int, default=200_000, help="direct calls per side (default 200000)")
    ap.add_argument("--round", type=int, default=500, help="calls in a row before switching side")
    ap.add_argument("--child", choices=("direct", "loopback"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        run = measure_direct if args.child == "direct" else measure
        print(json.dumps(run(args.calls, args.round)))
        return
    print(
        f"direct: {args.direct_calls} calls per side, loopback: {args.calls} per server, alternating rounds of "
        f"{args.round}; µs per unary call\n"
    )
    head = ("call", "metrics mode", "p50 without", "p50 with", "p50 +µs", "p50 ratio")
    print("| " + " | ".join((*head, "p99 without", "p99 with", "p99 +µs", "p99 ratio")) + " |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for how, calls in (("direct", args.direct_calls), ("loopback", args.calls)):
        for mode in ("one process", "multiprocess"):
            r = _child(mode, how, calls, args.round)
            _row(how, mode, r, calls)


def _row(how: str, mode: str, r: dict[str, dict[str, float]], calls: int) -> None:
    off, on = r["off"], r["on"]
    if "counted" in on:
        assert on["counted"] >= calls, f"the interceptor counted {on['counted']} of {calls} calls"
    print(
        f"| {how} | {mode} | {off['p50_us']:.2f} | {on['p50_us']:.2f} | {on['p50_us'] - off['p50_us']:+.2f} "
        f"| {on['p50_us'] / off['p50_us']:.2f} | {off['p99_us']:.2f} | {on['p99_us']:.2f} "
        f"| {on['p99_us'] - off['p99_us']:+.2f} | {on['p99_us'] / off['p99_us']:.2f} |"
    )


if __name__ == "__main__":
    main()
