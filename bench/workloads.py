"""The workloads and the code that runs one of them inside a worker process.

Every timed loop is duration-bound rather than count-bound, so a slow client
cannot stretch the whole run and a fast one still gets a stable sample. CPU
figures come from ``time.process_time()`` of the worker and from the echo
server's /proc counters, both read at the exact edges of the timed window, so
start-up, connect and warm-up never leak into them.
"""

from __future__ import annotations

import asyncio
import gc
import json
import random
import resource
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Literal

from clients import Connection, Connector, connector
from procstats import process_cpu_seconds, raise_fd_limit, rss_bytes

Kind = Literal["rt", "pipe", "handshake", "memory", "fanin"]


@dataclass(frozen=True, slots=True)
class Workload:
    name: str
    kind: Kind
    size: int = 0
    text: bool = False
    window: int = 1
    title: str = ""
    # wss on the echo server's TLS port, one client SSLContext per sample.
    tls: bool = False
    # permessage-deflate on, against the server's deflate port.
    deflate: bool = False
    # JSON-like text instead of a repeated pattern (what compression is for).
    json: bool = False

    @property
    def unit(self) -> str:
        return {
            "rt": "msg/s",
            "pipe": "msg/s",
            "handshake": "conn/s",
            "memory": "KiB/conn",
            "fanin": "msg/s",
        }[self.kind]

    @property
    def higher_is_better(self) -> bool:
        return self.kind != "memory"


KiB = 1024
MiB = 1024 * KiB
PIPE_WINDOW = 100
IDLE_CONNECTIONS = 1000

WORKLOADS: tuple[Workload, ...] = (
    Workload("rt-64b", "rt", 64, title="round trip 64 B"),
    Workload("rt-1k", "rt", KiB, title="round trip 1 KiB"),
    Workload("rt-16k", "rt", 16 * KiB, title="round trip 16 KiB"),
    Workload("rt-256k", "rt", 256 * KiB, title="round trip 256 KiB"),
    Workload("rt-1m", "rt", MiB, title="round trip 1 MiB"),
    Workload("rt-64t", "rt", 64, text=True, title="round trip 64 B text"),
    Workload("pipe-64b", "pipe", 64, window=PIPE_WINDOW, title="100 in flight, 64 B"),
    Workload("pipe-16k", "pipe", 16 * KiB, window=PIPE_WINDOW, title="100 in flight, 16 KiB"),
    Workload("handshake", "handshake", title="sequential handshakes"),
    Workload("idle-mem", "memory", window=IDLE_CONNECTIONS, title="idle memory / connection"),
    Workload("wss-rt-64b", "rt", 64, tls=True, title="wss round trip 64 B"),
    Workload("wss-rt-16k", "rt", 16 * KiB, tls=True, title="wss round trip 16 KiB"),
    Workload("wss-handshake", "handshake", tls=True, title="sequential wss handshakes"),
    Workload("idle-mem-tls", "memory", window=IDLE_CONNECTIONS, tls=True, title="idle memory, wss"),
    Workload(
        "idle-mem-z",
        "memory",
        window=IDLE_CONNECTIONS,
        deflate=True,
        title="idle memory, deflate negotiated",
    ),
    Workload(
        "rt-16k-z",
        "rt",
        16 * KiB,
        text=True,
        deflate=True,
        json=True,
        title="round trip 16 KiB JSON text, deflate",
    ),
    Workload("fan-in", "fanin", 32, window=IDLE_CONNECTIONS, title="fan-in, 10 msg/s each"),
)
BY_NAME = {w.name: w for w in WORKLOADS}


@dataclass(slots=True)
class Timing:
    """Knobs that trade precision for wall time (``--quick``, ``--smoke``)."""

    warmup: float = 0.3
    duration: float = 1.5
    idle_connections: int = IDLE_CONNECTIONS
    # Fan-in needs whole broadcast periods (100 ms) per connection to measure.
    fanin_duration: float = 2.0


