"""Many connections: 1000 idle WebSockets open at once, hold, and close cleanly.

The server is ``websockets``' asyncio server in a process of its own
(``tests.reliability.peer``, backlog 4096), so the file descriptors and the
memory measured here are the client's alone. The client opens ``COUNT``
WebSockets (at most ``CONCURRENCY`` handshakes in flight, as a real fleet of
clients would ramp up), holds them idle for ``HOLD`` seconds with the default
heartbeat armed, then closes them all at once. Asserted:

- every close ends with code 1000 and every socket is released (open fds and
  running tasks return to the baseline);
- client memory per idle connection (``tracemalloc`` delta / COUNT, after a
  collection) stays under ``PER_CONNECTION_BOUND`` (64 KiB). Both it and the
  RSS delta per connection are printed.

The normal run does 1000 connections with the native engine on every backend;
``pytest -m soak`` does 10 000 with every engine.
"""

from __future__ import annotations

import anyio
import pytest
from openwire import Client
from openwire.websocket.connection import WebSocket

from tests.reliability.conftest import (
    KiB,
    MiB,
    PeerProcess,
    Resources,
    TracedMemory,
    assert_released,
    frozen_heap,
    raise_fd_limit,
    rss_bytes,
    settle,
)

pytestmark = [pytest.mark.anyio, pytest.mark.filterwarnings("error::ResourceWarning")]

COUNT = 1000
SOAK_COUNT = 10_000
CONCURRENCY = 100
HOLD = 1.0
PER_CONNECTION_BOUND = 64 * KiB


async def _open_hold_close(url: str, engine: str, count: int) -> None:
    raise_fd_limit(count + 256)
    async with Client() as client:
        async with client.websocket(url, engine=engine) as ws:  # warm-up
            await ws.send("warm")
            await ws.receive()
        baseline = await settle(Resources.now())
        rss_before = rss_bytes()
        sockets: list[WebSocket | None] = [None] * count
        limiter = anyio.Semaphore(CONCURRENCY)

        async def open_one(index: int) -> None:
            async with limiter:
                sockets[index] = await client.new_websocket(url, engine=engine).execute()

        with TracedMemory() as memory:
            with anyio.fail_after(120):
                async with anyio.create_task_group() as tg:
                    for index in range(count):
                        tg.start_soon(open_one, index)
            per_connection = memory.current() / count
        per_connection_rss = (rss_bytes() - rss_before) / count
        opened = [ws for ws in sockets if ws is not None]
        assert len(opened) == count
        sockets.clear()
        # Idle, every one of them; still alive afterwards.
        await anyio.sleep(HOLD)
        await opened[-1].send("still here")
        assert (await opened[-1].receive()).data == "still here"
        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                for ws in opened:
                    tg.start_soon(ws.close)
        codes: dict[int | None, int] = {}
        for ws in opened:
            codes[ws.close_code] = codes.get(ws.close_code, 0) + 1
        del opened, ws
        after = await settle(baseline, timeout=10)
    print(
        f"\n{engine}: {count} idle WebSockets; client memory per connection "
        f"{per_connection / KiB:.1f} KiB (tracemalloc), {per_connection_rss / KiB:.1f} KiB "
        f"(RSS, {per_connection_rss * count / MiB:.0f} MiB in all); close codes {codes}"
    )
    assert codes == {1000: count}, f"close codes: {codes}"
    assert_released(after, baseline, f"closing {count} WebSockets")
    assert per_connection < PER_CONNECTION_BOUND, (
        f"{per_connection / KiB:.1f} KiB per idle connection; the bound is "
        f"{PER_CONNECTION_BOUND / KiB:.0f} KiB"
    )


async def test_a_thousand_idle_websockets_open_hold_and_close_with_1000(
    peer_process: PeerProcess,
) -> None:
    with frozen_heap():
        await _open_hold_close(peer_process.url, "native", COUNT)


@pytest.mark.soak
@pytest.mark.timeout(1800)
async def test_ten_thousand_idle_websockets_on_every_engine(
    engine: str, peer_process: PeerProcess
) -> None:
    with frozen_heap():
        await _open_hold_close(peer_process.url, engine, SOAK_COUNT)
