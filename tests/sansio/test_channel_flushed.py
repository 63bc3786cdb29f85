"""What each channel reports as flushed, and when it calls back for a flush mark.

The heartbeat starts its pong deadline from these (see ``test_heartbeat_stall``).
"""

from __future__ import annotations

import anyio
import anyio.lowlevel
import pytest
from openwire.io import channel as channel_module
from openwire.io.asyncio_backend import AsyncioChannel
from openwire.io.backend import current_backend
from openwire.io.channel import StreamChannel

from tests.sansio.fakes import FakeRuntime
from tests.sansio.test_channels import FakeStream, FakeTransport, Sink


class BufferingTransport(FakeTransport):
    """Keeps what is written until the test lets the kernel take it."""

    def __init__(self) -> None:
        super().__init__()
        self.buffered = 0

    def write(self, data: bytes) -> None:
        super().write(data)
        self.buffered += len(data)

    def get_write_buffer_size(self) -> int:
        return self.buffered


def test_asyncio_channel_counts_what_is_held_by_it_and_by_the_transport() -> None:
    sink, transport, runtime = Sink(), BufferingTransport(), FakeRuntime()
    channel = AsyncioChannel(sink, transport, runtime, max_bytes=1 << 20)  # type: ignore[arg-type]
    channel.start(b"", False)
    channel.write(b"a" * 100)  # to the transport at once
    channel.write(b"b" * 10)  # coalesced until the next loop turn
    assert (channel.write_mark(), channel.flushed()) == (110, 0)
    transport.buffered = 40  # the kernel took 60
    assert channel.flushed() == 60
    runtime.run_soon()  # the coalesced write reaches the transport
    assert transport.buffered == 50 and channel.flushed() == 60


def test_asyncio_channel_calls_back_once_the_mark_has_left_polling_meanwhile() -> None:
    sink, transport, runtime = Sink(), BufferingTransport(), FakeRuntime()
    channel = AsyncioChannel(sink, transport, runtime, max_bytes=1 << 20)  # type: ignore[arg-type]
    channel.start(b"", False)
    channel.write(b"x" * 1000)
    called: list[float] = []
    channel.call_when_flushed(1000, lambda: called.append(runtime.now))
    runtime.run_soon()
    assert called == []
    runtime.advance(0.5)
    transport.buffered = 1  # one byte short
    runtime.advance(0.5)
    assert called == []
    transport.buffered = 0
    runtime.advance(0.02)  # the poll backs off to at most 20 ms
    assert called and called[0] <= 1.02
    assert runtime.pending() == [], "polling stops once no mark waits"


def test_asyncio_channel_forgets_marks_when_the_connection_is_lost() -> None:
    sink, transport, runtime = Sink(), BufferingTransport(), FakeRuntime()
    channel = AsyncioChannel(sink, transport, runtime, max_bytes=1 << 20)  # type: ignore[arg-type]
    channel.start(b"", False)
    channel.write(b"x" * 10)
    called: list[bool] = []
    channel.call_when_flushed(10, lambda: called.append(True))
    channel.connection_lost(None)
    transport.buffered = 0
    runtime.run_soon()
    runtime.advance(1.0)
    assert called == []


class GatedStream(FakeStream):
    """Each write waits until the test opens the gate for it."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = anyio.Semaphore(0)

    async def write(self, buffer: bytes) -> None:
        await self.gate.acquire()
        self.sent.append(bytes(buffer))


async def _settle() -> None:
    for _ in range(20):
        await anyio.lowlevel.checkpoint()


@pytest.mark.anyio
async def test_stream_channel_reports_a_large_write_slice_by_slice() -> None:
    sink, stream = Sink(), GatedStream()
    channel = StreamChannel(sink, stream, current_backend().runtime(), 32, 1 << 30)
    piece = channel_module._SEND_SLICE
    channel.write(b"m" * (3 * piece))
    channel.write(b"ping")
    await _settle()
    mark = channel.write_mark()
    called: list[int] = []
    channel.call_when_flushed(mark, lambda: called.append(channel.flushed()))
    assert channel.flushed() == 0
    stream.gate.release()
    await _settle()
    assert channel.flushed() == piece and called == []
    for _ in range(3):
        stream.gate.release()
        await _settle()
    assert channel.flushed() == mark and called == [mark]
    assert b"".join(stream.sent) == b"m" * (3 * piece) + b"ping"
    channel.abort()
