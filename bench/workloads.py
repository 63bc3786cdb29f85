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
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Literal

from clients import Connection, Connector, connector
from procstats import process_cpu_seconds, raise_fd_limit, rss_bytes

Kind = Literal["rt", "pipe", "handshake", "memory"]


@dataclass(frozen=True, slots=True)
class Workload:
    name: str
    kind: Kind
    size: int = 0
    text: bool = False
    window: int = 1
    title: str = ""

    @property
    def unit(self) -> str:
        return {"rt": "msg/s", "pipe": "msg/s", "handshake": "conn/s", "memory": "KiB/conn"}[
            self.kind
        ]

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
)
BY_NAME = {w.name: w for w in WORKLOADS}


@dataclass(slots=True)
class Timing:
    """Knobs that trade precision for wall time (``--quick``, ``--smoke``)."""

    warmup: float = 0.3
    duration: float = 1.5
    idle_connections: int = IDLE_CONNECTIONS


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


def payload_for(workload: Workload) -> bytes | str:
    if workload.text:
        # ASCII, so the byte size is the character count.
        return ("openwire" * (workload.size // 8 + 1))[: workload.size]
    return bytes(range(256)) * (workload.size // 256) + bytes(workload.size % 256)


class _Window:
    """Wall, own-CPU and server-CPU readings across one timed section."""

    def __init__(self, server_pid: int | None) -> None:
        self._server_pid = server_pid

    def __enter__(self) -> _Window:
        self._server0 = process_cpu_seconds(self._server_pid) if self._server_pid else None
        self._cpu0 = time.process_time()
        self._wall0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._wall0
        self.cpu = time.process_time() - self._cpu0
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


async def _idle_memory(
    conn_factory: Connector, url: str, n: int, window: _Window
) -> tuple[float, int]:
    """RSS growth per open, idle connection, in KiB.

    One connection is opened first so lazily-created, per-process state
    (pools, caches, codec tables) is not charged to the 1000.
    """
    warm = await conn_factory(url)
    await _check_echo(warm, b"x")
    batch = 50
    held: list[Connection] = [warm]
    gc.collect()
    await asyncio.sleep(0.05)
    before = rss_bytes()
    with window:
        for start in range(0, n, batch):
            held.extend(
                await asyncio.gather(*(conn_factory(url) for _ in range(min(batch, n - start))))
            )
        # Let per-connection reader tasks reach their idle await.
        await asyncio.sleep(0.2)
        gc.collect()
        after = rss_bytes()
    return (after - before) / n / KiB, len(held) - 1


async def run_sample(
    client: str,
    workload: Workload,
    repeat: int,
    url: str,
    timing: Timing,
    server_pid: int | None,
    on_held: Callable[[Sample], None] | None = None,
) -> Sample:
    """Measure one sample.

    ``on_held`` receives the memory sample while its connections are still
    open: closing 1000 of them gracefully takes longer than measuring, and the
    caller may prefer to report and end the process instead.
    """
    sample = Sample(client, workload.name, repeat)
    window = _Window(server_pid)
    async with connector(client) as connect:
        if workload.kind == "handshake":
            sample.count = await _handshakes(connect, url, timing, window)
            sample.value = sample.count / window.seconds
        elif workload.kind == "memory":
            raise_fd_limit()
            sample.value, sample.count = await _idle_memory(
                connect, url, timing.idle_connections, window
            )
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
    return sample
