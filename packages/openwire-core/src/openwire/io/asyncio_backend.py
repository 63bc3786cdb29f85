"""The asyncio backend (uvloop included): stream, connect, runtime and channel in one place.

This module is the whole asyncio fast path, from the TCP connect to the last
WebSocket frame:

- :func:`connect_tcp` opens a plain protocol (:class:`AsyncioStream`) on the
  loop's transport. httpcore and the upgrade connector use it as their
  network stream: reads wait on one future, timeouts are one timer, where
  httpcore's anyio stream spends a cancel scope per read and write (most of
  the CPU of a WebSocket handshake).
- After a ``101``, :meth:`AsyncioBackend.open_channel` takes the transport
  out of that stream and sets :class:`AsyncioChannel` as its protocol:
  incoming bytes reach the session in the transport's own callback and
  writes go straight to ``transport.write``. No task and no hop per message
  on either path; this is where most of the speed over httpx-ws comes from.
- :class:`AsyncioRuntime` gives the session futures as waiters and
  ``loop.call_later`` as timers.

Rules:

- Nothing here depends on a transport's class, only on the documented
  ``asyncio.Transport`` interface: uvloop's transports are not subclasses of
  asyncio's, and uvloop is a first-class loop.
- A peer's EOF closes only its half of a plain TCP connection
  (``eof_received`` keeps the transport open): the WebSocket that takes the
  transport over may still owe the peer a Close frame (RFC 6455 §5.5.1), for
  example when a server sends ``101``, Close and FIN in one burst. Whoever
  owns the stream closes it. TLS cannot be half-closed in asyncio (its TLS
  layer ignores the answer and closes after flushing what was written).
- A connection that is not an :class:`AsyncioStream` (one opened by
  httpcore's own backend, a future HTTP/2 stream) is carried by the
  generic :class:`~openwire.io.channel.StreamChannel`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ssl
import weakref
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, cast

import httpcore

from openwire import _compat
from openwire.io.channel import Channel, ChannelSink, StreamChannel
from openwire.io.handover import Detached
from openwire.io.runtime import Handle, Runtime, Waiter, Waiters, guarded

__all__ = [
    "AsyncioBackend",
    "AsyncioChannel",
    "AsyncioRuntime",
    "AsyncioStream",
    "connect_tcp",
]

# -------------------------------------------------------------------- stream

# Longer than any sensible timeout: "no limit" where asyncio wants a number.
_NO_LIMIT = 365 * 24 * 3600.0
# Reading pauses once this much is buffered and nobody reads it.
_HIGH_WATER = 256 * 1024


class _StreamProtocol(asyncio.Protocol):
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.eof = False
        self.error: Exception | None = None
        self.read_waiter: asyncio.Future[None] | None = None
        self.drain_waiter: asyncio.Future[None] | None = None
        self.write_paused = False
        self.read_paused = False
        self.tls = False
        self.closed_here = False  # aclose() was called: an end of data is ours, not the peer's

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._wake_reader()
        if len(self.buffer) > _HIGH_WATER and not self.read_paused and self.transport is not None:
            self.read_paused = True
            self.transport.pause_reading()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake_reader()
        # Keep our sending half open (see the module's rules); asyncio's TLS
        # layer would log a warning for True and close anyway.
        return not self.tls

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self.error = exc
        self._wake_reader()
        waiter, self.drain_waiter = self.drain_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        waiter, self.drain_waiter = self.drain_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _wake_reader(self) -> None:
        waiter, self.read_waiter = self.read_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


async def _wait(
    loop: asyncio.AbstractEventLoop, waiter: asyncio.Future[None], timeout: float | None
) -> None:
    """One future and, if bounded, one timer: the whole cost of a timed wait."""
    if timeout is None:
        await waiter
        return
    timer = loop.call_later(timeout, _expire, waiter)
    try:
        await waiter
    finally:
        timer.cancel()


class AsyncioStream(httpcore.AsyncNetworkStream):
    """An httpcore network stream over an asyncio transport."""

    def __init__(self, transport: asyncio.Transport, protocol: _StreamProtocol) -> None:
        self._transport = transport
        self._protocol = protocol

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        protocol = self._protocol
        if not protocol.buffer:
            if protocol.eof or protocol.closed_here:
                if protocol.error is not None:
                    raise httpcore.ReadError(str(protocol.error) or repr(protocol.error))
                if protocol.closed_here:
                    # Not the server ending the response: this side closed the
                    # connection (the response or the client was closed).
                    raise httpcore.ReadError("the connection was closed on this side")
                return b""
            waiter = protocol.read_waiter = protocol.loop.create_future()
            try:
                await _wait(protocol.loop, waiter, timeout)
            except TimeoutError:
                raise httpcore.ReadTimeout(f"no data within {timeout}s") from None
            finally:
                protocol.read_waiter = None
            return await self.read(max_bytes, timeout)
        data = bytes(protocol.buffer[:max_bytes])
        del protocol.buffer[:max_bytes]
        if protocol.read_paused and len(protocol.buffer) < _HIGH_WATER // 4:
            protocol.read_paused = False
            self._transport.resume_reading()
        return data

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        protocol = self._protocol
        if self._transport.is_closing():
            raise httpcore.WriteError("the connection is closed")
        self._transport.write(buffer)
        if protocol.write_paused:
            waiter = protocol.drain_waiter = protocol.loop.create_future()
            try:
                await _wait(protocol.loop, waiter, timeout)
            except TimeoutError:
                raise httpcore.WriteTimeout(f"the peer read nothing for {timeout}s") from None
        if protocol.error is not None:
            raise httpcore.WriteError(str(protocol.error) or repr(protocol.error))

    async def aclose(self) -> None:
        """Close now, without waiting on the peer.

        ``close()`` alone waits for the write buffer to drain, and on TLS for
        the peer's ``close_notify``: a peer that stopped reading (a write
        timeout) or never answers would keep the socket open until the loop
        closes. The stream is closed because its exchange is over or failed,
        so what is still unsent is no longer wanted: ``close()`` hands the
        ``close_notify`` to the socket when it can, and ``abort()`` then
        releases the socket at once (a no-op when ``close()`` already did).
        """
        self._protocol.closed_here = True
        self._transport.close()
        self._transport.abort()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = self._protocol.loop
        try:
            # Our own timer: asyncio's ssl_handshake_timeout fails with
            # ConnectionAbortedError (indistinguishable from a broken
            # handshake) and cannot be disabled (None means 60 s).
            async with asyncio.timeout(timeout):
                transport = await loop.start_tls(
                    self._transport,
                    self._protocol,
                    ssl_context,
                    server_hostname=server_hostname,
                    ssl_handshake_timeout=_NO_LIMIT,
                )
        except TimeoutError as exc:
            self._transport.abort()
            raise httpcore.ConnectTimeout(f"the TLS handshake took over {timeout}s") from exc
        except (OSError, ssl.SSLError, ConnectionError) as exc:
            self._transport.abort()
            raise httpcore.ConnectError(str(exc) or repr(exc)) from exc
        if transport is None:  # the connection was lost during the handshake
            raise httpcore.ConnectError("the connection closed during the TLS handshake")
        self._protocol.transport = transport
        self._protocol.tls = True
        return AsyncioStream(transport, self._protocol)

    def get_extra_info(self, info: str) -> Any:
        transport = self._transport
        if info == "ssl_object":
            return transport.get_extra_info("ssl_object")
        if info == "client_addr":
            return transport.get_extra_info("sockname")
        if info == "server_addr":
            return transport.get_extra_info("peername")
        if info == "socket":
            return transport.get_extra_info("socket")
        if info == "is_readable":
            # httpcore asks before reusing a pooled connection: readable while
            # idle means the server closed it (or sent something unasked).
            return bool(self._protocol.buffer) or self._protocol.eof
        return None

    def take_transport(self) -> tuple[asyncio.Transport, bytes, bool]:
        """``(transport, bytes buffered so far, whether the peer already ended)``.

        "Ended" is the peer's EOF on a transport that is still open for our
        writes, or a transport that is already closing.

        The caller sets its own protocol on the transport right away (before
        yielding to the loop), so no byte can be delivered to this stream
        after the buffer was taken. This stream is dead after.

        Reading is left as it is (paused only if this stream's buffer was
        full): the new owner bounds what arrives before it is ready, pausing
        then, and resumes reading when it is (AsyncioChannel). Pausing here on
        every hand-over would cost two selector changes per connection for
        bytes that rarely come.
        """
        protocol = self._protocol
        pending = bytes(protocol.buffer)
        protocol.buffer.clear()
        # A closing transport may have sent its connection_lost to our
        # protocol already (asyncio's TLS layer picks the protocol when it
        # schedules the call): report it as ended, or nobody would hear of it.
        transport = self._transport
        return transport, pending, protocol.eof or transport.is_closing()


async def connect_tcp(
    host: str,
    port: int,
    timeout: float | None,
    socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
) -> AsyncioStream:
    """Connect to one resolved address, raising httpcore's connect errors."""
    loop = asyncio.get_running_loop()
    try:
        if timeout is None:
            # No timer to arm (a WebSocket handshake's own deadline may cover
            # the connect): not even asyncio.timeout's bookkeeping.
            transport, protocol = await loop.create_connection(
                lambda: _StreamProtocol(loop), host, port
            )
        else:
            async with asyncio.timeout(timeout):
                transport, protocol = await loop.create_connection(
                    lambda: _StreamProtocol(loop), host, port
                )
    except TimeoutError as exc:
        raise httpcore.ConnectTimeout(f"connecting to {host}:{port} timed out") from exc
    except OSError as exc:
        raise httpcore.ConnectError(str(exc) or repr(exc)) from exc
    # asyncio already sets TCP_NODELAY on TCP sockets.
    sock = transport.get_extra_info("socket")
    for option in socket_options or ():
        sock.setsockopt(*option)
    return AsyncioStream(transport, protocol)


