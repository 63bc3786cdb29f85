"""A slow consumer under a flood: bounded memory, no false heartbeat alarm, nothing lost.

The peer (``websockets``' server in a process of its own, so ``tracemalloc``
counts only the client) sends 256 KiB binary messages as fast as TCP lets
it. The client first does not read at all for ``HOLD`` seconds (several
heartbeat periods), then reads slowly (a sleep between receives), then at
full speed. Expected, from the documented options:

- memory: with ``receive_queue_size=8`` at most 8 messages (2 MiB) wait
  for ``receive``, after which the socket is not read and TCP pushes back on
  the server. The client's peak allocation while the flood runs must stay
  under that bound plus ``SLACK`` (1.5 MiB: one 256 KiB read, the message
  being assembled, the message the test holds and its expected copy). An
  unbounded buffer would hold the whole flood (24 MiB with the native
  engine).
- heartbeat: ``ping_interval=0.1`` and ``pong_timeout=0.2``; while reading
  is paused because the *client* is slow, no ``PongTimeout`` may be raised,
  and pings keep going out (counted through the event listener).
- reading resumes: every message arrives, intact and in order, then the
  connection closes with 1000.

An application interceptor waits ``AFTER_101`` seconds once the 101 has
arrived (as a slow interceptor or a busy loop would), so the flood is already
waiting in the socket when the WebSocket takes the connection over: the
bound must hold from the first byte, not only once the session runs.
"""

from __future__ import annotations

import anyio
import pytest
from openwire import Client, Request, Response
from openwire.events import EventListener
from openwire.http.chain import Chain

from tests.reliability.conftest import (
    FULL_ENGINE,
    KiB,
    MiB,
    PeerProcess,
    TracedMemory,
)
from tests.reliability.peer import numbered

pytestmark = [pytest.mark.anyio, pytest.mark.filterwarnings("error::ResourceWarning")]

SIZE = 256 * KiB
QUEUE = 8  # receive_queue_size: the documented bound is QUEUE * SIZE = 2 MiB
SLACK = 3 * MiB // 2
HOLD = 0.5  # seconds without reading: five heartbeat periods
SLOW_READS = 24  # messages read with SLOW_DELAY between them
SLOW_DELAY = 0.01
MESSAGES = {FULL_ENGINE: 96}  # 24 MiB; other engines 32 (8 MiB)
AFTER_101 = 0.2


async def _slow_after_upgrade(request: Request, chain: Chain) -> Response:
    response = await chain.proceed(request)
    await anyio.sleep(AFTER_101)
    return response


class _Counts:
    pings = 0
    pongs = 0


class _Heartbeat(EventListener):
    """Counts the pings the heartbeat sends and the pongs that come back."""

    def __init__(self, counts: _Counts) -> None:
        self.counts = counts

    def websocket_ping_sent(self, payload: bytes) -> None:
        self.counts.pings += 1

    def websocket_pong_received(self, payload: bytes) -> None:
        self.counts.pongs += 1


async def test_slow_reader_keeps_memory_bounded_and_gets_every_message_in_order(
    engine: str, peer_process: PeerProcess, request: pytest.FixtureRequest
) -> None:
    count = MESSAGES.get(engine, 32)
    heartbeat = _Counts()
    bound = QUEUE * SIZE + SLACK
    async with Client(
        event_listener_factory=lambda: _Heartbeat(heartbeat), interceptors=[_slow_after_upgrade]
    ) as client:
        with TracedMemory() as memory:
            ws = await client.new_websocket(
                f"{peer_process.url}/flood?count={count}&size={SIZE}",
                engine=engine,
                receive_queue_size=QUEUE,
                ping_interval=0.1,
                pong_timeout=0.2,
            ).execute()
            # Not reading at all: the inbox fills, reading pauses, the
            # server is pushed back; heartbeat deadlines pass meanwhile.
            await anyio.sleep(HOLD)
            held_peak = memory.peak()
            pings_while_held = heartbeat.pings
            for index in range(count):
                message = await ws.receive()
                data = message.data
                assert isinstance(data, bytes)
                got = int.from_bytes(data[:8], "big")
                assert got == index, f"message {index} expected, message {got} arrived"
                assert data == numbered(index, SIZE), f"message {index} is corrupted"
                del message, data
                if index < SLOW_READS:
                    await anyio.sleep(SLOW_DELAY)
            peak = memory.peak()
            # Still alive and usable after the flood: an echo, then a normal close.
            await ws.send(b"done")
            assert (await ws.receive()).data == b"done"
            await ws.close()
    print(
        f"\n{engine}: {count} x {SIZE // KiB} KiB; client peak {held_peak / MiB:.2f} MiB "
        f"while not reading, {peak / MiB:.2f} MiB overall (bound {bound / MiB:.2f} MiB); "
        f"{heartbeat.pings} pings, {heartbeat.pongs} pongs"
    )
    assert ws.close_code == 1000
    assert held_peak < bound, (
        f"while the reader waited, the client held {held_peak / MiB:.2f} MiB; "
        f"receive_queue_size={QUEUE} of {SIZE // KiB} KiB messages bounds it near "
        f"{QUEUE * SIZE / MiB:.0f} MiB (+{SLACK / MiB:.1f} MiB slack)"
    )
    assert peak < bound, f"peak {peak / MiB:.2f} MiB over the bound {bound / MiB:.2f} MiB"
    # The heartbeat really ran while the reader was paused (no false alarm is
    # only meaningful if deadlines passed).
    assert pings_while_held >= 3, f"only {pings_while_held} heartbeat pings in {HOLD}s"
