"""What openwire-opentelemetry costs, as same-run ratios against a client without it.

    uv run --all-packages python bench/otel_overhead.py             # ~2 min
    uv run --all-packages python bench/otel_overhead.py --runs 9 --duration 1

Three variants of the same openwire client (native engine, as bench/clients.py
configures it: no compression, no pings, no size limits) run against the
echo server of bench/run.py:

* ``plain``: ``Client(...)``, no instrumentation;
* ``disabled``: ``Client(**settings(enabled=False))``, the package installed
  and switched off;
* ``enabled``: ``Client(**settings(tracer_provider=..., meter_provider=...))``
  with the real SDK: a ``BatchSpanProcessor`` exporting to an exporter that
  drops the spans (its worker thread's CPU is counted: the process's CPU
  time is measured) and a ``MeterProvider`` with a reader; per-message span
  events off (the default).

and ``sdk-floor`` (with ``--variants``): no instrumentation, but a listener
that makes only the SDK calls a handshake cannot do without (the two
spans with the same attributes, span events and link, and the two histogram
points, all from constants), so ``enabled`` minus ``sdk-floor`` is what the
instrumentation itself adds.

Workloads (bench/workloads.py): ``rt-64b`` (one 64-byte binary message in
flight, echoed) and ``handshake`` (connect, then close, one after the
other). Each sample runs in a fresh forked worker; repeats are interleaved
with the variants in rotated order, and each repeat's ratio (client CPU per
operation of the variant / of ``plain`` in the same repeat) is taken before
the median, so slow drift of a busy machine hits every variant alike.

``--profile N`` runs N handshakes per variant in this process under
cProfile (CPU-time clock) instead: function calls per handshake are
deterministic, so they compare variants on a machine too busy for ratios.
``--floor`` times the SDK calls of ``sdk-floor`` alone, in a loop.
"""

from __future__ import annotations

import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH_DIR]
sys.path.append(str(BENCH_DIR))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import contextlib  # noqa: E402
import multiprocessing  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
from collections.abc import AsyncIterator, Sequence  # noqa: E402
from typing import Any  # noqa: E402

import clients  # noqa: E402
from clients import Connection, Connector  # noqa: E402
from run import echo_server  # noqa: E402
from workloads import BY_NAME, Timing, _handshakes, _round_trip, _Window, payload_for  # noqa: E402

VARIANTS = ("plain", "disabled", "enabled")
# Where the cost of "enabled" goes (--variants): the SDK's spans only, its
# metrics only, the instrumentation with no SDK installed (no-op providers),
# or the SDK with a sampler that records no span (metrics still on).
EXTRA_VARIANTS = ("traces-only", "metrics-only", "no-sdk", "unsampled", "sdk-floor")
WORKLOADS = ("rt-64b", "handshake")


