"""Streaming messages beyond the conformance suite: memory, events, the consumer's rules.

The memory tests push a few hundred MiB through one connection, both ways,
while ``tracemalloc`` watches every allocation of the process (the peer's
thread included): the peak must stay far below the size of the message, so
the message was never held whole on either side. One engine and backend
runs the large size in the default suite; the others run a smaller one, and
the multi-GiB variant is a ``soak`` test.
"""

from __future__ import annotations

import struct
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from openwire import Client, MessageStream
from openwire.engines.connection import open_engine_connection
from openwire.engines.contract import EngineSettings
from openwire.engines.registry import registry
from openwire.errors import ConnectionClosedOK, ProtocolError
from openwire.events import EventListener
from openwire.protocol.frames import Opcode
from openwire.testing.conformance.test_streaming import Signal
from openwire.testing.frames import frame
from openwire.testing.servers import RawPeer
from openwire.websocket.options import WebSocketOptions
from openwire.websocket.session import _Turns

from tests.fuzz.strategies import deflate_streams as fuzz_deflate_streams
from tests.fuzz.strategies import streams as fuzz_streams
from tests.sansio.fakes import FakeRuntime, Step

pytestmark = pytest.mark.anyio

MiB = 1024 * 1024
PIECE = MiB
# The bound: queues (4 MiB each way here) plus a frame or two in flight, with
# room to spare, and far below any message size the tests stream.
MEMORY_BOUND = 32 * MiB


async def _count_client_message(peer: RawPeer) -> int:
    """Read one message the client sends, skipping payloads: its size, nothing kept."""
    reader = peer.reader
    total = 0
    while True:
        b0, b1 = await reader.readexactly(2)
        length = b1 & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", await reader.readexactly(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", await reader.readexactly(8))
        await reader.readexactly(4)  # the mask key
        left = length
        while left:
            data = await reader.read(min(left, 256 * 1024))
            if not data:
                raise EOFError("the client closed TCP in the middle of a message")
            left -= len(data)
        if b0 & 0x0F < 8:
            total += length
            if b0 & 0x80:
                return total


