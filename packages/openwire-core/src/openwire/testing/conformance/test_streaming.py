"""Streaming messages: one message sent as fragments, one received in pieces (RFC 6455 §5.4).

Sending (``ws.send_stream``) is checked on the wire by a scripted peer: the
opcodes, FIN bits and continuation frames, that no other message interleaves,
that control frames go out between fragments, and that a streamed send that
stops half-way fails the connection with 1011. Receiving
(``ws.receive_stream`` on a connection opened with ``streaming=True``) is
checked with exact server bytes: pieces arrive before the message ends (even
inside one frame), UTF-8 is checked across pieces, leaving early discards the
rest, compressed messages are inflated frame by frame, and the limits hold.

The peer runs on another thread; the two sides wait for each other with
:class:`Signal` (a ``threading.Event`` both event loops can await), never
with sleeps.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import anyio.to_thread
import pytest
from openwire.errors import ConnectionClosed, ConnectionClosedError
from openwire.testing.frames import ClientFrame, compress, frame
from openwire.testing.servers import RawPeer

pytestmark = [pytest.mark.anyio, pytest.mark.rfc("5.4")]

deflate = pytest.mark.requires_extension("permessage-deflate")

MiB = 1024 * 1024
RSV1 = 4
ACCEPT_DEFLATE = [("Sec-WebSocket-Extensions", "permessage-deflate")]


class Signal:
    """A one-shot flag set on one thread and awaited on the other side's loop."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    async def peer_wait(self, timeout: float = 10) -> None:
        """Await it on the peer's asyncio loop."""
        if not await asyncio.to_thread(self._event.wait, timeout):
            raise TimeoutError("the client never gave the signal")

    async def client_wait(self, timeout: float = 10) -> None:
        """Await it from the client's backend (asyncio or trio)."""
        if not await anyio.to_thread.run_sync(self._event.wait, timeout):
            raise TimeoutError("the peer never gave the signal")


def _shape(frames: list[ClientFrame]) -> list[tuple[int, bool, bytes]]:
    return [(f.opcode, f.fin, f.payload) for f in frames]


async def _read_message_frames(peer: RawPeer) -> list[ClientFrame]:
    """The client's frames up to and including the next data frame with FIN."""
    got: list[ClientFrame] = []
    while True:
        received = await peer.read_frame()
        assert received is not None, "the client closed TCP in the middle of a message"
        got.append(received)
        if received.opcode < 8 and received.fin:
            return got


# ------------------------------------------------------------------- sending


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_send_stream_puts_fragments_on_the_wire(
    engine: str, connect: Any, scripted: Any, kind: str
) -> None:
    seen: list[list[ClientFrame]] = []

    async def script(peer: RawPeer) -> None:
        await peer.handshake()
        for _ in range(4):
            seen.append(await _read_message_frames(peer))
        await peer.read_until_close()

    def text() -> Iterator[str]:
        yield from ("hé", "", "llo")

    async def atext() -> AsyncIterator[str]:
        for chunk in text():
            yield chunk

    big = os.urandom(2 * MiB + 10)
    server = scripted(script)
    async with connect(server.url) as ws:
        with anyio.fail_after(10):
            await ws.send_stream(text() if kind == "sync" else atext())
            await ws.send_stream([b"ab", bytearray(b"cd"), memoryview(big)])
            await ws.send_stream([])
            await ws.send_stream(iter([""]))
        await ws.close()
    await server.wait()
    # A frame per chunk (an empty chunk sends nothing), then an empty FIN.
    assert _shape(seen[0]) == [
        (0x1, False, "hé".encode()),
        (0x0, False, b"llo"),
        (0x0, True, b""),
    ]
    # A chunk over 1 MiB is split; every frame is masked and uncompressed.
    assert _shape(seen[1]) == [
        (0x2, False, b"ab"),
        (0x0, False, b"cd"),
        (0x0, False, big[:MiB]),
        (0x0, False, big[MiB : 2 * MiB]),
        (0x0, False, big[2 * MiB :]),
        (0x0, True, b""),
    ]
    assert all(f.masked and f.rsv == 0 for f in seen[1])
    # An empty iterable is an empty binary message; an empty str an empty text one.
    assert _shape(seen[2]) == [(0x2, True, b"")]
    assert _shape(seen[3]) == [(0x1, True, b"")]


