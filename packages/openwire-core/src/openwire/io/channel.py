"""The channel contract, and the channel that works over any byte stream.

The session is driven like an asyncio protocol: the channel calls
``session.data_received(bytes)`` / ``session.connection_lost(exc)``, and the
session calls ``channel.write(bytes)``, which never blocks and never splits a
frame. Rules every channel keeps:

- What is queued for sending is bounded (``send_queue_size`` messages and
  ``send_queue_bytes``); ``can_write`` says when the bound is reached and
  ``writable()`` on the sink when it is left again.
- Reading pauses when the session asks (a slow consumer), so memory stays
  bounded in both directions.
- The peer's EOF ends only its half of the connection. Everything that came
  before it has been fed to the session, which has written what it owes (the
  Close that answers the peer's, RFC 6455 §5.5.1, or the one that reports a
  protocol error); the channel sends that and then closes. A connection
  closed on EOF would drop those frames. Over TLS asyncio (and uvloop) cannot
  keep a half-closed connection: the TLS layer flushes what was written
  before the EOF was processed and closes.
- ``connection_lost`` reaches the sink exactly once.
- Every channel counts the bytes it was given (``write_mark``) and the bytes
  that have left its buffers for the kernel (``flushed``), and calls back
  once a mark has been flushed (``call_when_flushed``). The heartbeat needs
  it: a ping queued behind a large message has not reached the peer, so
  its pong deadline must not start yet, and a buffer that does not move at
  all means the peer stopped reading. The count is one integer addition per
  write; the callbacks cost nothing until one is registered.

Two channels implement the contract. :class:`StreamChannel`, here, runs a
reader task and a writer task over any byte stream (trio's sockets, a test's
fake stream); the writer coalesces every frame queued since its last
write into one send. :class:`~openwire.io.asyncio_backend.AsyncioChannel` is
the asyncio fast path: a protocol on the connection's own transport, no task
at all; :class:`~openwire.http2.channel.H2Channel` does the same for a stream
of an HTTP/2 connection (brought by the stream itself, see
:attr:`~openwire.io.handover.Detached.open_channel`). The backend
(:mod:`openwire.io.backend`) picks one per connection.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

import anyio

from openwire.io.runtime import Handle, Runtime, Waiter, Waiters

if TYPE_CHECKING:
    from openwire.io.handover import ByteStream

__all__ = ["Channel", "ChannelSink", "SocketReads", "StreamChannel"]

_READ_SIZE = 256 * 1024
# A send larger than this goes out in slices of it; see StreamChannel.
_SEND_SLICE = 256 * 1024
# How long an idle writer task waits for more output before ending.
_WRITER_IDLE = 1.0


class ChannelSink(Protocol):
    """What a channel feeds: the session."""

    def data_received(self, data: bytes) -> None: ...
    def connection_lost(self, exc: BaseException | None) -> None: ...
    def writable(self) -> None:
        """Queued output drained below the bounds."""
        ...


class Channel(Protocol):
    """The session's byte pipe; only ``wait_writable`` and ``wait_closed`` await."""

    def write(self, data: bytes) -> None:
        """Queue ``data`` (one or more whole frames) for sending; never blocks."""
        ...

    def can_write(self) -> bool:
        """False while the send queue is over its bounds; true again once the connection is gone."""
        ...

    async def wait_writable(self) -> None: ...
    def write_mark(self) -> int:
        """How many bytes were given to ``write`` so far (the position after the last one)."""
        ...

    def flushed(self) -> int:
        """How many of them have left our buffers: handed to the kernel (or to TLS)."""
        ...

    def call_when_flushed(self, mark: int, fn: Callable[[], None]) -> None:
        """Call ``fn`` once ``flushed() >= mark``, from the event loop, never from inside this call.

        Not called if the connection is lost first.
        """
        ...

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


class SocketReads(NamedTuple):
    """How a reader task reads a socket itself, with no stream in between (one per backend).

    An idle reader is a suspended chain of coroutines, and each one held is
    memory per connection: through a stream it is the stream's ``receive``,
    the socket wrapper's ``recv`` and its retry helper on top of the wait
    itself, and on trio a cancel scope (~700 bytes) to stop it. With these,
    the reader tries ``sock.recv`` at once, waits only when nothing is there,
    lets other tasks run after each read (trio's own ``recv`` semantics), and
    is stopped without a cancel scope: the channel marks itself dead and,
    if the reader is waiting on the socket, wakes it with ``notify_closing``
    (the socket is closed right after, as that requires).
    """

    wait_readable: Callable[[Any], Awaitable[None]]
    """Wait until the socket is readable (raises once ``notify_closing`` was called)."""
    notify_closing: Callable[[Any], None]
    """Wake a task waiting on the socket: it is about to be closed."""
    checkpoint: Callable[[], Awaitable[None]]
    """Yield to the scheduler (and see a cancellation of the whole run)."""
    spawn: Callable[[Callable[[], Awaitable[None]], str], None]
    """Start the reader detached, as ``Runtime.spawn`` would, with no handle to cancel it."""