@dataclass(frozen=True, slots=True)
class Endpoints:
    """Where the echo server listens: plain, TLS and permessage-deflate ports."""

    url: str
    tls_url: str | None = None
    deflate_url: str | None = None
    cafile: str | None = None

    def for_workload(self, workload: Workload) -> str:
        chosen = self.url
        if workload.tls or workload.deflate:
            chosen = self.tls_url if workload.tls else self.deflate_url
        if chosen is None:
            raise RuntimeError(f"the echo server has no endpoint for {workload.name}")
        return chosen

    def client_ssl(self, workload: Workload) -> ssl.SSLContext | None:
        """The one client context all connections of a sample share (as an app would)."""
        if not workload.tls:
            return None
        return ssl.create_default_context(cafile=self.cafile)


@dataclass(slots=True)
class Sample:
    """One client x workload x repeat, as the worker measured it."""

    client: str
    workload: str
    repeat: int
    value: float = 0.0
    count: int = 0
    seconds: float = 0.0
    client_cpu: float = 0.0
    server_cpu: float | None = None
    error: str | None = None
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def cpu_us_per_op(self) -> float | None:
        return self.client_cpu / self.count * 1e6 if self.count else None

    def as_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["cpu_us_per_op"] = self.cpu_us_per_op
        return data


def json_text(size: int) -> str:
    """Deterministic JSON records, ASCII, exactly ``size`` characters: what APIs send."""
    rng = random.Random(size)
    words = ["alpha", "beta", "gamma", "delta", "price", "volume", "status", "open", "closed"]
    records = []
    text = ""
    while len(text) < size:
        records.append(
            {
                "id": rng.randrange(10**6),
                "symbol": rng.choice(words).upper() + str(rng.randrange(100)),
                "price": round(rng.uniform(1, 1000), 2),
                "size": rng.randrange(1, 10_000),
                "side": rng.choice(("buy", "sell")),
                "tags": rng.sample(words, 3),
                "ts": 1_700_000_000_000 + rng.randrange(10**6),
            }
        )
        text = json.dumps(records, separators=(",", ":"))
    return text[:size]