async def test_send_stream_round_trips_through_real_servers(
    engine: str, connect: Any, echo_server: Any
) -> None:
    text = ["streamed ", "text é€𝄞 ", "x" * 300_000]
    chunks = [os.urandom(100_000) for _ in range(12)]
    async with connect(echo_server.url, max_message_size=4 * MiB) as ws:
        with anyio.fail_after(20):
            await ws.send_stream(text)
            assert (await ws.receive()).data == "".join(text)
            await ws.send_stream(chunks)
            assert (await ws.receive()).data == b"".join(chunks)
        await ws.close()


async def test_mixed_or_foreign_chunks_are_a_type_error(
    engine: str, connect: Any, scripted: Any
) -> None:
    seen: dict[str, Any] = {}

    async def script(peer: RawPeer) -> None:
        await peer.handshake()
        seen["ok"] = await _read_message_frames(peer)
        seen["close"] = await peer.read_until_close()

    server = scripted(script)
    async with connect(server.url) as ws:
        # Refused before anything is sent: the connection stays usable.
        with pytest.raises(TypeError, match="int chunk"):
            await ws.send_stream([123])
        with pytest.raises(TypeError, match="not one str"):
            await ws.send_stream("one string")
        await ws.send("still open")
        # Refused after a fragment left: that message can never be finished.
        with pytest.raises(TypeError, match="bytes chunk in a text message"):
            await ws.send_stream(["text", b"bytes"])
        with pytest.raises(ConnectionClosedError) as info:
            await ws.send("too late")
        assert info.value.code == 1011
    await server.wait()
    assert _shape(seen["ok"]) == [(0x1, True, b"still open")]
    assert seen["close"] is not None and seen["close"].close_code == 1011


async def test_other_messages_wait_for_a_streamed_message_in_order(
    engine: str, connect: Any, scripted: Any
) -> None:
    seen: list[list[ClientFrame]] = []

    async def script(peer: RawPeer) -> None:
        await peer.handshake()
        for _ in range(4):
            seen.append(await _read_message_frames(peer))
        await peer.read_until_close()

    release = anyio.Event()

    async def chunks() -> AsyncIterator[bytes]:
        yield b"first"
        await release.wait()
        yield b"second"

    server = scripted(script)
    async with connect(server.url) as ws:
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                tg.start_soon(ws.send_stream, chunks())
                await anyio.wait_all_tasks_blocked()
                tg.start_soon(ws.send, "one")
                await anyio.wait_all_tasks_blocked()
                tg.start_soon(ws.send_stream, ["two", "!"])
                await anyio.wait_all_tasks_blocked()
                tg.start_soon(ws.send, "three")
                await anyio.wait_all_tasks_blocked()
                release.set()
        await ws.close()
    await server.wait()
    assert _shape(seen[0]) == [(0x2, False, b"first"), (0x0, False, b"second"), (0x0, True, b"")]
    assert _shape(seen[1]) == [(0x1, True, b"one")]
    assert _shape(seen[2]) == [(0x1, False, b"two"), (0x0, False, b"!"), (0x0, True, b"")]
    assert _shape(seen[3]) == [(0x1, True, b"three")]


