"""The channels, each with a fake underneath: what reaches the session, what reaches the wire.

:class:`~openwire.io.asyncio_backend.AsyncioChannel` runs on a fake asyncio
transport and the hand-driven runtime (no loop at all);
:class:`~openwire.io.channel.StreamChannel` runs its reader and writer tasks
on the real backends (asyncio, uvloop, trio) over a fake byte stream.
"""

from __future__ import annotations

from typing import Any

import anyio
import anyio.lowlevel
import pytest
from openwire.io.asyncio_backend import AsyncioChannel
from openwire.io.backend import current_backend
from openwire.io.channel import StreamChannel

from tests.sansio.fakes import FakeRuntime


class Sink:
    def __init__(self) -> None:
        self.received: list[bytes] = []
        self.lost: list[BaseException | None] = []
        self.writable_calls = 0

    def data_received(self, data: bytes) -> None:
        self.received.append(data)

    def connection_lost(self, exc: BaseException | None) -> None:
        self.lost.append(exc)

    def writable(self) -> None:
        self.writable_calls += 1


class FakeTransport:
    def __init__(self, tls: bool = False) -> None:
        self.sent: list[bytes] = []
        self.reading = False  # as the stream left it (paused if its buffer was full)
        self.closing = False
        self.aborted = False
        self.high: int | None = None
        self._tls = tls

    def write(self, data: bytes) -> None:
        self.sent.append(bytes(data))

    def close(self) -> None:
        self.closing = True

    def abort(self) -> None:
        self.closing = self.aborted = True

    def is_closing(self) -> bool:
        return self.closing

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def set_write_buffer_limits(self, high: int | None = None) -> None:
        self.high = high

    def get_extra_info(self, name: str) -> Any:
        return object() if name == "sslcontext" and self._tls else None


def asyncio_channel(tls: bool = False) -> tuple[AsyncioChannel, FakeTransport, Sink, FakeRuntime]:
    sink, transport, runtime = Sink(), FakeTransport(tls), FakeRuntime()
    channel = AsyncioChannel(sink, transport, runtime, max_bytes=1024)  # type: ignore[arg-type]
    return channel, transport, sink, runtime


# ------------------------------------------------------------ AsyncioChannel


def test_bytes_from_before_the_handover_reach_the_session_first_in_order() -> None:
    channel, transport, sink, _ = asyncio_channel()
    channel.data_received(b"second")  # delivered before start(): held back
    assert sink.received == []
    channel.start(b"first", False)
    assert sink.received == [b"first", b"second"]
    assert transport.reading  # reading starts only once the held bytes are in


def test_send_bound_is_the_transports_high_water_mark() -> None:
    channel, transport, sink, _ = asyncio_channel()
    assert transport.high == 1024
    channel.pause_writing()
    assert not channel.can_write()
    channel.resume_writing()
    assert channel.can_write() and sink.writable_calls == 1


def test_a_reply_after_a_read_goes_out_at_once() -> None:
    channel, transport, _, runtime = asyncio_channel()
    channel.start(b"", False)
    channel.data_received(b"request")
    channel.write(b"reply")
    assert transport.sent == [b"reply"]
    assert runtime.soon == []


def test_pipelined_writes_in_one_loop_turn_leave_in_one_send() -> None:
    channel, transport, _, runtime = asyncio_channel()
    channel.start(b"", False)
    for data in (b"a", b"b", b"c", b"d"):
        channel.write(data)
    assert transport.sent == [b"a"]  # the first goes at once, the run is coalesced
    runtime.run_soon()
    assert transport.sent == [b"a", b"bcd"]


def test_peer_eof_on_tcp_sends_what_we_owe_then_closes_rfc6455_5_5_1() -> None:
    channel, transport, _, _runtime = asyncio_channel()
    channel.start(b"", False)
    channel.write(b"1")
    channel.write(b"close frame")  # coalesced, not yet sent
    assert channel.eof_received() is True  # keep our half open
    assert transport.sent == [b"1", b"close frame"]
    assert transport.closing


def test_peer_eof_on_tls_is_left_to_the_tls_layer() -> None:
    channel, _transport, _, _ = asyncio_channel(tls=True)
    channel.start(b"", False)
    assert channel.eof_received() is None


def test_eof_before_the_handover_ends_the_connection_after_the_held_bytes() -> None:
    channel, transport, sink, _ = asyncio_channel()
    channel.data_received(b"close frame")
    channel.eof_received()
    channel.start(b"", False)
    assert sink.received == [b"close frame"]
    assert transport.closing