def payload_for(workload: Workload) -> bytes | str:
    if workload.json:
        return json_text(workload.size)
    if workload.text:
        # ASCII, so the byte size is the character count.
        return ("openwire" * (workload.size // 8 + 1))[: workload.size]
    return bytes(range(256)) * (workload.size // 256) + bytes(workload.size % 256)


class _Window:
    """Wall, own-CPU and server-CPU readings across one timed section.

    The client's CPU is split into user and kernel time as well: the user
    part is what the client's own code sets, while the kernel part of a
    small round trip also depends on how long the server's core sat idle
    (waking a halted core costs the sender; bench/overhead.py, PROFILE.md).
    """

    def __init__(self, server_pid: int | None) -> None:
        self._server_pid = server_pid
        self.user_cpu = 0.0

    def __enter__(self) -> _Window:
        self._server0 = process_cpu_seconds(self._server_pid) if self._server_pid else None
        self._user0 = resource.getrusage(resource.RUSAGE_SELF).ru_utime
        self._cpu0 = time.process_time()
        self._wall0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._wall0
        self.cpu = time.process_time() - self._cpu0
        self.user_cpu = resource.getrusage(resource.RUSAGE_SELF).ru_utime - self._user0
        server1 = process_cpu_seconds(self._server_pid) if self._server_pid else None
        self.server_cpu = (
            None if self._server0 is None or server1 is None else server1 - self._server0
        )


async def _check_echo(conn: Connection, payload: bytes | str) -> None:
    """Catch a client that silently drops or mangles data before timing it."""
    await (conn.send_text(payload) if isinstance(payload, str) else conn.send_bytes(payload))
    echoed = conn.payload(await conn.receive())
    if echoed != payload:
        raise AssertionError(f"echo mismatch: sent {len(payload)}, got {len(echoed)}")


async def _round_trip(
    conn: Connection, payload: bytes | str, timing: Timing, window: _Window
) -> int:
    send = conn.send_text if isinstance(payload, str) else conn.send_bytes
    receive = conn.receive
    clock = time.perf_counter
    stop = clock() + timing.warmup
    while clock() < stop:
        await send(payload)  # type: ignore[arg-type]
        await receive()
    count = 0
    with window:
        stop = clock() + timing.duration
        while True:
            await send(payload)  # type: ignore[arg-type]
            await receive()
            count += 1
            if clock() >= stop:
                break
    return count


async def _pipelined(
    conn: Connection, payload: bytes | str, depth: int, timing: Timing, window: _Window
) -> int:
    """Keep ``depth`` messages in flight: one new send per echo received."""
    send = conn.send_text if isinstance(payload, str) else conn.send_bytes
    receive = conn.receive
    clock = time.perf_counter
    for _ in range(depth):
        await send(payload)  # type: ignore[arg-type]
    stop = clock() + timing.warmup
    while clock() < stop:
        await receive()
        await send(payload)  # type: ignore[arg-type]
    count = 0
    with window:
        stop = clock() + timing.duration
        while True:
            await receive()
            await send(payload)  # type: ignore[arg-type]
            count += 1
            if clock() >= stop:
                break
    for _ in range(depth):
        await receive()
    return count


async def _handshakes(conn_factory: Connector, url: str, timing: Timing, window: _Window) -> int:
    clock = time.perf_counter
    stop = clock() + timing.warmup
    while clock() < stop:
        conn = await conn_factory(url)
        await conn.close()
    count = 0
    with window:
        stop = clock() + timing.duration
        while True:
            conn = await conn_factory(url)
            await conn.close()
            count += 1
            if clock() >= stop:
                break
    return count


def _on_trio() -> bool:
    import sniffio

    return sniffio.current_async_library() == "trio"


async def _sleep(seconds: float) -> None:
    if _on_trio():
        import trio

        await trio.sleep(seconds)
    else:
        await asyncio.sleep(seconds)


async def _gather(factories: list[Callable[[], Awaitable[Connection]]]) -> list[Connection]:
    if not _on_trio():
        return list(await asyncio.gather(*(f() for f in factories)))
    import trio

    results: list[Connection | None] = [None] * len(factories)

    async def one(index: int, factory: Callable[[], Awaitable[Connection]]) -> None:
        results[index] = await factory()

    async with trio.open_nursery() as nursery:
        for index, factory in enumerate(factories):
            nursery.start_soon(one, index, factory)
    return [r for r in results if r is not None]


def task_count() -> int:
    """Tasks alive in this thread's event loop (trio: the whole task tree)."""
    if not _on_trio():
        return len(asyncio.all_tasks())
    import trio

    def walk(task: trio.lowlevel.Task) -> int:
        return 1 + sum(walk(child) for n in task.child_nurseries for child in n.child_tasks)

    return walk(trio.lowlevel.current_root_task())  # type: ignore[arg-type]


async def _open_many(conn_factory: Connector, url: str, n: int) -> list[Connection]:
    held: list[Connection] = []
    batch = 50
    for start in range(0, n, batch):
        count = min(batch, n - start)
        held.extend(await _gather([lambda: conn_factory(url)] * count))
    return held


async def _idle_memory(
    conn_factory: Connector, url: str, n: int, window: _Window
) -> tuple[float, int, float]:
    """RSS growth per open, idle connection, in KiB, and tasks per connection.

    One connection is opened first so lazily-created, per-process state
    (pools, caches, codec tables) is not charged to the 1000.
    """
    warm = await conn_factory(url)
    await _check_echo(warm, b"x")
    held: list[Connection] = [warm]
    gc.collect()
    await _sleep(0.05)
    tasks_before = task_count()
    before = rss_bytes()
    with window:
        held.extend(await _open_many(conn_factory, url, n))
        # Let per-connection reader tasks reach their idle await.
        await _sleep(0.2)
        gc.collect()
        after = rss_bytes()
    tasks = (task_count() - tasks_before) / n
    return (after - before) / n / KiB, len(held) - 1, tasks


@dataclass(slots=True)
class _FanIn:
    counting: bool = False
    count: int = 0
    delays_ns: list[int] = field(default_factory=list)


async def _fan_in(
    conn_factory: Connector, url: str, n: int, timing: Timing, window: _Window, sample: Sample
) -> None:
    """n subscribers of the broadcast path, one reader task each (what an app writes).

    Counts messages and their delivery delay (receive time minus the server's
    monotonic timestamp in the first 8 bytes) inside the window, then the RSS
    growth per busy connection since before the first connect.
    """
    gc.collect()
    before = rss_bytes()
    held = await _open_many(conn_factory, url, n)
    state = _FanIn()
    clock = time.monotonic_ns

    async def reader(conn: Connection) -> None:
        receive, payload = conn.receive, conn.payload
        delays = state.delays_ns
        while True:
            message = await receive()
            if state.counting:
                delays.append(clock() - int.from_bytes(payload(message)[:8]))  # type: ignore[arg-type]
                state.count += 1

    tasks = [asyncio.create_task(reader(conn)) for conn in held]
    await asyncio.sleep(max(timing.warmup, 0.3))
    with window:
        state.counting = True
        await asyncio.sleep(timing.fanin_duration)
        state.counting = False
    failed = [t for t in tasks if t.done()]
    if failed:
        raise RuntimeError(f"{len(failed)} readers ended: {failed[0].exception()!r}")
    gc.collect()
    delays = sorted(state.delays_ns)
    sample.count = state.count
    sample.value = state.count / window.seconds
    if delays:
        sample.extra["p50_ms"] = delays[len(delays) // 2] / 1e6
        sample.extra["p99_ms"] = delays[min(len(delays) - 1, int(len(delays) * 0.99))] / 1e6
    sample.extra["busy_kib"] = (rss_bytes() - before) / n / KiB
    sample.extra["expected"] = n * window.seconds / 0.1


async def run_sample(
    client: str,
    workload: Workload,
    repeat: int,
    endpoints: Endpoints | str,
    timing: Timing,
    server_pid: int | None,
    on_held: Callable[[Sample], None] | None = None,
) -> Sample:
    """Measure one sample.

    ``on_held`` receives the memory sample while its connections are still
    open: closing 1000 of them gracefully takes longer than measuring, and the
    caller may prefer to report and end the process instead.
    """
    if isinstance(endpoints, str):
        endpoints = Endpoints(endpoints)
    url = endpoints.for_workload(workload)
    if workload.kind == "fanin":
        url = url.rstrip("/") + "/broadcast"
    sample = Sample(client, workload.name, repeat)
    window = _Window(server_pid)
    async with connector(
        client, ssl=endpoints.client_ssl(workload), deflate=workload.deflate
    ) as connect:
        if workload.kind == "fanin":
            raise_fd_limit()
            await _fan_in(connect, url, timing.idle_connections, timing, window, sample)
            sample.seconds = window.seconds
            sample.client_cpu = window.cpu
            sample.server_cpu = window.server_cpu
            if on_held is not None:
                on_held(sample)
        elif workload.kind == "handshake":
            sample.count = await _handshakes(connect, url, timing, window)
            sample.value = sample.count / window.seconds
        elif workload.kind == "memory":
            raise_fd_limit()
            sample.value, sample.count, tasks = await _idle_memory(
                connect, url, timing.idle_connections, window
            )
            sample.extra["tasks_per_conn"] = tasks
            sample.seconds = window.seconds
            sample.client_cpu = window.cpu
            sample.server_cpu = window.server_cpu
            if on_held is not None:
                on_held(sample)
        else:
            conn = await connect(url)
            payload = payload_for(workload)
            await _check_echo(conn, payload)
            if workload.kind == "rt":
                sample.count = await _round_trip(conn, payload, timing, window)
            else:
                sample.count = await _pipelined(conn, payload, workload.window, timing, window)
            sample.value = sample.count / window.seconds
            sample.extra["mb_per_s"] = sample.value * workload.size / 1e6
            await conn.close()
        sample.seconds = window.seconds
        sample.client_cpu = window.cpu
        sample.server_cpu = window.server_cpu
        if sample.count:
            sample.extra["user_cpu_us_per_op"] = window.user_cpu / sample.count * 1e6
    return sample