@pytest.mark.rfc("5.5")
async def test_a_ping_is_answered_between_fragments_of_a_long_message(
    engine: str, connect: Any, scripted: Any
) -> None:
    pong_seen = Signal()
    seen: list[ClientFrame] = []

    async def script(peer: RawPeer) -> None:
        await peer.handshake()
        first = await peer.read_frame()
        assert first is not None
        seen.append(first)
        await peer.send(frame(0x9, b"still there?"))
        while True:
            got = await peer.read_frame()
            assert got is not None
            seen.append(got)
            if got.opcode == 0xA:
                pong_seen.set()
            if got.opcode == 0x0 and got.fin:
                break
        await peer.read_until_close()

    def chunks() -> Iterator[bytes]:
        # A synchronous producer that never awaits: only the sender's own
        # yields let the pong out. It stops once the peer has its pong, or
        # after 256 MiB, when the test has failed.
        piece = bytes(64 * 1024)
        for _ in range(4096):
            if pong_seen.is_set():
                return
            yield piece

    server = scripted(script)
    async with connect(server.url) as ws:
        with anyio.fail_after(20):
            await ws.send_stream(chunks())
        await ws.close()
    await server.wait()
    opcodes = [f.opcode for f in seen]
    assert 0xA in opcodes, "no pong arrived before the streamed message ended"
    assert seen[opcodes.index(0xA)].payload == b"still there?"
    assert seen[-1].opcode == 0x0 and seen[-1].fin


@pytest.mark.rfc("5.5")
async def test_heartbeat_pings_go_out_during_a_long_streamed_send(
    engine: str, connect: Any, scripted: Any
) -> None:
    ping_seen = Signal()
    seen: list[int] = []

    async def script(peer: RawPeer) -> None:
        await peer.handshake()
        while True:
            got = await peer.read_frame()
            assert got is not None
            seen.append(got.opcode)
            if got.opcode == 0x9:
                await peer.send(frame(0xA, got.payload))
                ping_seen.set()
            if got.opcode == 0x0 and got.fin:
                break
        await peer.read_until_close()

    async def chunks() -> AsyncIterator[bytes]:
        piece = bytes(64 * 1024)
        for _ in range(4096):
            if ping_seen.is_set():
                return
            yield piece

    server = scripted(script)
    async with connect(server.url, ping_interval=0.05, pong_timeout=5) as ws:
        with anyio.fail_after(20):
            await ws.send_stream(chunks())
        await ws.close()
    await server.wait()
    # The peer reads up to the message's last frame: a ping among them went out before it.
    assert 0x9 in seen, "no heartbeat ping went out during the streamed message"


async def test_an_iterable_that_raises_fails_the_connection_with_1011(
    engine: str, connect: Any, scripted: Any
) -> None:
    seen: dict[str, Any] = {}

    async def script(peer: RawPeer) -> None:
        await peer.handshake()
        seen["first"] = await peer.read_frame()
        seen["close"] = await peer.read_until_close()

    class BrokenAtOnce:
        def __iter__(self) -> BrokenAtOnce:
            return self

        def __next__(self) -> bytes:
            raise ValueError("no data")

    def broken_later() -> Iterator[bytes]:
        yield b"partial"
        raise ValueError("producer failed")

    server = scripted(script)
    async with connect(server.url) as ws:
        with pytest.raises(ValueError, match="no data"):
            await ws.send_stream(BrokenAtOnce())  # nothing sent: still open
        with pytest.raises(ValueError, match="producer failed"):
            await ws.send_stream(broken_later())
        with pytest.raises(ConnectionClosedError) as info:
            await ws.send("after")
        assert info.value.code == 1011
        assert isinstance(info.value.__cause__, ValueError)
        with pytest.raises(ConnectionClosed):
            await ws.send_stream([b"again"])
        assert ws.close_code == 1011
    await server.wait()
    assert _shape([seen["first"]]) == [(0x2, False, b"partial")]
    assert seen["close"] is not None and seen["close"].close_code == 1011


