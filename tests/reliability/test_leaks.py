"""Leak and soak: open/echo/close cycles leave nothing behind, however they end.

Each test runs one way of ending a WebSocket, over and over, against a real
``websockets`` echo server on 127.0.0.1 (in this process, on the shared
background loop), on every backend (asyncio, uvloop, trio) and every
installed engine. After a warm-up, cycles run in batches; after every batch
the open file descriptors, running tasks, armed asyncio timers and live
``Session`` objects must return to the baseline within a short settle time,
and at the end the memory still allocated (``tracemalloc``, after a
collection, counting both ends since the server runs here too) must have
grown by less than ``MEMORY_FLOOR + MEMORY_PER_CYCLE × cycles`` (64 KiB +
256 bytes per cycle), far below what a leaked session (about 10 KiB)
would cost per cycle. Growth that comes in one batch and does not repeat
in the next is a one-off elsewhere in the process, not something kept per
cycle; on trio, the deadlines trio remembers for cancel scopes that have
already exited are not counted (see ``drop_stale_trio_deadlines``).
``test_an_open_websocket_does_not_keep_its_handshake_alive``
pins one retention on its own: connections keep a copy of the context they
were opened in, which must not hold the handshake's tracer (and through it
the listener and request).

Ways a cycle ends:

- ``close``: ``async with client.websocket(...)``, an echo, a normal close;
- ``fresh_client``: the same with a new ``Client`` per cycle;
- ``cancel_receive``: the task is cancelled while ``await ws.receive()``
  waits; leaving ``async with`` still closes with 1000;
- ``cancel_then_drop``: a cancel scope interrupts ``receive()``, the
  WebSocket still works (nothing lost), then it is dropped unclosed;
- ``drop``: the WebSocket goes out of scope unclosed with an unread message
  in its buffer (the finalizer closes with 1001);
- ``peer_close``: the server closes with 4001 at once;
- ``cancel_handshake``: ``execute()`` is cancelled at varying points of the
  opening handshake.

The normal run does 60 cycles of each for the native engine and 12 for the
others (the session, channel and handshake are shared; the adapters are
thin); ``pytest -m soak`` runs 3000 and 1000.
"""

from __future__ import annotations

import gc
import weakref
from collections.abc import Awaitable, Callable, Iterator

import anyio
import pytest
from openwire import Client
from openwire.errors import ConnectionClosedError
from openwire.http.tracing import ExchangeTracer
from openwire.testing.servers import BackgroundLoop, EchoServer, RawPeer, ScriptedServer
from openwire.websocket.connection import WebSocket

from tests.reliability.conftest import (
    FULL_ENGINE,
    KiB,
    Resources,
    TracedMemory,
    assert_released,
    frozen_heap,
    settle,
)

pytestmark = [pytest.mark.anyio, pytest.mark.filterwarnings("error::ResourceWarning")]

MEMORY_FLOOR = 64 * KiB
MEMORY_PER_CYCLE = 256
BATCHES = 3
CYCLES = {"normal": (60, 12), "soak": (3000, 1000)}  # (native, other engines)

Cycle = Callable[[Client, str, str, int], Awaitable[None]]


@pytest.fixture(scope="module")
def echo(ow_loop: BackgroundLoop) -> Iterator[EchoServer]:
    server = EchoServer(ow_loop).start()
    yield server
    server.stop()


async def _echo_round(ws: WebSocket) -> None:
    await ws.send("t" * 100)
    assert (await ws.receive()).data == "t" * 100
    await ws.send(b"b" * 4096)
    assert (await ws.receive()).data == b"b" * 4096


async def close_cycle(client: Client, url: str, engine: str, i: int) -> None:
    async with client.websocket(url, engine=engine) as ws:
        await _echo_round(ws)
    assert ws.close_code == 1000


async def fresh_client_cycle(client: Client, url: str, engine: str, i: int) -> None:
    async with Client() as own:
        await close_cycle(own, url, engine, i)


async def cancel_receive_cycle(client: Client, url: str, engine: str, i: int) -> None:
    opened: list[WebSocket] = []
    waiting = anyio.Event()

    async def reader() -> None:
        async with client.websocket(url, engine=engine) as ws:
            opened.append(ws)
            await _echo_round(ws)
            waiting.set()
            await ws.receive()  # nothing comes: cancelled here
        raise AssertionError("receive() returned without a message being sent")

    async with anyio.create_task_group() as tg:
        tg.start_soon(reader)
        await waiting.wait()
        tg.cancel_scope.cancel()
    assert opened[0].close_code == 1000