# ------------------------------------------------------------------- runtime


class _AsyncioWaiter:
    __slots__ = ("_future",)

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._future: asyncio.Future[None] = loop.create_future()

    def wake(self) -> None:
        if not self._future.done():
            self._future.set_result(None)

    def wait(self) -> Awaitable[None]:
        return self._future


class AsyncioRuntime:
    """The runtime on the running asyncio loop; keeps its detached tasks alive.

    One per loop while any connection uses it (see :meth:`AsyncioBackend.runtime`).
    """

    __slots__ = ("__weakref__", "_tasks", "loop", "time", "waiter")
    backend = "asyncio"

    def __init__(self) -> None:
        self.loop = loop = asyncio.get_running_loop()
        # Made on the first spawn: an idle connection on asyncio has no task.
        self._tasks: set[asyncio.Task[None]] | None = None
        # The loop's clock itself, not a method calling it: a session reads
        # it for every message it receives.
        self.time: Callable[[], float] = loop.time
        # A receive waits on one of these per message it has to wait for.
        self.waiter: Callable[[], Waiter] = functools.partial(_AsyncioWaiter, loop)

    def spawn(self, fn: Callable[[], Awaitable[None]], name: str) -> Handle:
        task = self.loop.create_task(guarded(fn, name, asyncio.CancelledError), name=name)
        # The loop keeps only weak references to tasks.
        tasks = self._tasks
        if tasks is None:
            tasks = self._tasks = set()
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return task

    def call_later(self, delay: float, fn: Callable[[], None]) -> Handle:
        return self.loop.call_later(delay, fn)

    def call_soon_threadsafe(self, fn: Callable[[], None]) -> None:
        with contextlib.suppress(RuntimeError):  # loop already closed
            self.loop.call_soon_threadsafe(fn)

    def fail_after(self, delay: float | None) -> contextlib.AbstractAsyncContextManager[object]:
        # A timer and a task.cancel(): a fraction of a cancel scope's cost.
        return asyncio.timeout(delay)


