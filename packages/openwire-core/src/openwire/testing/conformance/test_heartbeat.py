"""The heartbeat against peers that read slowly or not at all (RFC 6455 §5.5.2, §5.5.3).

A ping queued behind a large message reaches the peer only once that
message has; its pong deadline runs from when it left our write buffer. A
peer that takes none of our bytes is reported as ``WriteStalled`` (1006),
not as a silent peer (one that took the ping and did not answer is still a
``PongTimeout``: ``test_limits``). ``close()`` returns within
``close_timeout`` whether nobody reads our inbox or the peer reads nothing
we write.

The peers keep their receive buffer small (64 KiB: smaller ones make
Linux's TCP crawl) and the message is several times the kernel's buffers
(about 4 MiB on loopback), so most of it waits in the client's own buffer,
the case these tests are about.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any

import anyio
import pytest
from openwire.client import Client
from openwire.errors import ConnectionClosedError, PongTimeout, WriteStalled
from openwire.events import EventListener
from openwire.testing.frames import close_payload, frame
from openwire.testing.servers import RawPeer, Script

pytestmark = [pytest.mark.anyio, pytest.mark.rfc("5.5")]

MiB = 1024 * 1024


def _small_receive_buffer(peer: RawPeer) -> None:
    peer.writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)


class Outcomes(EventListener):
    """How the connection ended, and how many pongs came back, as the listener saw it."""

    def __init__(self) -> None:
        self.failed: list[BaseException] = []
        self.closed: list[tuple[int, str]] = []
        self.pongs = 0

    def websocket_failed(self, error: BaseException) -> None:
        self.failed.append(error)

    def websocket_closed(self, code: int, reason: str) -> None:
        self.closed.append((code, reason))

    def websocket_pong_received(self, payload: bytes) -> None:
        self.pongs += 1


SLOW_MESSAGE = 24 * MiB


def slow_reader() -> Script:
    """A peer that reads a :data:`SLOW_MESSAGE` at about 30 MiB/s, then answers each ping.

    The heartbeat ping, queued right behind the message, reaches it about
    0.8 s later, longer than the ``pong_timeout`` of 0.5 s the tests use. It
    leaves the client's buffer once only the kernel's ~4 MiB are ahead of
    it (about 0.15 s of reading), well within that.
    """
    header = 2 + 8 + 4  # a masked frame with a 64-bit length

    async def script(peer: RawPeer) -> None:
        _small_receive_buffer(peer)
        await peer.handshake()
        left, since_pause = SLOW_MESSAGE + header, 0
        while left:
            chunk = await peer.reader.read(min(left, MiB))
            assert chunk, "the client closed before its message arrived"
            left -= len(chunk)
            since_pause += len(chunk)
            if since_pause >= MiB:
                since_pause = 0
                await asyncio.sleep(0.03)
        while True:  # every ping is answered as soon as it is read
            got = await peer.read_frame()
            assert got is not None
            if got.opcode == 0x9:
                await peer.send(frame(0xA, got.payload) + frame(0x1, b"all read"))
            elif got.opcode == 0x8:
                await peer.send(frame(0x8, got.payload))
                return

    return script


def stopped_reader(resume: threading.Event, released: list[bool]) -> Script:
    """A peer that reads nothing until ``resume`` is set, then records whether TCP ended."""

    async def script(peer: RawPeer) -> None:
        _small_receive_buffer(peer)
        await peer.handshake()
        transport: Any = peer.writer.transport
        transport.pause_reading()
        await asyncio.to_thread(resume.wait, 10)
        transport.resume_reading()
        # The client dropped the connection: what it had handed to the
        # kernel arrives, then the end, and no Close frame.
        released.append(await peer.wait_eof(timeout=5))
        assert all(f.opcode != 0x8 for f in peer.frames)

    return script


async def test_pong_deadline_starts_when_the_ping_left_our_buffer(
    engine: str, scripted: Any
) -> None:
    server = scripted(slow_reader())
    listener = Outcomes()
    async with Client(event_listener_factory=lambda: listener) as client:
        ws = await client.new_websocket(
            server.url,
            engine=engine,
            ping_interval=0.1,
            pong_timeout=0.5,
            max_message_size=32 * MiB,
            compression=None,
        ).execute()
        await ws.send(b"x" * SLOW_MESSAGE)
        with anyio.fail_after(10):
            assert (await ws.receive()).data == "all read"
            await ws.close()
    await server.wait()
    assert listener.failed == []
    assert listener.closed == [(1000, "")]
    assert listener.pongs >= 1


async def test_peer_that_stops_reading_is_a_write_stall_not_a_pong_timeout(
    engine: str, scripted: Any
) -> None:
    released: list[bool] = []
    reading = threading.Event()
    server = scripted(stopped_reader(reading, released))
    listener = Outcomes()
    async with Client(event_listener_factory=lambda: listener) as client:
        ws = await client.new_websocket(
            server.url,
            engine=engine,
            ping_interval=0.1,
            pong_timeout=0.3,
            close_timeout=5,
            compression=None,
        ).execute()
        await ws.send(b"x" * (12 * MiB))
        started = anyio.current_time()
        with anyio.fail_after(5), pytest.raises(WriteStalled) as info:
            await ws.receive()
        elapsed = anyio.current_time() - started
        # The ping went out at 0.1 s; the buffer did not move for 0.3 s.
        assert 0.3 <= elapsed < 2.5
        assert not isinstance(info.value, PongTimeout)
        assert isinstance(info.value, ConnectionClosedError)
        assert (info.value.code, info.value.by_peer) == (1006, None)
        assert "stopped reading" in str(info.value)
        assert ws.close_code == 1006
        with anyio.fail_after(1):
            await ws.close()  # the socket is already released: no close_timeout wait
        reading.set()
        await server.wait()
    assert released == [True]
    assert len(listener.failed) == 1 and listener.failed[0] is info.value
    assert listener.closed == []


@pytest.mark.rfc("7")
async def test_close_completes_when_the_receive_queue_is_full_and_nobody_reads(
    engine: str, scripted: Any
) -> None:
    flooded = threading.Event()
    answered: list[Any] = []

    async def script(peer: RawPeer) -> None:
        await peer.handshake()

        async def flood() -> None:
            message = frame(0x2, b"x" * 4096)
            transport: Any = peer.writer.transport
            transport.set_write_buffer_limits(high=4 * MiB)
            try:
                while True:
                    peer.writer.write(message * 16)
                    if transport.get_write_buffer_size() > MiB:
                        flooded.set()  # the client stopped reading long ago
                    await peer.writer.drain()
            except (ConnectionError, asyncio.CancelledError):
                pass

        task = asyncio.ensure_future(flood())
        close = await peer.read_until_close()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        answered.append(close)
        if close is not None:
            await peer.send(frame(0x8, close_payload(1000, "bye")))
        # Returning closes TCP, as a server does first (RFC 6455 §7.1.1).

    server = scripted(script)
    listener = Outcomes()
    async with Client(event_listener_factory=lambda: listener) as client:
        ws = await client.new_websocket(
            server.url, engine=engine, receive_queue_size=1, close_timeout=1.0
        ).execute()
        assert await anyio.to_thread.run_sync(flooded.wait, 5)
        started = anyio.current_time()
        with anyio.fail_after(3):
            await ws.close()
        assert anyio.current_time() - started < 1.0
        assert ws.close_code == 1000
    await server.wait()
    assert answered[0] is not None and answered[0].close_code == 1000
    assert listener.failed == [] and listener.closed == [(1000, "bye")]


@pytest.mark.rfc("7")
async def test_close_completes_within_close_timeout_when_our_writes_are_stalled(
    engine: str, scripted: Any
) -> None:
    # Our Close sits behind megabytes the peer never reads: it cannot be
    # delivered, so close() gives up after close_timeout and says why.
    reading = threading.Event()

    async def script(peer: RawPeer) -> None:
        _small_receive_buffer(peer)
        await peer.handshake()
        peer.writer.transport.pause_reading()  # type: ignore[attr-defined]
        await asyncio.to_thread(reading.wait, 10)
        peer.writer.transport.resume_reading()  # type: ignore[attr-defined]
        assert await peer.wait_eof(timeout=5)

    server = scripted(script)
    listener = Outcomes()
    async with Client(event_listener_factory=lambda: listener) as client:
        ws = await client.new_websocket(
            server.url, engine=engine, close_timeout=0.5, compression=None
        ).execute()
        await ws.send(b"x" * (12 * MiB))
        started = anyio.current_time()
        with anyio.fail_after(3):
            await ws.close()
        assert 0.5 <= anyio.current_time() - started < 1.5
        assert ws.close_code == 1006
        with pytest.raises(WriteStalled, match="our Close frame could not be sent"):
            await ws.receive()
        reading.set()
        await server.wait()
    assert len(listener.failed) == 1 and isinstance(listener.failed[0], WriteStalled)