async def cancel_then_drop_cycle(client: Client, url: str, engine: str, i: int) -> None:
    ws = await client.new_websocket(url, engine=engine).execute()
    await _echo_round(ws)
    with anyio.move_on_after(0.002) as scope:
        await ws.receive()
    assert scope.cancelled_caught
    # A cancelled receive loses nothing and leaves the WebSocket usable.
    await ws.send(f"after {i}")
    assert (await ws.receive()).data == f"after {i}"
    del ws  # dropped without close(): the finalizer closes with 1001


async def drop_cycle(client: Client, url: str, engine: str, i: int) -> None:
    ws = await client.new_websocket(url, engine=engine).execute()
    await _echo_round(ws)
    await ws.send("never read")
    del ws


async def peer_close_cycle(client: Client, url: str, engine: str, i: int) -> None:
    async with client.websocket(url + "/close?code=4001&reason=bye", engine=engine) as ws:
        with pytest.raises(ConnectionClosedError) as info:
            await ws.receive()
    assert info.value.code == 4001
    assert ws.close_code == 4001


async def cancel_handshake_cycle(client: Client, url: str, engine: str, i: int) -> None:
    # 0 to 3 ms in 0.25 ms steps: lands on connect, the request, the 101,
    # the channel start or after it, depending on the cycle.
    with anyio.move_on_after((i % 13) * 0.00025):
        async with client.websocket(url, engine=engine) as ws:
            await _echo_round(ws)


SCENARIOS: dict[str, Cycle] = {
    "close": close_cycle,
    "fresh_client": fresh_client_cycle,
    "cancel_receive": cancel_receive_cycle,
    "cancel_then_drop": cancel_then_drop_cycle,
    "drop": drop_cycle,
    "peer_close": peer_close_cycle,
    "cancel_handshake": cancel_handshake_cycle,
}


@pytest.mark.parametrize(
    "length",
    [
        pytest.param("normal"),
        pytest.param("soak", marks=[pytest.mark.soak, pytest.mark.timeout(3600)]),
    ],
)
@pytest.mark.parametrize("scenario", list(SCENARIOS))
async def test_cycles_give_back_fds_tasks_timers_and_memory(
    scenario: str, length: str, engine: str, echo: EchoServer
) -> None:
    cycle = SCENARIOS[scenario]
    full, other = CYCLES[length]
    cycles = full if engine == FULL_ENGINE else other
    with frozen_heap():
        await _run(cycle, scenario, cycles, engine, echo.url)