# ------------------------------------------------------------------- channel

# Frames smaller than this that are written in the same loop turn are sent
# together: one syscall instead of one per frame when sends are pipelined.
_COALESCE_LIMIT = 64 * 1024
# How often, at most, a waiting flush mark is checked (see AsyncioChannel).
_POLL_FIRST = 0.001
_POLL_MAX = 0.02


# asyncio's TLS receive buffer after the upgrade: two full TLS records.
_TLS_READ_BUFFER = 34 * 1024


class AsyncioChannel(asyncio.Protocol):
    """A protocol on the raw asyncio transport: zero task hops per message.

    The send queue is the transport's buffer, bounded by ``max_bytes`` (its
    high-water mark); asyncio does not say when individual frames leave it,
    so the message count bound does not apply here.

    ``flushed`` is what was written minus what the transport still holds
    (``get_write_buffer_size``, a documented method on asyncio's and
    uvloop's transports alike). Over TLS the TLS layer hands what it holds to
    the socket's transport below it whenever that one is not paused, so on
    asyncio's own loop that transport's buffer is added in (found through
    :func:`openwire._compat.tls_inner_transport`; its bytes are ciphertext,
    a few bytes per 16 KiB record more than we wrote, so a mark is seen a
    little late, never early). uvloop hides it: there only the TLS layer's
    buffer counts, and a large write handed down at once shows no progress
    until the socket has sent most of it.

    asyncio has no callback for "the buffer drained below N", so
    ``call_when_flushed`` polls while (and only while) a mark waits: on the
    next loop turn, then every 1 ms doubling up to ``_POLL_MAX`` (a mark is
    seen at most that late, never early).
    """

    # Slots: one of these per connection, and a dict of 40+ attributes costs ~1.5 KiB.
    __slots__ = (
        "__weakref__",
        "_below_tls",
        "_closed",
        "_early",
        "_early_end",
        "_early_eof",
        "_linger",
        "_loop",
        "_lost",
        "_marks",
        "_pending",
        "_pending_bytes",
        "_poll_delay",
        "_polling",
        "_runtime",
        "_sink",
        "_streak",
        "_tls",
        "_transport",
        "_want_reading",
        "_writable",
        "_write_paused",
        "_written",
    )

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
        self._writable = Waiters(runtime)
        self._closed = Waiters(runtime)
        self._write_paused = False
        self._lost = False
        self._linger: asyncio.TimerHandle | None = None
        # Frames written during one turn of the event loop leave in one send.
        self._pending: list[bytes] | None = None
        self._pending_bytes = 0
        self._written = 0
        self._marks: list[tuple[int, Callable[[], None]]] | None = None
        self._poll_delay = 0.0
        self._polling = False
        self._streak = 0  # writes since the last read
        self._loop = runtime.loop
        # Until start(), bytes and the end of the connection are held here.
        self._early: list[bytes] | None = []
        self._early_end: tuple[Exception | None] | None = None
        self._early_eof = False
        # The transport may come paused, or be paused before start() (see
        # data_received); start() resumes it once it has delivered the held
        # bytes, unless the session asked for a pause meanwhile.
        self._want_reading = True
        self._tls = transport.get_extra_info("sslcontext") is not None
        self._below_tls = _compat.tls_inner_transport(transport) if self._tls else None
        if self._tls:
            # 256 KiB per connection by default, most of an idle wss connection's memory.
            _compat.shrink_tls_read_buffer(transport, _TLS_READ_BUFFER)
        transport.set_write_buffer_limits(high=max_bytes)

    # asyncio.Protocol
    def data_received(self, data: bytes) -> None:
        self._streak = 0
        early = self._early
        if early is not None:
            early.append(data)  # before start(): keep the order
            # A loop that reads many times per turn (uvloop) could pile
            # megabytes here before start(): stop reading past the bound;
            # start() resumes.
            if sum(map(len, early)) > _HIGH_WATER:
                with contextlib.suppress(RuntimeError):  # a closing transport
                    self._transport.pause_reading()
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
        self._written += len(data)
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

    def write_mark(self) -> int:
        return self._written

    def flushed(self) -> int:
        held = self._pending_bytes if self._pending is not None else 0
        held += self._transport.get_write_buffer_size()
        if self._below_tls is not None:
            held += self._below_tls.get_write_buffer_size()
        return self._written - held

    def call_when_flushed(self, mark: int, fn: Callable[[], None]) -> None:
        if self._lost:
            return
        if self._marks is None:
            self._marks = []
        self._marks.append((mark, fn))
        if not self._polling:
            self._polling = True
            self._poll_delay = 0.0
            self._loop.call_soon(self._poll_marks)

    def _poll_marks(self) -> None:
        marks = self._marks or []
        if self._lost:
            self._marks = None
            self._polling = False
            return
        flushed = self.flushed()
        due = [fn for mark, fn in marks if mark <= flushed]
        if due:
            self._marks = [(mark, fn) for mark, fn in marks if mark > flushed]
            for fn in due:
                fn()
        if self._marks:
            self._poll_delay = min(max(self._poll_delay * 2, _POLL_FIRST), _POLL_MAX)
            self._loop.call_later(self._poll_delay, self._poll_marks)
        else:
            self._polling = False

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