def _recv_now(sock: Any, size: int) -> bytes | None:
    """``sock.recv(size)`` without waiting: ``None`` when nothing is there.

    A function of its own, not a ``try`` in the reader: an exception passing
    through a coroutine gives it a frame object (~200 bytes) that it keeps
    for its whole life, here the connection's.
    """
    try:
        return sock.recv(size)  # type: ignore[no-any-return]
    except BlockingIOError:
        return None


class StreamChannel:
    """Reader and writer tasks over a byte stream (any backend, any transport).

    The writer sends everything queued since its last send in one write; the
    bound counts queued frames plus the bytes of the send in progress. A
    large write is handed to the stream in slices of ``_SEND_SLICE`` bytes,
    so ``flushed`` moves while a peer reads it slowly (one ``send_all`` of
    16 MiB would show no progress until its very end).
    ``read`` and ``send`` default to the stream's own ``read``/``write``; a
    backend passes faster ones when it can reach below a wrapper.

    The writer task exists only while there is something to send: it starts
    on the first write (or close) and ends after ``_WRITER_IDLE`` seconds
    with nothing queued, so an idle connection costs one task (the reader),
    not two; a busy one keeps its writer and pays no start per message.
    With ``socket`` (a ``socket.socket`` under the stream) and ``reads``
    (:class:`SocketReads`) the reader reads that socket directly.
    """

    # Slots: one of these per connection, and a dict of 30 attributes costs ~1 KiB.
    __slots__ = (
        "_closed",
        "_closing",
        "_closing_stream",
        "_dead",
        "_eof",
        "_flushed",
        "_in_flight",
        "_leading",
        "_linger",
        "_marks",
        "_max_bytes",
        "_max_messages",
        "_out",
        "_out_bytes",
        "_paused",
        "_read",
        "_reader",
        "_reads",
        "_released",
        "_resume",
        "_runtime",
        "_saw_eof",
        "_send",
        "_sink",
        "_socket",
        "_stream",
        "_waiting",
        "_writable",
        "_writer",
        "_writer_waiter",
        "_written",
    )

    def __init__(
        self,
        sink: ChannelSink,
        stream: ByteStream,
        runtime: Runtime,
        max_messages: int,
        max_bytes: int,
        leading: bytes = b"",
        read: Callable[[int], Awaitable[bytes]] | None = None,
        send: Callable[[bytes], Awaitable[None]] | None = None,
        socket: Any = None,
        reads: SocketReads | None = None,
    ) -> None:
        self._sink = sink
        self._stream = stream
        self._runtime = runtime
        self._read = read or stream.read
        self._send = send or stream.write
        self._max_messages = max_messages
        self._max_bytes = max_bytes
        self._out: list[bytes] = []
        self._out_bytes = 0
        self._in_flight = 0
        self._written = 0
        self._flushed = 0
        self._marks: list[tuple[int, Callable[[], None]]] | None = None
        self._socket: Any = socket if reads is not None else None
        self._reads = reads
        self._waiting = False  # the reader waits on _socket (see _stop_reader)
        self._writable = Waiters(runtime)
        self._closed = Waiters(runtime)
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
        self._reader: Handle | None = None
        if reads is None:
            self._reader = runtime.spawn(self._read_loop, "openwire-ws-reader")
        else:
            reads.spawn(self._read_loop, "openwire-ws-reader")
        self._writer: Handle | None = None

    def _start_writer(self) -> None:
        if self._writer is None:
            self._writer = self._runtime.spawn(self._write_loop, "openwire-ws-writer")

    async def _read_loop(self) -> None:
        exc: BaseException | None = None
        sock, reads = self._socket, self._reads
        data: bytes | None
        waited = False
        try:
            if self._leading:
                data, self._leading = self._leading, b""
                self._sink.data_received(data)
            while not self._dead:
                if self._paused:
                    self._resume = self._runtime.waiter()
                    await self._resume.wait()
                    continue
                if reads is None:
                    data = await self._read(_READ_SIZE)
                else:
                    # On the socket itself (see SocketReads): no coroutine
                    # between this loop and the wait while idle.
                    data = _recv_now(sock, _READ_SIZE)
                    if data is None:
                        self._waiting = True
                        await reads.wait_readable(sock)
                        self._waiting = False
                        waited = True
                        continue
                if not data:
                    break
                self._sink.data_received(data)
                if reads is not None:
                    if not waited:
                        # Read without waiting: let others run, as trio's recv does.
                        await reads.checkpoint()
                    waited = False
        except Exception as error:
            exc = error
        if reads is not None and self._dead:
            return  # stopped by _stop_reader: the channel has finished already
        self._saw_eof = True
        if self._eof is not None:
            self._eof.wake()
        if not self._closing:
            self._finish(exc)

    def _stop_reader(self) -> None:
        """End the reader task; the channel is (about to be) marked dead."""
        if self._reader is not None:
            self._reader.cancel()
            return
        # A reader with no cancel scope (SocketReads): it checks _dead at its
        # next step; wake it if it waits on the socket or for a resume.
        if self._waiting and self._reads is not None:
            self._waiting = False
            self._reads.notify_closing(self._socket)
        waiter = self._resume
        if waiter is not None:
            self._resume = None
            waiter.wake()

    async def _write_loop(self) -> None:
        try:
            while True:
                if not self._out:
                    if self._closing or self._dead:
                        break
                    waiter = self._writer_waiter = self._runtime.waiter()
                    try:
                        async with self._runtime.fail_after(_WRITER_IDLE):
                            await waiter.wait()
                    except TimeoutError:
                        if self._writer_waiter is waiter and not self._out:
                            # Idle: end; the next write() starts a writer again.
                            self._writer_waiter = None
                            self._writer = None
                            return
                    continue
                data = b"".join(self._out) if len(self._out) > 1 else self._out[0]
                self._out = []
                self._out_bytes = 0
                size = self._in_flight = len(data)
                if size <= _SEND_SLICE:
                    await self._send(data)
                    self._flushed += size
                else:
                    view = memoryview(data)
                    for start in range(0, size, _SEND_SLICE):
                        piece = view[start : start + _SEND_SLICE]
                        await self._send(piece)  # type: ignore[arg-type]
                        self._flushed += len(piece)
                        self._in_flight -= len(piece)
                        if self._marks:
                            self._fire_marks()
                self._in_flight = 0
                if self._marks:
                    self._fire_marks()
                if self.can_write():
                    self._writable.wake_all()
                    self._sink.writable()
            if self._closing and self._linger > 0 and not self._saw_eof:
                # RFC 6455 §7.1.1: the server closes TCP first; give it time.
                self._eof = self._runtime.waiter()
                with contextlib.suppress(TimeoutError):
                    async with self._runtime.fail_after(self._linger):
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

    def _fire_marks(self) -> None:
        flushed = self._flushed
        marks = self._marks or []
        due = [fn for mark, fn in marks if mark <= flushed]
        if due:
            self._marks = [(mark, fn) for mark, fn in marks if mark > flushed]
            for fn in due:
                fn()

    def _finish(self, exc: BaseException | None) -> None:
        if self._dead:
            return
        self._dead = True
        self._marks = None
        self._writable.wake_all()
        self._stop_reader()
        if exc is None and not self._closing and self._out:
            # The peer ended its half cleanly (EOF) with our answers still
            # queued (a pong, a Close): our half stays open until the writer
            # has sent them, then it closes the stream, as on asyncio.
            if self._writer is None:
                self._start_writer()
        elif exc is not None or not self._closing:
            if self._writer is not None:
                self._writer.cancel()
            self._runtime.spawn(self._aclose, "openwire-ws-close")
        self._sink.connection_lost(exc)

    # Channel
    def write(self, data: bytes) -> None:
        if self._dead or self._closing:
            return
        self._out.append(data)
        self._out_bytes += len(data)
        self._written += len(data)
        waiter = self._writer_waiter
        if waiter is not None:
            self._writer_waiter = None
            waiter.wake()
        elif self._writer is None:
            self._start_writer()

    def can_write(self) -> bool:
        return self._dead or (
            len(self._out) < self._max_messages
            and self._out_bytes + self._in_flight < self._max_bytes
        )

    async def wait_writable(self) -> None:
        if not self.can_write():
            await self._writable.wait()

    def write_mark(self) -> int:
        return self._written

    def flushed(self) -> int:
        return self._flushed

    def call_when_flushed(self, mark: int, fn: Callable[[], None]) -> None:
        if self._dead:
            return
        if mark <= self._flushed:
            self._runtime.call_later(0, fn)
        else:
            if self._marks is None:
                self._marks = []
            self._marks.append((mark, fn))

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
        elif self._writer is None:
            self._start_writer()

    def abort(self) -> None:
        self._out = []
        if not self._closing_stream:
            if self._writer is not None:
                self._writer.cancel()
            self._stop_reader()
            self._runtime.spawn(self._aclose, "openwire-ws-abort")
        self._finish(None)

    async def wait_closed(self) -> None:
        if not self._released:
            await self._closed.wait()