async def test_a_cancelled_streamed_send_fails_the_connection_with_1011(
    engine: str, connect: Any, scripted: Any
) -> None:
    seen: dict[str, Any] = {}

    async def script(peer: RawPeer) -> None:
        await peer.handshake()
        seen["first"] = await peer.read_frame()
        seen["close"] = await peer.read_until_close()

    first_left = anyio.Event()
    waiting_error: list[ConnectionClosed] = []

    async def chunks() -> AsyncIterator[str]:
        yield "begun"
        first_left.set()  # asked for the next chunk: the first one is written
        await anyio.sleep_forever()
        yield "never"  # pragma: no cover

    async def queued_send(ws: Any) -> None:
        try:
            await ws.send("queued behind the stream")
        except ConnectionClosed as exc:
            waiting_error.append(exc)

    server = scripted(script)
    async with connect(server.url) as ws:
        with anyio.fail_after(10):
            async with anyio.create_task_group() as others:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(ws.send_stream, chunks())
                    await first_left.wait()
                    others.start_soon(queued_send, ws)
                    await anyio.wait_all_tasks_blocked()
                    tg.cancel_scope.cancel()
        with pytest.raises(ConnectionClosedError) as info:
            await ws.send("after")
        assert info.value.code == 1011
        assert ws.close_code == 1011
    await server.wait()
    # The sender that waited was woken with the failure, not left hanging.
    assert len(waiting_error) == 1 and waiting_error[0].code == 1011
    assert _shape([seen["first"]]) == [(0x1, False, b"begun")]
    assert seen["close"] is not None and seen["close"].close_code == 1011


# ----------------------------------------------------------------- receiving


async def test_receive_stream_needs_streaming_enabled(
    engine: str, connect: Any, echo_server: Any
) -> None:
    async with connect(echo_server.url) as ws:
        with pytest.raises(RuntimeError, match="streaming=True"):
            async with ws.receive_stream():
                pass  # pragma: no cover
        await ws.close()


async def test_pieces_arrive_before_the_message_ends_even_inside_a_frame(
    engine: str, connect: Any, scripted: Any
) -> None:
    text = "é€𝄞 streamed text " * 1000
    payload = text.encode()
    split = 7  # inside the 4-byte 𝄞: the character must be held back
    binary = os.urandom(200_000)
    got_first = Signal()
    got_first_binary = Signal()

    async def script(peer: RawPeer) -> None:
        await peer.handshake()
        # One text frame, its payload in two writes with a wait between.
        header = frame(0x1, payload)[: -len(payload)]
        await peer.send(header + payload[:split])
        await got_first.peer_wait()
        await peer.send(payload[split:])
        # One binary frame, likewise.
        header = frame(0x2, binary)[: -len(binary)]
        await peer.send(header + binary[:1000])
        await got_first_binary.peer_wait()
        await peer.send(binary[1000:])
        await peer.read_until_close()

    server = scripted(script)
    async with connect(server.url, streaming=True) as ws:
        with anyio.fail_after(10):
            async with ws.receive_stream() as stream:
                assert stream.is_text
                pieces: list[str] = []
                async for piece in stream:
                    assert isinstance(piece, str)
                    pieces.append(piece)
                    if len(pieces) == 1:
                        assert piece == "é€"  # the split 𝄞 is held until complete
                        got_first.set()
            assert "".join(pieces) == text
            async with ws.receive_stream() as stream:
                assert not stream.is_text
                chunks: list[bytes] = []
                async for chunk in stream:
                    assert isinstance(chunk, bytes)
                    chunks.append(chunk)
                    if len(chunks) == 1:
                        assert chunk == binary[:1000]
                        got_first_binary.set()
            assert b"".join(chunks) == binary
        await ws.close()
    await server.wait()