async def _stream_both_ways(
    engine: str, scripted: Any, size: int, *, one_frame: bool = False, **options: Any
) -> int:
    """Stream ``size`` bytes to the peer and ``size`` back; the traced peak in bytes."""
    sent_by_client: dict[str, int] = {}
    payload = bytes(PIECE)

    async def script(peer: RawPeer) -> None:
        await peer.handshake()
        sent_by_client["size"] = await _count_client_message(peer)
        count = size // PIECE
        if one_frame:
            peer.writer.write(frame(0x2, b"", length=size)[:10])
        for i in range(count):
            if not one_frame:
                peer.writer.write(frame(0x0 if i else 0x2, b"", fin=i == count - 1, length=PIECE))
            peer.writer.write(payload)
            await peer.writer.drain()
        await peer.read_until_close()

    def chunks() -> Iterator[bytes]:
        for _ in range(size // PIECE):
            yield payload  # the same object: the producer allocates nothing

    server = scripted(script)
    options.setdefault("max_frame_size", 2 * size if one_frame else 2 * PIECE)
    async with (
        Client() as client,
        client.websocket(
            server.url,
            engine=engine,
            streaming=True,
            max_stream_size=None,
            send_queue_bytes=4 * MiB,
            receive_queue_bytes=4 * MiB,
            ping_interval=None,
            **options,
        ) as ws,
    ):
        tracemalloc.start()
        try:
            with anyio.fail_after(120):
                await ws.send_stream(chunks())
                received = 0
                async with ws.receive_stream() as stream:
                    async for chunk in stream:
                        received += len(chunk)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    await server.wait()
    assert sent_by_client["size"] == size
    assert received == size
    return peak


def _is_asyncio(anyio_backend: Any) -> bool:
    return anyio_backend == "asyncio"  # uvloop's parameter is a tuple


async def test_streaming_both_ways_keeps_memory_bounded(
    engine: str, scripted: Any, anyio_backend: Any
) -> None:
    big = engine == "native" and _is_asyncio(anyio_backend)
    size = 256 * MiB if big else 16 * MiB
    peak = await _stream_both_ways(engine, scripted, size)
    assert peak < MEMORY_BOUND, f"traced peak {peak / MiB:.1f} MiB streaming {size // MiB} MiB"


async def test_one_huge_frame_passes_the_native_codec_without_being_held(
    scripted: Any, anyio_backend: Any
) -> None:
    # max_frame_size raised to let a 64 MiB frame in: the native codec hands
    # its payload out as it arrives instead of collecting the frame.
    peak = await _stream_both_ways("native", scripted, 64 * MiB, one_frame=True)
    assert peak < MEMORY_BOUND, f"traced peak {peak / MiB:.1f} MiB"


@pytest.mark.soak
@pytest.mark.timeout(600)
async def test_soak_streaming_gibibytes_both_ways(engine: str, scripted: Any) -> None:
    peak = await _stream_both_ways(engine, scripted, 4096 * MiB)
    assert peak < MEMORY_BOUND, f"traced peak {peak / MiB:.1f} MiB"


# -------------------------------------------------------------------- events


class _Messages(EventListener):
    def __init__(self) -> None:
        self.events: list[tuple[str, str, int]] = []

    def websocket_message_sent(self, kind: str, size: int) -> None:
        self.events.append(("sent", kind, size))

    def websocket_message_received(self, kind: str, size: int) -> None:
        self.events.append(("received", kind, size))


async def test_message_events_fire_once_per_streamed_message(engine: str, scripted: Any) -> None:
    async def script(peer: RawPeer) -> None:
        await peer.handshake()
        for _ in range(2):
            while (got := await peer.read_frame()) is not None and not got.fin:
                pass
        await peer.send(
            frame(0x2, b"x" * 10, fin=False) + frame(0x0, b"y" * 20, fin=False) + frame(0x0, b"z")
        )
        await peer.send(frame(0x1, "é".encode(), fin=False) + frame(0x0, b"!"))
        await peer.read_until_close()

    listener = _Messages()
    server = scripted(script)
    async with (
        Client(event_listener_factory=lambda: listener) as client,
        client.websocket(server.url, engine=engine, streaming=True, ping_interval=None) as ws,
    ):
        with anyio.fail_after(10):
            await ws.send_stream(["ab", "cd", "é"])
            await ws.send_stream([b"x" * 3000, b"y" * 5])
            async with ws.receive_stream() as stream:
                await stream.__anext__()  # left early: the event still counts the whole message
            assert (await ws.receive()).data == "é!"
    await server.wait()
    assert listener.events == [
        ("sent", "text", 5),
        ("sent", "binary", 3005),
        ("received", "binary", 31),
        ("received", "text", 2),
    ]


# ------------------------------------------------------------- the consumer


async def test_a_cancelled_receive_loses_none_of_a_message_arriving_in_pieces(
    scripted: Any,
) -> None:
    rest = Signal()

    async def script(peer: RawPeer) -> None:
        await peer.handshake()
        await peer.send(frame(0x2, b"first half ", fin=False))
        ping = await peer.read_frame()
        assert ping is not None and ping.opcode == 0x9
        await peer.send(frame(0xA, ping.payload))
        await rest.peer_wait()
        await peer.send(frame(0x0, b"second half"))
        await peer.read_until_close()

    server = scripted(script)
    async with (
        Client() as client,
        client.websocket(server.url, streaming=True, ping_interval=None) as ws,
    ):
        with anyio.fail_after(10):
            await ws.ping()  # its pong follows the first piece: that piece is in
            async with anyio.create_task_group() as tg:
                tg.start_soon(ws.receive)
                await anyio.wait_all_tasks_blocked()  # it holds the first piece
                tg.cancel_scope.cancel()
            rest.set()
            assert (await ws.receive()).data == b"first half second half"
    await server.wait()


async def test_receive_takes_many_messages_in_pieces_through_a_small_queue(
    scripted: Any,
) -> None:
    # Far more than the receive queue holds, so its accounting must come back
    # to zero after every message receive() assembles, or reading stalls.
    count = 300

    async def script(peer: RawPeer) -> None:
        await peer.handshake()
        for i in range(count):
            body = i.to_bytes(2, "big") * 1000
            await peer.send(frame(0x2, body[:1500], fin=False) + frame(0x0, body[1500:]))
        await peer.read_until_close()

    server = scripted(script)
    async with (
        Client() as client,
        client.websocket(
            server.url, streaming=True, receive_queue_bytes=16 * 1024, ping_interval=None
        ) as ws,
    ):
        with anyio.fail_after(20):
            for i in range(count):
                assert (await ws.receive()).data == i.to_bytes(2, "big") * 1000
    await server.wait()


async def test_one_consumer_at_a_time(scripted: Any) -> None:
    async def script(peer: RawPeer) -> None:
        await peer.handshake()
        await peer.send(frame(0x2, b"a", fin=False) + frame(0x0, b"b") + frame(0x1, b"next"))
        await peer.read_until_close()

    server = scripted(script)
    async with (
        Client() as client,
        client.websocket(server.url, streaming=True, ping_interval=None) as ws,
    ):
        with anyio.fail_after(10):
            async with ws.receive_stream() as stream:
                assert isinstance(stream, MessageStream)
                with pytest.raises(RuntimeError, match="stream is open"):
                    await ws.receive()
                with pytest.raises(RuntimeError, match="already open"):
                    async with ws.receive_stream():
                        pass  # pragma: no cover
                assert [c async for c in stream] == [b"a", b"b"]
            assert [c async for c in stream] == []  # after the block: nothing more
            # Without the block, the stream opens on the first step.
            assert [c async for c in ws.receive_stream()] == ["next"]
    await server.wait()


async def test_a_stream_that_the_connection_ends_raises(scripted: Any) -> None:
    async def script(peer: RawPeer) -> None:
        await peer.handshake()
        await peer.send(frame(0x2, b"unfinished", fin=False) + frame(0x8, b"\x03\xe8"))
        await peer.read_until_close()

    server = scripted(script)
    async with (
        Client() as client,
        client.websocket(server.url, streaming=True, ping_interval=None) as ws,
    ):
        got: list[Any] = []
        with anyio.fail_after(10), pytest.raises(ConnectionClosedOK) as info:  # noqa: PT012
            async with ws.receive_stream() as stream:
                async for chunk in stream:
                    got.append(chunk)
        # An incomplete message never looks complete, even after a normal close.
        assert got == [b"unfinished"]
        assert info.value.code == 1000
    await server.wait()


async def test_send_stream_from_an_async_generator_of_text(scripted: Any) -> None:
    frames: list[tuple[int, bool, bytes]] = []

    async def script(peer: RawPeer) -> None:
        await peer.handshake()
        while (got := await peer.read_frame()) is not None:
            frames.append((got.opcode, got.fin, got.payload))
            if got.fin:
                break
        await peer.read_until_close()

    async def tokens() -> AsyncIterator[str]:
        for token in ("Stream", "ing ", "tokens"):
            yield token

    server = scripted(script)
    async with (
        Client() as client,
        client.websocket(server.url, ping_interval=None) as ws,
    ):
        await ws.send_stream(tokens())
    await server.wait()
    assert frames == [
        (0x1, False, b"Stream"),
        (0x0, False, b"ing "),
        (0x0, False, b"tokens"),
        (0x0, True, b""),
    ]


async def test_a_slow_stream_consumer_stops_the_socket_being_read(scripted: Any) -> None:
    count, size = 1024, 64 * 1024  # one 64 MiB message
    progress = {"written": 0}

    async def script(peer: RawPeer) -> None:
        await peer.handshake()
        payload = bytes(size)
        for i in range(count):
            peer.writer.write(frame(0x0 if i else 0x2, b"", fin=i == count - 1, length=size))
            peer.writer.write(payload)
            await peer.writer.drain()  # blocks once the client stops reading
            progress["written"] += 1
        await peer.read_until_close()

    server = scripted(script)
    async with (
        Client() as client,
        client.websocket(
            server.url, streaming=True, receive_queue_bytes=256 * 1024, ping_interval=None
        ) as ws,
    ):
        async with ws.receive_stream() as stream:
            got = len(await stream.__anext__())
            await anyio.sleep(0.5)  # the consumer is slow on purpose
            # Only the queue and the socket buffers may have been taken.
            assert progress["written"] < count // 2, progress
            with anyio.fail_after(30):
                async for chunk in stream:
                    got += len(chunk)
        assert got == count * size
    await server.wait()


async def test_closing_during_a_streamed_send_ends_it_cleanly(scripted: Any) -> None:
    seen: list[tuple[int, bool, bytes]] = []

    async def script(peer: RawPeer) -> None:
        await peer.handshake()
        while (got := await peer.read_frame()) is not None:
            seen.append((got.opcode, got.fin, got.payload))
            if got.opcode == 0x8:
                await peer.send(frame(0x8, got.payload))
                break

    release = anyio.Event()
    outcome: list[BaseException] = []

    async def chunks() -> AsyncIterator[bytes]:
        yield b"begun"
        await release.wait()
        yield b"after the close"

    async def send(ws: Any) -> None:
        try:
            await ws.send_stream(chunks())
        except ConnectionClosedOK as exc:
            outcome.append(exc)

    server = scripted(script)
    async with (
        Client() as client,
        client.websocket(server.url, ping_interval=None) as ws,
    ):
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                tg.start_soon(send, ws)
                await anyio.wait_all_tasks_blocked()
                await ws.close()  # a Close may come between fragments
                release.set()
        assert ws.close_code == 1000
    await server.wait()
    assert len(outcome) == 1 and outcome[0].code == 1000
    assert seen[0] == (0x2, False, b"begun")
    assert [opcode for opcode, _, _ in seen] == [0x2, 0x8]


def test_options_validate_the_stream_limit() -> None:
    assert WebSocketOptions().streaming is False
    assert WebSocketOptions().max_stream_size == 1024 * MiB
    assert WebSocketOptions(max_stream_size=None).max_stream_size is None
    with pytest.raises(ValueError, match="max_stream_size"):
        WebSocketOptions(max_stream_size=0)


# ---------------------------------------------- streaming = assembling, per engine


def _engine_codec(name: str, limits: Any, deflate: bool, stream: bool) -> Any:
    """The codec the session would drive for ``name``, in message or streaming mode."""
    settings = EngineSettings(
        max_frame_size=limits.max_frame,
        max_message_size=limits.max_message,
        extensions=("permessage-deflate",) if deflate else (),
    )
    codec = open_engine_connection(registry.get(name).engine, settings)
    if stream:
        # The stream limit equals max_message_size, so the header rules decide alike.
        codec.stream_messages(limits.max_message)
    return codec


def _outcome(codec: Any, chunks: list[bytes]) -> tuple[list[tuple[Any, ...]], int | None]:
    """What a consumer gets: messages (pieces joined at their ``fin``) and control events."""
    got: list[tuple[Any, ...]] = []
    pieces: list[str | bytes] = []
    for data in chunks:
        try:
            events = codec.receive_data(data)
            code = None
        except ProtocolError as exc:
            events, code = exc.events, exc.close_code
        for event in events:
            if event.opcode == Opcode.CONTINUATION:
                assert event.data or event.fin, "an empty piece before the last one"
                pieces.append(event.data)
                if event.fin:
                    text = isinstance(event.data, str)
                    joined = "".join(pieces) if text else b"".join(pieces)  # type: ignore[arg-type]
                    got.append(("message", 1 if text else 2, joined))
                    pieces = []
            elif event.opcode in (Opcode.TEXT, Opcode.BINARY):
                assert not pieces, "a whole message inside a message arriving in pieces"
                got.append(("message", int(event.opcode), event.data))
            else:
                got.append((int(event.opcode), bytes(event.data)))
        if code is not None:
            return got, code
    return got, None


FUZZ = settings(
    derandomize=True,
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)
ENGINES = [info.name for info in registry.engines()]


@pytest.mark.parametrize("name", ENGINES)
@FUZZ
@given(stream=fuzz_streams())
def test_streaming_hands_out_exactly_what_assembling_would(name: str, stream: Any) -> None:
    """Any server bytes, any cuts: the pieces join to the same messages, fail the same way."""
    chunks = stream.chunks()
    whole = _outcome(_engine_codec(name, stream.limits, False, False), chunks)
    pieces = _outcome(_engine_codec(name, stream.limits, False, True), chunks)
    assert pieces == whole


@pytest.mark.parametrize("name", ENGINES)
@FUZZ
@given(stream=fuzz_deflate_streams())
def test_streaming_compressed_messages_matches_assembling(name: str, stream: Any) -> None:
    """The same with permessage-deflate, where streaming bounds each frame once inflated."""
    if "permessage-deflate" not in registry.get(name).capabilities.extensions:
        pytest.skip(f"engine {name!r} does not implement permessage-deflate")
    chunks = stream.chunks()
    whole_events, whole_code = _outcome(_engine_codec(name, stream.limits, True, False), chunks)
    piece_events, piece_code = _outcome(_engine_codec(name, stream.limits, True, True), chunks)
    if piece_code == 1009 and (piece_events, piece_code) != (whole_events, whole_code):
        # A compressed frame inflating past max_frame_size is refused when
        # streaming (max_frame_size bounds a frame in memory), not when the
        # message stays within max_message_size: up to there, the same.
        assert piece_events == whole_events[: len(piece_events)]
        return
    assert (piece_events, piece_code) == (whole_events, whole_code)


def test_turns_keep_their_order_and_a_cancelled_waiter_passes_its_turn_on() -> None:
    runtime = FakeRuntime()
    turns = _Turns(runtime)  # type: ignore[arg-type]
    order: list[str] = []

    async def take(name: str) -> None:
        await turns.acquire()
        order.append(name)

    assert Step(take("a")).done and turns.busy
    b, c, d = Step(take("b")), Step(take("c")), Step(take("d"))
    assert not (b.done or c.done or d.done)
    turns.release()  # a hands over to b...
    b.cancel()  # ...which is cancelled before it runs: the turn goes on to c
    assert c.resume().done and not d.resume().done
    turns.release()
    assert d.resume().done
    assert order == ["a", "c", "d"]
    # Cancelled while still queued: it just leaves the queue.
    e = Step(take("e"))
    turns.release()
    assert e.resume().done and turns.busy
    Step(take("f")).cancel()
    turns.release()
    assert not turns.busy
    assert order == ["a", "c", "d", "e"]