# ------------------------------------------------------------------- backend

_RUNTIMES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, weakref.ref[AsyncioRuntime]] = (
    weakref.WeakKeyDictionary()
)


class AsyncioBackend:
    """asyncio and uvloop: see the module's rules."""

    name = "asyncio"

    def runtime(self) -> Runtime:
        """The running loop's runtime, shared by the connections on it.

        A runtime is ~300 bytes (its loop's clock and a waiter factory), paid
        per connection if each had its own. Held weakly on both sides: the
        loop does not keep it, and it does not keep a finished loop.
        """
        loop = asyncio.get_running_loop()
        ref = _RUNTIMES.get(loop)
        found = ref() if ref is not None else None
        if found is None:
            found = AsyncioRuntime()
            _RUNTIMES[loop] = weakref.ref(found)
        return found

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return await connect_tcp(host, port, timeout, socket_options)

    def open_channel(
        self,
        sink: ChannelSink,
        detached: Detached,
        runtime: Runtime,
        *,
        max_messages: int,
        max_bytes: int,
    ) -> Channel:
        if detached.open_channel is not None:
            made: Channel = detached.open_channel(sink, runtime, max_bytes)
            return made
        stream = detached.stream
        if isinstance(stream, AsyncioStream) and isinstance(runtime, AsyncioRuntime):
            # From here the transport is ours; the stream's protocol and buffer
            # are dropped with this frame.
            transport, buffered, ended = stream.take_transport()
            channel = AsyncioChannel(sink, transport, runtime, max_bytes)
            transport.set_protocol(channel)
            runtime.loop.call_soon(channel.start, detached.leading + buffered, ended)
            return channel
        return StreamChannel(
            sink, stream, runtime, max_messages, max_bytes, leading=detached.leading
        )