async def test_fragments_with_control_frames_between_them(
    engine: str, connect: Any, scripted: Any
) -> None:
    pong: dict[str, Any] = {}

    async def script(peer: RawPeer) -> None:
        await peer.handshake()
        await peer.send(frame(0x1, b"a\xc3", fin=False) + frame(0x9, b"p"))
        pong["frame"] = await peer.read_frame()  # answered while the message is open
        await peer.send(frame(0x0, b"\xa9b", fin=False) + frame(0xA, b"unasked"))
        await peer.send(frame(0x0, b"", fin=False) + frame(0x0, b"c"))
        await peer.send(frame(0x2, b"whole"))
        await peer.read_until_close()

    server = scripted(script)
    async with connect(server.url, streaming=True) as ws:
        with anyio.fail_after(10):
            async with ws.receive_stream() as stream:
                pieces = [piece async for piece in stream]
            assert "".join(pieces) == "aébc"
            assert all(pieces), "empty pieces are not handed out"
            # A message that arrived whole is one piece.
            async with ws.receive_stream() as stream:
                assert [piece async for piece in stream] == [b"whole"]
        await ws.close()
    await server.wait()
    assert pong["frame"].opcode == 0xA and pong["frame"].payload == b"p"


@pytest.mark.rfc("8.1")
async def test_invalid_utf8_fails_with_1007_in_the_middle_of_a_stream(
    engine: str, connect: Any, scripted: Any
) -> None:
    seen: dict[str, Any] = {}
    got_first = Signal()

    async def script(peer: RawPeer) -> None:
        await peer.handshake()
        await peer.send(frame(0x1, b"valid start ", fin=False))
        await got_first.peer_wait()
        await peer.send(frame(0x0, b"then \xff invalid", fin=False))
        seen["close"] = await peer.read_until_close()

    server = scripted(script)
    pieces: list[Any] = []
    async with connect(server.url, streaming=True) as ws:
        with anyio.fail_after(10):
            with pytest.raises(ConnectionClosedError) as info:  # noqa: PT012
                async with ws.receive_stream() as stream:
                    async for piece in stream:
                        pieces.append(piece)
                        got_first.set()
        assert info.value.code == 1007
    await server.wait()
    # What preceded the bad byte was handed out, never the bad byte.
    assert "".join(pieces).startswith("valid start ")
    assert "\ufffd" not in "".join(pieces)
    assert seen["close"] is not None and seen["close"].close_code == 1007


@pytest.mark.parametrize("rest", ["already-arrived", "arriving-later"])
async def test_leaving_a_stream_early_discards_the_rest_of_the_message(
    engine: str, connect: Any, scripted: Any, rest: str
) -> None:
    left = Signal()

    async def script(peer: RawPeer) -> None:
        await peer.handshake()
        await peer.send(frame(0x2, b"head", fin=False))
        tail = (
            frame(0x0, b"x" * 70_000, fin=False)
            + frame(0x9, b"keep")
            + frame(0x0, b"tail")
            + frame(0x1, b"next message")
        )
        if rest == "already-arrived":
            await peer.send(tail)
        else:
            await left.peer_wait()
            await peer.send(tail)
        await peer.read_until_close()

    server = scripted(script)
    async with connect(server.url, streaming=True, deliver_control_frames=True) as ws:
        with anyio.fail_after(10):
            async with ws.receive_stream() as stream:
                assert await stream.__anext__() == b"head"
            left.set()
            # The ping that arrived inside the discarded message is still delivered.
            event = await ws.receive_event()
            assert (event.opcode, event.data) == (0x9, b"keep")
            assert (await ws.receive()).data == "next message"
        await ws.close()
    await server.wait()


async def test_a_stream_iterated_without_its_block(
    engine: str, connect: Any, scripted: Any
) -> None:
    async def script(peer: RawPeer) -> None:
        await peer.handshake()
        await peer.send(
            frame(0x1, b"whole ", fin=False)
            + frame(0x0, b"message")
            + frame(0x2, b"head", fin=False)
            + frame(0x0, b"x" * 70_000, fin=False)
            + frame(0x0, b"tail")
            + frame(0x1, b"next message")
            + frame(0x2, b"only piece")
            + frame(0x1, b"after", fin=False)
            + frame(0x0, b" it")
        )
        await peer.read_until_close()

    server = scripted(script)
    async with connect(server.url, streaming=True) as ws:
        with anyio.fail_after(10):
            assert "".join([piece async for piece in ws.receive_stream()]) == "whole message"
            # Left early: the rest is dropped when the next receive begins.
            left = ws.receive_stream()
            async for piece in left:
                assert piece == b"head"
                break
            assert (await ws.receive()).data == "next message"
            # Left right after its last piece: the message was taken whole,
            # and the next one is not touched.
            async for piece in ws.receive_stream():
                assert piece == b"only piece"
                break
            assert (await ws.receive()).data == "after it"
            with pytest.raises(RuntimeError, match="was left"):
                await left.__anext__()
        await ws.close()
    await server.wait()