def _providers(variant: str) -> tuple[Any, Any]:
    """The tracer and meter providers of ``variant``: the SDK's, or no-op ones."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        SpanExporter,
        SpanExportResult,
    )

    class Drop(SpanExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    from opentelemetry.metrics import NoOpMeterProvider
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
    from opentelemetry.trace import NoOpTracerProvider

    tracer_provider: Any = TracerProvider(sampler=ALWAYS_OFF if variant == "unsampled" else None)
    tracer_provider.add_span_processor(BatchSpanProcessor(Drop()))
    meter_provider: Any = MeterProvider(metric_readers=[InMemoryMetricReader()])
    if variant in ("metrics-only", "no-sdk"):
        tracer_provider = NoOpTracerProvider()
    if variant in ("traces-only", "no-sdk"):
        meter_provider = NoOpMeterProvider()
    return tracer_provider, meter_provider


def _settings(variant: str) -> dict[str, Any]:
    if variant == "plain":
        return {}
    import openwire_opentelemetry

    if variant == "disabled":
        return dict(openwire_opentelemetry.settings(enabled=False))
    if variant == "sdk-floor":
        return {"event_listener_factory": _floor_listener()}
    tracer_provider, meter_provider = _providers(variant)
    return dict(
        openwire_opentelemetry.settings(
            tracer_provider=tracer_provider, meter_provider=meter_provider
        )
    )


class _FloorCalls:
    """The SDK calls one WebSocket connect + close needs, with constant attributes.

    What ``enabled`` records for bench/'s handshake (no DNS, no TLS): a
    client span with 5 attributes at start, 3 events and 4 attributes
    (status, version, reuse, engine) added before it ends; an internal span
    with 4 attributes and a link at start, 1 event and 5 attributes at its
    end; a histogram point for each, with 5 and 4 attributes.
    """

    def __init__(self) -> None:
        from opentelemetry.trace import Link, SpanKind
        from openwire_opentelemetry import _names as n

        tracer_provider, meter_provider = _providers("enabled")
        self.tracer = tracer_provider.get_tracer("bench.floor")
        meter = meter_provider.get_meter("bench.floor")
        self.http_duration = meter.create_histogram(n.METRIC_HTTP_DURATION, unit="s")
        self.ws_duration = meter.create_histogram(n.METRIC_WS_DURATION, unit="s")
        self.link, self.client, self.internal = Link, SpanKind.CLIENT, SpanKind.INTERNAL
        self.names = n
        where = {n.SERVER_ADDRESS: "127.0.0.1", n.SERVER_PORT: 8765}
        self.attempt = {
            n.HTTP_REQUEST_METHOD: "GET",
            n.URL_FULL: "http://127.0.0.1:8765/",
            **where,
            n.WS_HANDSHAKE: True,
        }
        self.answer = {
            n.HTTP_RESPONSE_STATUS_CODE: 101,
            n.NETWORK_PROTOCOL_VERSION: "1.1",
            n.CONNECTION_REUSED: False,
            n.WS_ENGINE: "native",
        }
        self.attempt_metric = {
            n.HTTP_REQUEST_METHOD: "GET",
            **where,
            n.HTTP_RESPONSE_STATUS_CODE: 101,
            n.NETWORK_PROTOCOL_VERSION: "1.1",
        }
        self.connection = {n.URL_FULL: "ws://127.0.0.1:8765/", **where, n.URL_SCHEME: "ws"}
        self.end = {
            n.WS_CLOSE_CODE: 1000,
            n.WS_MESSAGES_SENT: 0,
            n.WS_MESSAGES_RECEIVED: 0,
            n.WS_ENGINE: "native",
            n.WS_CLOSE_INITIATOR: "client",
        }
        self.connection_metric = {**where, n.URL_SCHEME: "ws", n.WS_ENGINE: "native"}

    def start_attempt(self) -> Any:
        return self.tracer.start_span("GET", kind=self.client, attributes=self.attempt)

    def end_attempt(self, span: Any) -> Any:
        span.set_attributes(self.answer)
        span.end()
        self.http_duration.record(0.001, self.attempt_metric)
        return self.tracer.start_span(
            "WebSocket",
            kind=self.internal,
            attributes=self.connection,
            links=[self.link(span.get_span_context())],
        )

    def end_connection(self, span: Any) -> None:
        span.set_attributes(self.end)
        span.end()
        self.ws_duration.record(0.001, self.connection_metric)

    def one(self) -> None:
        n = self.names
        span = self.start_attempt()
        span.add_event(n.EVENT_CONNECT_START)
        span.add_event(n.EVENT_CONNECT_END)
        span.add_event(n.EVENT_RESPONSE_HEADERS)
        connection = self.end_attempt(span)
        connection.add_event(n.EVENT_WS_CLOSING)
        self.end_connection(connection)


def _floor_listener() -> Any:
    from openwire import EventListener

    calls = _FloorCalls()
    n = calls.names

    class Floor(EventListener):
        span: Any = None
        connection: Any = None

        def call_start(self, request: Any) -> None:
            self.span = calls.start_attempt()

        def connect_start(self, host: str, port: int) -> None:
            self.span.add_event(n.EVENT_CONNECT_START)

        def connect_end(self, host: str, port: int) -> None:
            self.span.add_event(n.EVENT_CONNECT_END)

        def response_headers_end(self, response: Any) -> None:
            self.span.add_event(n.EVENT_RESPONSE_HEADERS)

        def websocket_negotiated(
            self, subprotocol: str | None, extensions: list[str], engine: str
        ) -> None:
            self.connection = calls.end_attempt(self.span)

        def websocket_closing(self, code: int, reason: str, by_peer: bool) -> None:
            self.connection.add_event(n.EVENT_WS_CLOSING)

        def websocket_closed(self, code: int, reason: str) -> None:
            calls.end_connection(self.connection)

    return Floor


@contextlib.asynccontextmanager
async def _connector(variant: str) -> AsyncIterator[Connector]:
    from openwire import Client, Limits

    async with Client(limits=Limits(max_connections=1 << 16), **_settings(variant)) as client:

        async def connect(url: str) -> Connection:
            ws = await client.new_websocket(
                url,
                engine="native",
                ping_interval=None,
                max_message_size=None,
                max_frame_size=None,
                compression=None,
            ).execute()
            return Connection(ws.send, ws.send, ws.receive, ws.close, clients._data)

        yield connect


async def _sample(variant: str, workload: str, url: str, timing: Timing) -> tuple[int, float]:
    window = _Window(None)
    async with _connector(variant) as connect:
        if workload == "handshake":
            count = await _handshakes(connect, url, timing, window)
        else:
            conn = await connect(url)
            count = await _round_trip(conn, payload_for(BY_NAME[workload]), timing, window)
            await conn.close()
    return count, window.cpu


def _worker(variant: str, workload: str, url: str, timing: Timing, pipe: Any) -> None:
    try:
        pipe.send(asyncio.run(_sample(variant, workload, url, timing)))
    except BaseException as exc:
        pipe.send(f"{type(exc).__name__}: {exc}")
    pipe.close()
    os._exit(0)


def run_one(variant: str, workload: str, url: str, timing: Timing) -> float:
    """Client CPU microseconds per operation of one sample, in a fresh forked worker."""
    ctx = multiprocessing.get_context("fork")
    receiver, sender = ctx.Pipe(duplex=False)
    process = ctx.Process(target=_worker, args=(variant, workload, url, timing, sender))
    process.start()
    sender.close()
    result = receiver.recv() if receiver.poll(120) else "timed out"
    process.join(5)
    if isinstance(result, str):
        raise RuntimeError(f"{variant} {workload}: {result}")
    count, cpu = result
    return cpu / count * 1e6


async def _profiled(variant: str, url: str, count: int) -> tuple[float, float, float]:
    """(calls, profiled CPU µs, unprofiled CPU µs) per handshake, in this process."""
    import cProfile
    import pstats
    import time

    async with _connector(variant) as connect:
        for _ in range(100):
            conn = await connect(url)
            await conn.close()
        started = time.process_time()
        for _ in range(count):
            conn = await connect(url)
            await conn.close()
        plain_cpu = time.process_time() - started
        profile = cProfile.Profile(time.process_time)
        profile.enable()
        for _ in range(count):
            conn = await connect(url)
            await conn.close()
        profile.disable()
    stats = pstats.Stats(profile)
    total_calls: int = stats.total_calls  # type: ignore[attr-defined]
    total_time: float = stats.total_tt  # type: ignore[attr-defined]
    return total_calls / count, total_time / count * 1e6, plain_cpu / count * 1e6


def _floor(runs: int) -> None:
    """The SDK calls of one handshake (``sdk-floor``'s), alone in a loop, and their parts."""
    import time

    calls = _FloorCalls()
    n = calls.names

    def two_spans() -> None:
        span = calls.start_attempt()
        span.set_attributes(calls.answer)
        span.end()
        connection = calls.tracer.start_span(
            "WebSocket", kind=calls.internal, attributes=calls.connection
        )
        connection.set_attributes(calls.end)
        connection.end()

    def two_points() -> None:
        calls.http_duration.record(0.001, calls.attempt_metric)
        calls.ws_duration.record(0.001, calls.connection_metric)

    def four_events() -> None:
        span = calls.tracer.start_span("GET", kind=calls.client)
        for name in (
            n.EVENT_CONNECT_START,
            n.EVENT_CONNECT_END,
            n.EVENT_RESPONSE_HEADERS,
            n.EVENT_WS_CLOSING,
        ):
            span.add_event(name)
        span.end()

    def bare_span() -> None:
        calls.tracer.start_span("GET").end()

    parts = (
        ("all of one handshake (sdk-floor)", calls.one),
        ("the two spans with their attributes", two_spans),
        ("the two histogram points", two_points),
        ("one span and the four events", four_events),
        ("one span, no attributes", bare_span),
    )
    print(f"SDK calls alone, CPU µs per handshake (median of {runs} x 500):")
    for label, fn in parts:
        per_call = []
        for _ in range(runs):
            started = time.process_time()
            for _ in range(500):
                fn()
            per_call.append((time.process_time() - started) / 500 * 1e6)
        print(f"  {label}: {statistics.median(per_call):.1f} (min {min(per_call):.1f})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="repeats (default 7)")
    parser.add_argument("--duration", type=float, default=0.6, help="seconds per sample")
    parser.add_argument("--server", default="auto", choices=["auto", "picows", "websockets"])
    parser.add_argument("--no-pin", action="store_true", help="do not pin server and workers")
    parser.add_argument(
        "--variants",
        default=",".join(VARIANTS),
        help=f"comma-separated, 'plain' first (default: all of {VARIANTS}; also {EXTRA_VARIANTS})",
    )
    parser.add_argument("--workloads", default=",".join(WORKLOADS), help=f"subset of {WORKLOADS}")
    parser.add_argument(
        "--profile", type=int, default=0, metavar="N", help="profile N handshakes per variant"
    )
    parser.add_argument("--floor", action="store_true", help="time the SDK floor alone")
    args = parser.parse_args(argv)
    if args.floor:
        _floor(max(args.runs, 5))
        return 0
    variants = tuple(v for v in args.variants.split(",") if v)
    workloads = tuple(w for w in args.workloads.split(",") if w)
    if variants[0] != "plain" or not set(variants) <= {*VARIANTS, *EXTRA_VARIANTS}:
        raise SystemExit(f"--variants: 'plain' first, then any of {VARIANTS + EXTRA_VARIANTS}")
    if not set(workloads) <= set(WORKLOADS):
        raise SystemExit(f"--workloads: any of {WORKLOADS}")
    timing = Timing(warmup=0.15, duration=args.duration)

    # Import everything before forking, so workers start warm and equal.
    clients.preload(["openwire-native"])
    _settings("enabled")

    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    pin = not args.no_pin and len(cores) >= 2
    impl = args.server
    if impl == "auto":
        import importlib.util

        impl = "picows" if importlib.util.find_spec("picows") else "websockets"
    with echo_server(impl, cores[0] if pin else None) as server:
        if pin:
            os.sched_setaffinity(0, {cores[1]})
        if args.profile:
            print(f"\nserver: {impl}; {args.profile} handshakes per variant, in one process")
            print("| variant | calls/handshake | profiled CPU µs | CPU µs unprofiled |")
            print("| --- | --- | --- | --- |")
            for variant in variants:
                calls, profiled, cpu = asyncio.run(_profiled(variant, server.url, args.profile))
                print(f"| {variant} | {calls:.0f} | {profiled:.0f} | {cpu:.0f} |")
            return 0
        per_op: dict[tuple[str, str], list[float]] = {}
        ratios: dict[tuple[str, str], list[float]] = {}
        for repeat in range(args.runs):
            for workload in workloads:
                shift = repeat % len(variants)
                order = variants[shift:] + variants[:shift]
                measured = {v: run_one(v, workload, server.url, timing) for v in order}
                for variant, value in measured.items():
                    per_op.setdefault((workload, variant), []).append(value)
                    ratios.setdefault((workload, variant), []).append(value / measured["plain"])
            print(f"repeat {repeat + 1}/{args.runs} done", file=sys.stderr)

    print(f"\nserver: {impl}; {args.runs} repeats of {args.duration}s; client CPU per operation")
    print("| workload | variant | CPU µs/op (median) | ratio to plain (median, min-max) |")
    print("| --- | --- | --- | --- |")
    for workload in workloads:
        for variant in variants:
            values = per_op[(workload, variant)]
            r = ratios[(workload, variant)]
            print(
                f"| {workload} | {variant} | {statistics.median(values):.1f} | "
                f"{statistics.median(r):.3f} ({min(r):.3f}-{max(r):.3f}) |"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