def test_bytes_piling_up_before_start_pause_reading_until_start() -> None:
    # The hand-over leaves the transport reading; a loop that reads many
    # times per turn must not pile more than 256 KiB into the channel before
    # start() delivers it.
    channel, transport, sink, _ = asyncio_channel()
    transport.reading = True
    chunks = [bytes([i]) * 65536 for i in range(5)]
    for chunk in chunks[:4]:
        channel.data_received(chunk)
    assert transport.reading, "256 KiB held: still within the bound"
    channel.data_received(chunks[4])
    assert not transport.reading
    channel.start(b"pending", False)
    assert sink.received == [b"pending", *chunks]
    assert transport.reading


def test_a_transport_closed_before_the_handover_is_reported_lost() -> None:
    channel, transport, sink, _ = asyncio_channel()
    transport.closing = True
    channel.start(b"", False)
    assert sink.lost == [None]


def test_close_with_linger_waits_for_the_peer_to_close_first_rfc6455_7_1_1() -> None:
    channel, transport, _, runtime = asyncio_channel()
    channel.start(b"", False)
    channel.pause_reading()
    channel.close(linger=2.0)
    assert transport.reading  # keep reading, to see the peer's EOF
    assert not transport.closing
    runtime.advance(2.0)
    assert transport.closing


def test_connection_lost_reaches_the_session_and_cancels_the_linger() -> None:
    channel, _transport, sink, runtime = asyncio_channel()
    channel.start(b"", False)
    channel.close(linger=2.0)
    error = ConnectionResetError()
    channel.connection_lost(error)
    assert sink.lost == [error]
    assert runtime.pending() == []


# -------------------------------------------------------------- StreamChannel


class FakeStream:
    """A byte stream whose peer is the test: ``incoming`` to read, ``sent`` written."""

    def __init__(self) -> None:
        self.incoming: list[bytes] = []
        self.sent: list[bytes] = []
        self.closed = False
        self._ready = anyio.Event()

    def push(self, data: bytes) -> None:
        self.incoming.append(data)
        self._ready.set()

    async def read(self, max_bytes: int) -> bytes:
        while not self.incoming:
            self._ready = anyio.Event()
            await self._ready.wait()
        return self.incoming.pop(0)

    async def write(self, buffer: bytes) -> None:
        self.sent.append(buffer)
        await anyio.lowlevel.checkpoint()

    async def aclose(self) -> None:
        self.closed = True


async def _settle() -> None:
    for _ in range(20):
        await anyio.lowlevel.checkpoint()


def stream_channel(
    max_messages: int = 4, max_bytes: int = 1024, leading: bytes = b""
) -> tuple[StreamChannel, FakeStream, Sink]:
    sink, stream = Sink(), FakeStream()
    runtime = current_backend().runtime()
    channel = StreamChannel(sink, stream, runtime, max_messages, max_bytes, leading=leading)
    return channel, stream, sink


@pytest.mark.anyio
async def test_stream_channel_feeds_the_leading_bytes_before_the_stream() -> None:
    channel, stream, sink = stream_channel(leading=b"with the 101")
    stream.push(b"after")
    await _settle()
    assert sink.received == [b"with the 101", b"after"]
    channel.abort()


@pytest.mark.anyio
async def test_stream_channel_sends_frames_queued_meanwhile_in_one_write() -> None:
    channel, stream, _ = stream_channel()
    for data in (b"a", b"b", b"c"):
        channel.write(data)
    await _settle()
    assert stream.sent == [b"abc"]
    channel.abort()


@pytest.mark.anyio
async def test_stream_channel_bounds_queued_messages() -> None:
    channel, _stream, sink = stream_channel(max_messages=2)
    channel.write(b"1")
    channel.write(b"2")
    assert not channel.can_write()
    await _settle()
    assert channel.can_write() and sink.writable_calls >= 1
    channel.abort()


@pytest.mark.anyio
async def test_stream_channel_peer_eof_reports_a_clean_loss_once() -> None:
    channel, stream, sink = stream_channel()
    stream.push(b"")
    await _settle()
    assert sink.lost == [None]
    await channel.wait_closed()
    assert stream.closed


@pytest.mark.anyio
async def test_stream_channel_close_flushes_then_closes_the_stream() -> None:
    channel, stream, sink = stream_channel()
    channel.write(b"close frame")
    channel.close()
    await channel.wait_closed()
    assert stream.sent == [b"close frame"]
    assert stream.closed
    assert sink.lost == [None]