async def test_receive_assembles_streamed_messages_and_both_mix(
    engine: str, connect: Any, echo_server: Any
) -> None:
    chunks = [os.urandom(150_000) for _ in range(5)]
    async with connect(echo_server.url, streaming=True, max_message_size=4 * MiB) as ws:
        with anyio.fail_after(20):
            await ws.send_stream(["a" * 300_000, "é" * 100_000])
            assert (await ws.receive()).data == "a" * 300_000 + "é" * 100_000
            await ws.send_stream(chunks)
            async with ws.receive_stream() as stream:
                assert b"".join([c async for c in stream]) == b"".join(chunks)
            await ws.send("small")
            assert (await ws.receive()).data == "small"
        await ws.close()


# -------------------------------------------------------------------- limits


@pytest.mark.rfc("10")
async def test_receive_still_fails_with_1009_over_max_message_size(
    engine: str, connect: Any, scripted: Any
) -> None:
    seen: dict[str, Any] = {}

    async def script(peer: RawPeer) -> None:
        await peer.handshake()
        await peer.send(frame(0x2, b"x" * 600, fin=False) + frame(0x0, b"x" * 600))
        seen["close"] = await peer.read_until_close()

    server = scripted(script)
    async with connect(server.url, streaming=True, max_message_size=1000) as ws:
        with anyio.fail_after(10), pytest.raises(ConnectionClosedError) as info:
            await ws.receive()
        assert info.value.code == 1009
        assert "max_message_size" in str(info.value)
    await server.wait()
    assert seen["close"] is not None and seen["close"].close_code == 1009


@pytest.mark.rfc("10")
async def test_a_stream_may_exceed_max_message_size_but_not_max_stream_size(
    engine: str, connect: Any, scripted: Any
) -> None:
    seen: dict[str, Any] = {}

    async def script(peer: RawPeer) -> None:
        await peer.handshake()
        body = b"".join(frame(0x0 if i else 0x2, b"y" * 1000, fin=i == 9) for i in range(10))
        await peer.send(body)
        over = b"".join(frame(0x0 if i else 0x2, b"z" * 1000, fin=i == 19) for i in range(20))
        await peer.send(over)
        seen["close"] = await peer.read_until_close()

    server = scripted(script)
    received: list[bytes] = []
    async with connect(
        server.url, streaming=True, max_message_size=1000, max_stream_size=15_000
    ) as ws:
        with anyio.fail_after(10):
            async with ws.receive_stream() as stream:
                assert b"".join([c async for c in stream]) == b"y" * 10_000
            with pytest.raises(ConnectionClosedError) as info:  # noqa: PT012
                async with ws.receive_stream() as stream:
                    async for chunk in stream:
                        received.append(chunk)
        assert info.value.code == 1009
        assert "max_stream_size" in str(info.value) or "15000" in str(info.value)
    await server.wait()
    # Refused from the header that crossed the limit: nothing past it came out.
    assert len(b"".join(received)) <= 15_000
    assert seen["close"] is not None and seen["close"].close_code == 1009


# --------------------------------------------------------------- compression


