"""Cancellation, ownership and events: the same for every engine."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import anyio
import pytest
from openwire.client import Client
from openwire.events import EventListener
from openwire.testing.frames import close_payload, frame
from openwire.testing.servers import RawPeer

pytestmark = [pytest.mark.anyio, pytest.mark.rfc("7")]


async def test_cancelled_receive_loses_no_message(engine: str, connect: Any, scripted: Any) -> None:
    async def script(peer: RawPeer) -> None:
        await peer.handshake()
        await asyncio.sleep(0.3)
        await peer.send(frame(0x1, b"kept"))
        await peer.read_until_close()

    server = scripted(script)
    async with connect(server.url) as ws:
        with anyio.move_on_after(0.1):
            await ws.receive()
        with anyio.fail_after(5):
            assert (await ws.receive()).data == "kept"
        await ws.close()
    await server.wait()


async def test_cancelled_send_never_leaves_half_a_frame(
    engine: str, connect: Any, scripted: Any
) -> None:
    frames: list[Any] = []

    async def script(peer: RawPeer) -> None:
        await peer.handshake()
        await asyncio.sleep(0.6)  # not reading: the client's sends back up
        while True:
            got = await peer.read_frame(timeout=10)
            assert got is not None, "the stream ended inside a frame"
            frames.append(got)
            if got.opcode == 0x8:
                await peer.send(frame(0x8, got.payload))
                return

    server = scripted(script)
    payload = bytes(range(256)) * 256  # 64 KiB
    async with connect(server.url, send_queue_size=2, send_queue_bytes=128 * 1024) as ws:
        sent = 0
        with anyio.move_on_after(0.3):
            while True:
                await ws.send(payload)
                sent += 1
        await ws.close()
    await server.wait()
    assert [f.opcode for f in frames[:-1]] == [0x2] * sent
    assert all(f.payload == payload for f in frames[:-1])
    assert frames[-1].close_code == 1000


async def test_concurrent_senders_never_interleave_frames(
    engine: str, connect: Any, echo_server: Any
) -> None:
    async with connect(echo_server.url) as ws:
        sender, receiver = ws.split()

        async def send_many(tag: int) -> None:
            for i in range(30):
                await sender.send(bytes([tag]) * (1000 + i * 500))

        async with anyio.create_task_group() as tg:
            for tag in range(4):
                tg.start_soon(send_many, tag)
        seen = [await receiver.receive() for _ in range(120)]
        assert all(len(set(m.data)) == 1 for m in seen)
        await sender.close()


async def test_dropping_the_websocket_closes_with_1001(engine: str, scripted: Any) -> None:
    got: list[Any] = []

    async def script(peer: RawPeer) -> None:
        await peer.handshake()
        close = await peer.read_until_close()
        got.append(close)
        if close is not None:
            await peer.send(frame(0x8, close.payload))
        got.append(await peer.wait_eof())

    server = scripted(script)
    async with Client() as client:
        ws = await client.new_websocket(server.url, engine=engine, ping_interval=None).execute()
        del ws
        gc.collect()
        await server.wait()
    assert got[0] is not None and got[0].close_code == 1001
    assert got[1] is True


async def test_dropping_the_last_sender_closes_with_1001(engine: str, scripted: Any) -> None:
    got: list[Any] = []

    async def script(peer: RawPeer) -> None:
        await peer.handshake()
        await peer.send(frame(0x1, b"hello"))
        got.append(await peer.read_until_close())

    server = scripted(script)
    async with Client() as client:
        ws = await client.new_websocket(server.url, engine=engine, ping_interval=None).execute()
        sender, receiver = ws.split()
        del ws
        gc.collect()
        assert (await receiver.receive()).data == "hello"
        assert receiver.state.value == "open", "the sender still owns the connection"
        del sender
        gc.collect()
        await server.wait()
    assert got[0] is not None and got[0].close_code == 1001


async def test_leaving_async_with_closes_with_1000(engine: str, scripted: Any) -> None:
    got: list[Any] = []

    async def script(peer: RawPeer) -> None:
        await peer.handshake()
        close = await peer.read_until_close()
        got.append(close)
        if close is not None:
            await peer.send(frame(0x8, close.payload))

    server = scripted(script)
    async with Client() as client, client.websocket(server.url, engine=engine) as ws:
        assert ws.engine == engine
    await server.wait()
    assert got[0] is not None and got[0].close_code == 1000


class _Recorder(EventListener):
    """Records the names of the call and WebSocket events, in order."""

    def __init__(self) -> None:
        self.names: list[str] = []


for _event in (
    "call_start",
    "call_end",
    "call_failed",
    *(n for n in vars(EventListener) if n.startswith("websocket_")),
):
    setattr(_Recorder, _event, lambda self, *args, _n=_event: self.names.append(_n))


async def test_event_sequence_is_the_same_for_every_engine(engine: str, scripted: Any) -> None:
    async def script(peer: RawPeer) -> None:
        await peer.handshake()
        got = await peer.read_frame()
        assert got is not None
        await peer.send(frame(0x1, got.payload) + frame(0x9, b"hb"))
        await peer.read_frame()  # the pong
        await peer.send(frame(0x8, close_payload(1000, "done")))
        await peer.read_until_close()

    server = scripted(script)
    recorders: list[_Recorder] = []

    def factory() -> _Recorder:
        recorders.append(_Recorder())
        return recorders[-1]

    async with Client(event_listener_factory=factory) as client:
        ws = await client.new_websocket(server.url, engine=engine, ping_interval=None).execute()
        await ws.send("hi")
        assert (await ws.receive()).data == "hi"
        async for _ in ws:
            pass
    await server.wait()
    assert recorders[0].names == [
        "call_start",
        "call_end",
        "websocket_open",
        "websocket_negotiated",
        "websocket_message_sent",
        "websocket_message_received",
        "websocket_closing",
        "websocket_closed",
    ]
