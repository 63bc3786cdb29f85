"""RFC 6455 §10.4 limits, backpressure and the heartbeat."""

from __future__ import annotations

import asyncio
import struct
from typing import Any

import anyio
import pytest
from openwire.errors import MessageTooBig, PongTimeout
from openwire.testing.conformance.scenarios import assert_fails_with
from openwire.testing.frames import frame
from openwire.testing.servers import RawPeer

pytestmark = [pytest.mark.anyio, pytest.mark.rfc("10")]


async def test_frame_over_the_limit_fails_with_1009_from_its_header(
    engine: str, connect: Any, scripted: Any
) -> None:
    # Only the header of a 1 GiB frame is ever sent: waiting for the payload
    # (or buffering it) would hang this test.
    header = struct.pack("!BBQ", 0x82, 127, 1 << 30)
    await assert_fails_with(connect, scripted, header, 1009, max_frame_size=1 << 20)


async def test_message_over_the_limit_across_fragments_fails_with_1009(
    engine: str, connect: Any, scripted: Any
) -> None:
    data = frame(0x2, b"x" * 600, fin=False) + frame(0x0, b"x" * 600, fin=False)
    await assert_fails_with(connect, scripted, data, 1009, max_message_size=1000)


async def test_message_at_the_limit_is_accepted(engine: str, connect: Any, scripted: Any) -> None:
    async def script(peer: RawPeer) -> None:
        await peer.handshake()
        await peer.send(frame(0x2, b"x" * 500, fin=False) + frame(0x0, b"x" * 500))
        await peer.read_until_close()

    server = scripted(script)
    async with connect(server.url, max_message_size=1000, max_frame_size=1000) as ws:
        assert len((await ws.receive()).data) == 1000
        await ws.close()
    await server.wait()


async def test_sending_over_max_message_size_raises(
    engine: str, connect: Any, echo_server: Any
) -> None:
    async with connect(echo_server.url, max_message_size=1000) as ws:
        with pytest.raises(MessageTooBig):
            await ws.send(b"x" * 1001)
        with pytest.raises(MessageTooBig):
            await ws.send("é" * 501)
        await ws.send(b"x" * 1000)
        assert len((await ws.receive()).data) == 1000
        await ws.close()


async def test_slow_consumer_stops_reading_instead_of_buffering(
    engine: str, connect: Any, scripted: Any
) -> None:
    count, size = 400, 64 * 1024
    progress: dict[str, int] = {"written": 0}

    async def script(peer: RawPeer) -> None:
        await peer.handshake()
        data = frame(0x2, b"x" * size)
        for _ in range(count):
            await peer.send(data)  # drain() blocks once the client stops reading
            progress["written"] += 1
        await peer.read_until_close()

    server = scripted(script)
    async with connect(server.url, receive_queue_size=4, receive_queue_bytes=256 * 1024) as ws:
        await anyio.sleep(0.5)
        stalled_at = progress["written"]
        # 26 MiB were offered; only the queue plus socket buffers may be taken.
        assert stalled_at < count // 2, f"client read {stalled_at} messages without consuming"
        with anyio.fail_after(20):
            for _ in range(count):
                assert len((await ws.receive()).data) == size
        await ws.close()
    await server.wait()


async def test_send_waits_when_the_peer_does_not_read(
    engine: str, connect: Any, scripted: Any
) -> None:
    async def script(peer: RawPeer) -> None:
        await peer.handshake()
        await asyncio.sleep(2)  # never reads

    server = scripted(script)
    sent = 0
    async with connect(
        server.url, send_queue_size=4, send_queue_bytes=256 * 1024, close_timeout=0.2
    ) as ws:
        with anyio.move_on_after(1):
            while sent < 1000:
                await ws.send(b"x" * 65536)
                sent += 1
        # 64 MiB offered; the kernel buffers plus the bounded queue hold far less.
        assert sent < 500, f"send() accepted {sent} messages into an unbounded buffer"


async def test_heartbeat_fails_a_silent_peer_with_1011(
    engine: str, connect: Any, scripted: Any
) -> None:
    async def script(peer: RawPeer) -> None:
        await peer.handshake()
        await asyncio.sleep(3)  # reads nothing, answers nothing

    server = scripted(script)
    async with connect(server.url, ping_interval=0.2, pong_timeout=0.3) as ws:
        with anyio.fail_after(3), pytest.raises(PongTimeout) as info:
            await ws.receive()
        assert info.value.code == 1011
        assert ws.close_code == 1011


async def test_heartbeat_does_not_fire_against_a_slow_consumer(
    engine: str, connect: Any, echo_server: Any
) -> None:
    url = echo_server.url + "/send?count=200&size=65536"
    async with connect(url, ping_interval=0.1, pong_timeout=0.2, receive_queue_size=2) as ws:
        await anyio.sleep(1)  # the consumer is slow, not the peer
        with anyio.fail_after(20):
            for _ in range(200):
                assert len((await ws.receive()).data) == 65536
        assert await ws.ping() >= 0
        await ws.close()
        assert ws.close_code == 1000