@deflate
@pytest.mark.rfc("7692")
async def test_compressed_messages_are_streamed_frame_by_frame(
    engine: str, connect: Any, scripted: Any
) -> None:
    text = "compressible streamed text é€𝄞 " * 20_000
    wire = compress(text.encode())
    third = len(wire) // 3
    binary = os.urandom(50_000) * 4
    packed = compress(binary)

    async def script(peer: RawPeer) -> None:
        await peer.handshake(extra_headers=ACCEPT_DEFLATE)
        await peer.send(
            frame(0x1, wire[:third], fin=False, rsv=RSV1)
            + frame(0x9, b"mid")
            + frame(0x0, wire[third : 2 * third], fin=False)
            + frame(0x0, wire[2 * third :])
            + frame(0x2, packed[:100], fin=False, rsv=RSV1)
            + frame(0x0, packed[100:])
        )
        await peer.read_until_close()

    server = scripted(script)
    async with connect(server.url, streaming=True) as ws:
        assert ws.extensions
        with anyio.fail_after(10):
            async with ws.receive_stream() as stream:
                pieces = [piece async for piece in stream]
            assert "".join(pieces) == text
            assert len(pieces) >= 2, "inflated frame by frame, not as one message"
            assert (await ws.receive()).data == binary
        await ws.close()
    await server.wait()


@deflate
@pytest.mark.rfc("7692")
async def test_receive_resumes_reading_after_whole_compressed_messages_fill_the_queue(
    engine: str, connect: Any, scripted: Any
) -> None:
    # Each compressed message arrives as one piece; two fill a 1000-byte
    # receive queue, so reading pauses, and taking them must resume it.
    bodies = [os.urandom(600) for _ in range(3)]

    async def script(peer: RawPeer) -> None:
        await peer.handshake(extra_headers=ACCEPT_DEFLATE)
        await peer.send(b"".join(frame(0x2, compress(body), rsv=RSV1) for body in bodies[:2]))
        await peer.read_frame()  # the client took both: the third may come
        await peer.send(frame(0x2, compress(bodies[2]), rsv=RSV1))
        await peer.read_until_close()

    server = scripted(script)
    async with connect(
        server.url, streaming=True, receive_queue_bytes=1000, ping_interval=None
    ) as ws:
        with anyio.fail_after(10):
            assert (await ws.receive()).data == bodies[0]
            assert (await ws.receive()).data == bodies[1]
            await ws.send("took two")
            assert (await ws.receive()).data == bodies[2]
        await ws.close()
    await server.wait()


@deflate
@pytest.mark.rfc("7692")
async def test_a_compressed_frame_inflating_past_max_frame_size_fails_with_1009(
    engine: str, connect: Any, scripted: Any
) -> None:
    seen: dict[str, Any] = {}
    bomb = compress(bytes(4 * MiB))  # about 4 KiB on the wire

    async def script(peer: RawPeer) -> None:
        await peer.handshake(extra_headers=ACCEPT_DEFLATE)
        await peer.send(frame(0x2, bomb, rsv=RSV1))
        seen["close"] = await peer.read_until_close()

    server = scripted(script)
    async with connect(server.url, streaming=True, max_frame_size=MiB) as ws:
        with anyio.fail_after(10), pytest.raises(ConnectionClosedError) as info:  # noqa: PT012
            async with ws.receive_stream() as stream:
                async for _ in stream:
                    pass  # pragma: no cover
        assert info.value.code == 1009
    await server.wait()
    assert seen["close"] is not None and seen["close"].close_code == 1009


@deflate
@pytest.mark.rfc("7692")
async def test_streamed_sends_go_uncompressed_with_deflate_negotiated(
    engine: str, connect: Any, deflate_echo_server: Any
) -> None:
    text = "streamed through a compressing server " * 10_000
    async with connect(deflate_echo_server.url, max_message_size=4 * MiB) as ws:
        assert ws.extensions
        with anyio.fail_after(20):
            await ws.send_stream(text[i : i + 50_000] for i in range(0, len(text), 50_000))
            assert (await ws.receive()).data == text
            await ws.send(text)  # compressed as usual, the shared history intact
            assert (await ws.receive()).data == text
        await ws.close()