async def _run(cycle: Cycle, scenario: str, cycles: int, engine: str, url: str) -> None:
    per_batch = max(1, cycles // BATCHES)
    async with Client() as client:
        for i in range(3):  # warm-up: imports, caches, the engine's first use
            await cycle(client, url, engine, i)
        baseline = Resources.now()
        baseline = await settle(Resources(baseline.fds, baseline.tasks, baseline.timers, 0))
        done = 0

        async def run_batch(batch: int) -> None:
            nonlocal done
            for _ in range(batch):
                await cycle(client, url, engine, done)
                done += 1
            after = await settle(baseline)
            assert_released(after, baseline, f"{done} {scenario} cycles on {engine}")

        def quiet(batch: int, grown: int) -> bool:
            """Whether ``batch`` cycles grew too little to be keeping anything per cycle."""
            return grown < MEMORY_FLOOR // 2 + MEMORY_PER_CYCLE * batch

        with TracedMemory() as memory:
            # One-off allocations (caches, interned names) happen in the
            # first batch; growth is measured from its end.
            await run_batch(min(per_batch, cycles))
            first_batch_end = done
            start = memory.current()
            last_batch = (0, 0)  # (cycles in it, memory at its start)
            while done < cycles:
                batch_start = memory.current()
                batch = min(per_batch, cycles - done)
                await run_batch(batch)
                last_batch = (batch, batch_start)
            measured = done - first_batch_end
            bound = MEMORY_FLOOR + MEMORY_PER_CYCLE * measured
            growth = memory.current() - start
            for _ in range(15):
                if growth < bound:
                    break
                # tracemalloc sees every thread: the peer's loop may still be
                # releasing its last connection's buffers. What a real leak
                # keeps does not go away with time; that does.
                await anyio.sleep(0.2)
                await settle(baseline)
                growth = memory.current() - start
            if growth >= bound and last_batch[0]:
                # What is kept per cycle grows in every batch; a one-off
                # allocation elsewhere in the process (tracemalloc sees every
                # thread and every process-wide table) grows in one. If it
                # came in the last batch (a process-wide dict such as
                # weakref.finalize's registry resizing once other tests have
                # filled it), one more batch tells: a one-off does not repeat.
                late = memory.current() - last_batch[1]
                if not quiet(last_batch[0], late):
                    extra_start = memory.current()
                    await run_batch(per_batch)
                    late = memory.current() - extra_start
                    last_batch = (per_batch, extra_start)
                if quiet(last_batch[0], late):
                    print(
                        f"\none-off growth of {growth / KiB:.1f} KiB, "
                        f"{late / KiB:.1f} KiB in a later batch of {last_batch[0]} cycles"
                    )
                    growth = 0
    print(
        f"\n{scenario} on {engine}: {done} cycles; memory growth over the last "
        f"{measured}: {growth / KiB:.1f} KiB (bound {bound / KiB:.0f} KiB)"
    )
    assert growth < bound, (
        f"{scenario} on {engine}: memory grew by {growth / KiB:.1f} KiB over {measured} "
        f"cycles (bound {bound / KiB:.0f} KiB): something is kept per cycle"
    )


async def test_an_open_websocket_does_not_keep_its_handshake_alive(
    echo: EchoServer, request: pytest.FixtureRequest
) -> None:
    """Once the 101 is validated, the handshake's tracer (and through it the
    listener and request of the opening call) is garbage: 10 open WebSockets,
    0 live ``ExchangeTracer``."""
    gc.collect()
    # Tracers an earlier test left behind (held here so their ids stay unique).
    earlier = [obj for obj in gc.get_objects() if isinstance(obj, ExchangeTracer)]
    seen = {id(obj) for obj in earlier}
    async with Client() as client:
        sockets = [await client.new_websocket(echo.url).execute() for _ in range(10)]
        await _echo_round(sockets[0])
        gc.collect()
        kept = sum(
            1 for obj in gc.get_objects() if isinstance(obj, ExchangeTracer) and id(obj) not in seen
        )
        for ws in sockets:
            await ws.close()
    assert kept == 0, f"{kept} handshake tracers alive with {len(sockets)} WebSockets open"


def test_deadlines_trio_remembers_for_exited_scopes_are_not_counted_as_kept() -> None:
    """trio keeps the deadline of every exited cancel scope until its time
    comes (here 30 s); the measurement above must not count those as kept by
    the connection, or every trio case carries ~1.5 KiB per cycle of trio's
    bookkeeping. If trio's internals move, this fails instead of the leak
    tests quietly losing their margin on trio."""
    import tracemalloc

    import trio

    async def exit_scopes(n: int) -> None:
        for _ in range(n):
            with trio.move_on_after(30):
                await trio.lowlevel.checkpoint()

    async def main() -> tuple[int, int]:
        await exit_scopes(10)  # trio's first use of these paths
        with TracedMemory() as memory:
            await exit_scopes(500)
            gc.collect()
            raw = tracemalloc.get_traced_memory()[0] - memory.start
            return raw, memory.current()

    raw, counted = trio.run(main)
    assert raw > 500 * 150, f"500 exited scopes left only {raw} bytes in trio's deadline heap"
    # Each scope (~112 bytes) must be gone from the count; the heap's tuples
    # may stay counted in CPython's free list of tuples, which is bounded.
    assert raw - counted > 500 * 100, (
        f"500 exited scopes still counted as {counted / KiB:.1f} KiB of {raw / KiB:.1f} KiB"
    )


async def test_a_websocket_that_failed_is_collected_once_dropped(
    scripted: Callable[..., ScriptedServer],
) -> None:
    """A session that fails keeps its error, and that error's traceback holds
    the frames it went through with their locals: here the caller's, which
    names the handle. The handle's finalizer (in weakref.finalize's
    process-wide registry) must not hold the session, or that chain keeps the
    handle, its session and their buffers alive for the rest of the process."""

    async def script(peer: RawPeer) -> None:
        await peer.handshake()
        await peer.send(b"\x83\x00")  # reserved opcode: the client fails with 1002
        await peer.read_until_close()

    server = scripted(script)

    async def fail(client: Client) -> weakref.ref[WebSocket]:
        ws = await client.new_websocket(server.url).execute()
        with pytest.raises(ConnectionClosedError) as info:
            await ws.receive()
        assert info.value.code == 1002
        return weakref.ref(ws)

    async with Client() as client:
        handle = await fail(client)
    # The connection lingers until the server closes TCP (RFC 6455 §7.1.1);
    # until then the loop holds it. What is kept for good never goes.
    deadline = anyio.current_time() + 5
    while handle() is not None and anyio.current_time() < deadline:
        await anyio.sleep(0.01)
        gc.collect()
    assert handle() is None, "a dropped WebSocket that failed is still alive 5 s later"
