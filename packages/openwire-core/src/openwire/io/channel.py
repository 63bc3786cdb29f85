"""Moving bytes between the upgraded connection and the session.

The session is driven like an asyncio protocol: the channel calls
``session.data_received(bytes)`` / ``session.connection_lost(exc)``, and the
session calls ``channel.write(bytes)``, which never blocks and never splits a
frame. Two channels implement that contract:

``AsyncioChannel``
    On asyncio (over TCP or TLS, on asyncio's own loop or uvloop), the
    connection's asyncio transport is handed to a protocol of ours. Incoming
    bytes reach the codec in the transport's own callback, and writes go
    straight to ``transport.write``: no task, no hop on either path. This is
    where most of the speed over httpx-ws comes from.

``StreamChannel``
    Everywhere else (trio, any other httpcore stream): a reader task and
    a writer task over the stream httpcore handed back after the 101. The
    writer coalesces every frame queued since its last write into one send.

Both bound what is queued for sending (``send_queue_size`` messages and
``send_queue_bytes``) and pause reading when the session asks (a slow
consumer), so memory stays bounded in both directions.

The peer's EOF ends only its half of the connection. Everything that came
before it has been fed to the session, which has written what it owes (the
Close that answers the peer's, RFC 6455 §5.5.1, or the one that reports a
protocol error); the channel sends that and then closes. A transport closed
on EOF would drop those frames. Over TLS asyncio (and uvloop) cannot keep a
half-closed connection: the TLS layer flushes what was written before the
EOF was processed and closes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

import anyio

from openwire.io.anyio_stream import ClosesOnFailedTLS
from openwire.io.asyncio_stream import AsyncioStream
from openwire.io.runtime import AsyncioRuntime, Handle, Runtime, Waiter

if TYPE_CHECKING:
    import httpcore

__all__ = ["Channel", "ChannelSink", "open_channel"]

_READ_SIZE = 256 * 1024
# Frames smaller than this that are written in the same loop turn are sent
# together: one syscall instead of one per frame when sends are pipelined.
_COALESCE_LIMIT = 64 * 1024


class ChannelSink(Protocol):
    """What a channel feeds: the session."""

    def data_received(self, data: bytes) -> None: ...
    def connection_lost(self, exc: BaseException | None) -> None: ...
    def writable(self) -> None:
        """Queued output drained below the bounds."""
        ...


class Channel(Protocol):
    def write(self, data: bytes) -> None: ...
    def can_write(self) -> bool: ...
    async def wait_writable(self) -> None: ...
    def pause_reading(self) -> None: ...
    def resume_reading(self) -> None: ...
    def close(self, linger: float = 0.0) -> None:
        """Flush what is queued, then close; wait up to ``linger`` s for the peer to close first."""
        ...

    def abort(self) -> None:
        """Drop the connection now, discarding queued bytes."""
        ...

    async def wait_closed(self) -> None:
        """Return once the connection is closed and its resources released."""
        ...


class _Waiters:
    """Tasks waiting for one condition; woken all at once, each re-checks."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._waiters: list[Waiter] = []

    async def wait(self) -> None:
        waiter = self._runtime.waiter()
        self._waiters.append(waiter)
        try:
            await waiter.wait()
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)

    def wake_all(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            waiter.wake()


# ------------------------------------------------------------------- asyncio


class AsyncioChannel(asyncio.Protocol):
    """A protocol on the raw asyncio transport: zero task hops per message.

    The send queue is the transport's buffer, bounded by ``max_bytes`` (its
    high-water mark); asyncio does not say when individual frames leave it,
    so the message count bound does not apply here.
    """

    def __init__(
        self,
        sink: ChannelSink,
        transport: asyncio.Transport,
        runtime: AsyncioRuntime,
        max_bytes: int,
    ) -> None:
        self._sink = sink
        self._runtime = runtime
        self._transport = transport
        self._writable = _Waiters(runtime)
        self._closed = _Waiters(runtime)
        self._write_paused = False
        self._lost = False
        self._linger: asyncio.TimerHandle | None = None
        # Frames written during one turn of the event loop leave in one send.
        self._pending: list[bytes] | None = None
        self._pending_bytes = 0
        self._streak = 0  # writes since the last read
        self._loop = runtime.loop
        # Until start(), bytes and the end of the connection are held here.
        self._early: list[bytes] | None = []
        self._early_end: tuple[Exception | None] | None = None
        self._early_eof = False
        # The transport comes paused (see AsyncioStream.take_transport); it
        # reads once start() has delivered the held bytes, unless the
        # session asked for a pause meanwhile.
        self._want_reading = True
        self._tls = transport.get_extra_info("sslcontext") is not None
        transport.set_write_buffer_limits(high=max_bytes)

    # asyncio.Protocol
    def data_received(self, data: bytes) -> None:
        self._streak = 0
        if self._early is not None:
            self._early.append(data)  # before start(): keep the order
            return
        self._sink.data_received(data)

    def eof_received(self) -> bool | None:
        if self._tls:
            return None  # asyncio's TLS layer closes regardless (and warns on True)
        if self._early is not None:
            self._early_eof = True  # start() ends the connection after the held bytes
        else:
            self._end_after_eof()
        return True  # our half stays open until what we owe the peer is sent

    def _end_after_eof(self) -> None:
        """The peer sent all it will: send what the session wrote, then close."""
        self._flush()
        self._transport.close()  # flushes the buffer; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        if self._early is not None:
            self._early_end = (exc,)
            return
        self._lost = True
        if self._linger is not None:
            self._linger.cancel()
        self._writable.wake_all()
        self._closed.wake_all()
        self._sink.connection_lost(exc)

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        self._writable.wake_all()
        self._sink.writable()

    # Channel
    def write(self, data: bytes) -> None:
        pending = self._pending
        if pending is not None:
            pending.append(data)
            self._pending_bytes += len(data)
            if self._pending_bytes >= _COALESCE_LIMIT:
                self._flush()
            return
        # A request/response rhythm (one frame, then a read) goes out at once:
        # deferring it would cost an extra loop turn per message. Only a run of
        # writes with no read in between (pipelining, streaming) is coalesced.
        self._streak += 1
        if self._streak < 2 or len(data) >= _COALESCE_LIMIT:
            self._transport.write(data)
            return
        self._pending = [data]
        self._pending_bytes = len(data)
        self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        pending = self._pending
        if pending is None:
            return
        self._pending = None
        if not self._lost:
            self._transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def can_write(self) -> bool:
        return not self._write_paused or self._lost

    async def wait_writable(self) -> None:
        if not self.can_write():
            await self._writable.wait()

    def start(self, pending: bytes, ended: bool) -> None:
        """Deliver, in order, what arrived before the session was attached.

        ``pending`` came before this channel owned the transport; anything
        the transport delivered since was held back in ``_early``.
        """
        early, self._early = self._early or [], None
        closed_before = self._transport.is_closing()
        if pending:
            self.data_received(pending)
        for data in early:
            self.data_received(data)
        if self._early_end is not None:
            self.connection_lost(self._early_end[0])
        elif self._lost:
            pass
        elif closed_before:
            # Closed before the hand-over: its connection_lost may have gone
            # to the stream's protocol, so nobody else would report it.
            self.connection_lost(None)
        elif ended or self._early_eof:
            self._end_after_eof()
        elif self._want_reading:
            self._resume()

    def pause_reading(self) -> None:
        self._want_reading = False
        with contextlib.suppress(RuntimeError):
            self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._want_reading = True
        if self._early is None:  # before start(), the held bytes go first
            self._resume()

    def _resume(self) -> None:
        with contextlib.suppress(RuntimeError):
            self._transport.resume_reading()

    def close(self, linger: float = 0.0) -> None:
        if self._lost:
            return
        self._flush()
        if linger > 0 and self._linger is None:
            # Keep reading so the peer's EOF is seen; close if it never comes.
            self.resume_reading()
            self._linger = self._runtime.loop.call_later(linger, self._transport.close)
        else:
            self._transport.close()

    def abort(self) -> None:
        self._pending = None
        self._transport.abort()

    async def wait_closed(self) -> None:
        if not self._lost:
            await self._closed.wait()


# --------------------------------------------------------------- any stream


class StreamChannel:
    """Reader and writer tasks over an httpcore network stream (any backend).

    The writer sends everything queued since its last send in one write; the
    bound counts queued frames plus the bytes of the send in progress.
    """

    def __init__(
        self,
        sink: ChannelSink,
        stream: httpcore.AsyncNetworkStream,
        runtime: Runtime,
        max_messages: int,
        max_bytes: int,
        leading: bytes = b"",
        read: Callable[[int], Awaitable[bytes]] | None = None,
        send: Callable[[bytes], Awaitable[None]] | None = None,
    ) -> None:
        self._sink = sink
        self._stream = stream
        self._runtime = runtime
        self._read = read or (lambda n: stream.read(n))
        self._send = send or (lambda data: stream.write(data))
        self._max_messages = max_messages
        self._max_bytes = max_bytes
        self._out: list[bytes] = []
        self._out_bytes = 0
        self._in_flight = 0
        self._writable = _Waiters(runtime)
        self._closed = _Waiters(runtime)
        self._writer_waiter: Waiter | None = None
        self._resume: Waiter | None = None
        self._eof: Waiter | None = None
        self._paused = False
        self._closing = False
        self._linger = 0.0
        self._dead = False
        self._saw_eof = False
        self._released = False
        self._closing_stream = False
        self._leading = leading
        self._reader: Handle = runtime.spawn(self._read_loop, "openwire-ws-reader")
        self._writer: Handle = runtime.spawn(self._write_loop, "openwire-ws-writer")

    async def _read_loop(self) -> None:
        exc: BaseException | None = None
        try:
            if self._leading:
                data, self._leading = self._leading, b""
                self._sink.data_received(data)
            while not self._dead:
                if self._paused:
                    self._resume = self._runtime.waiter()
                    await self._resume.wait()
                    continue
                data = await self._read(_READ_SIZE)
                if not data:
                    break
                self._sink.data_received(data)
        except Exception as error:
            exc = error
        self._saw_eof = True
        if self._eof is not None:
            self._eof.wake()
        if not self._closing:
            self._finish(exc)

    async def _write_loop(self) -> None:
        try:
            while True:
                if not self._out:
                    if self._closing or self._dead:
                        break
                    self._writer_waiter = self._runtime.waiter()
                    await self._writer_waiter.wait()
                    continue
                data = b"".join(self._out) if len(self._out) > 1 else self._out[0]
                self._out = []
                self._out_bytes = 0
                self._in_flight = len(data)
                await self._send(data)
                self._in_flight = 0
                if self.can_write():
                    self._writable.wake_all()
                    self._sink.writable()
            if self._closing and self._linger > 0 and not self._saw_eof:
                # RFC 6455 §7.1.1: the server closes TCP first; give it time.
                self._eof = self._runtime.waiter()
                with anyio.move_on_after(self._linger):
                    await self._eof.wait()
        except Exception as error:
            self._finish(error)
            return
        self._finish(None)
        await self._aclose()

    async def _aclose(self) -> None:
        if self._closing_stream:
            return
        self._closing_stream = True
        try:
            # Shielded: an abort (which cancels the writer) must not leave
            # the socket half-closed and wait_closed() waiting forever.
            with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
                await self._stream.aclose()
        finally:
            self._released = True
            self._closed.wake_all()

    def _finish(self, exc: BaseException | None) -> None:
        if self._dead:
            return
        self._dead = True
        self._writable.wake_all()
        self._reader.cancel()
        if exc is not None or not self._closing:
            self._writer.cancel()
            self._runtime.spawn(self._aclose, "openwire-ws-close")
        self._sink.connection_lost(exc)

    # Channel
    def write(self, data: bytes) -> None:
        if self._dead or self._closing:
            return
        self._out.append(data)
        self._out_bytes += len(data)
        waiter = self._writer_waiter
        if waiter is not None:
            self._writer_waiter = None
            waiter.wake()

    def can_write(self) -> bool:
        return self._dead or (
            len(self._out) < self._max_messages
            and self._out_bytes + self._in_flight < self._max_bytes
        )

    async def wait_writable(self) -> None:
        if not self.can_write():
            await self._writable.wait()

    def pause_reading(self) -> None:
        self._paused = True

    def resume_reading(self) -> None:
        self._paused = False
        waiter = self._resume
        if waiter is not None:
            self._resume = None
            waiter.wake()

    def close(self, linger: float = 0.0) -> None:
        if self._closing or self._dead:
            return
        self._closing = True
        self._linger = linger
        self.resume_reading()
        waiter = self._writer_waiter
        if waiter is not None:
            self._writer_waiter = None
            waiter.wake()

    def abort(self) -> None:
        self._out = []
        if not self._closing_stream:
            self._writer.cancel()
            self._reader.cancel()
            self._runtime.spawn(self._aclose, "openwire-ws-abort")
        self._finish(None)

    async def wait_closed(self) -> None:
        if not self._released:
            await self._closed.wait()


# ------------------------------------------------------------------ choosing


def _anyio_stream(stream: Any) -> Any:
    """The anyio stream inside httpcore's stream, or ``None`` if it is something else."""
    try:
        from httpcore._backends.anyio import AnyIOStream
    except ImportError:  # pragma: no cover - httpcore moved its internals
        return None
    if isinstance(stream, ClosesOnFailedTLS):  # a plain ws:// connection on trio
        stream = stream.inner
    return stream._stream if isinstance(stream, AnyIOStream) else None


def open_channel(
    sink: ChannelSink,
    network_stream: httpcore.AsyncNetworkStream,
    runtime: Runtime,
    *,
    leading: bytes,
    max_messages: int,
    max_bytes: int,
) -> Channel:
    """Pick the fastest channel that can carry this connection.

    ``network_stream`` is the socket after the 101 (owned from now on) and
    ``leading`` the bytes that arrived with the 101.
    """
    if isinstance(network_stream, AsyncioStream) and isinstance(runtime, AsyncioRuntime):
        # From here the transport is ours; the stream's protocol and buffer
        # are dropped with this frame.
        transport, buffered, ended = network_stream.take_transport()
        channel = AsyncioChannel(sink, transport, runtime, max_bytes)
        transport.set_protocol(channel)
        runtime.loop.call_soon(channel.start, leading + buffered, ended)
        return channel
    inner = _anyio_stream(network_stream)
    if inner is None:
        return StreamChannel(
            sink, network_stream, runtime, max_messages, max_bytes, leading=leading
        )

    async def receive(n: int) -> bytes:
        try:
            return bytes(await inner.receive(n))
        except anyio.EndOfStream:
            return b""

    return StreamChannel(
        sink,
        network_stream,
        runtime,
        max_messages,
        max_bytes,
        leading=leading,
        read=receive,
        send=inner.send,
    )
