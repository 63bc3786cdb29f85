"""The channel of a WebSocket on an HTTP/2 stream, fed by the connection's own tasks.

A WebSocket on an HTTP/2 stream could run in the generic
:class:`~openwire.io.channel.StreamChannel` (the stream is a byte stream),
but that adds a reader and a writer task per WebSocket between the
connection's tasks and the session: two more task switches per message.
This channel keeps the channel contract (:mod:`openwire.io.channel`) without
them, as :class:`~openwire.io.asyncio_backend.AsyncioChannel` does for a
socket:

- ``write`` queues the frames on the stream and wakes the connection's
  writer; it never blocks. The bound is ``send_queue_bytes`` of bytes not
  yet handed to h2 (inside the flow-control windows); like the asyncio
  channel, the message-count bound does not apply.
- Bytes reach ``session.data_received`` in the connection reader's own
  callback. While the session pauses reading, they wait on the stream,
  whose window is re-opened only as they are delivered: the peer stops at
  one window (flow control is the backpressure).
- The peer's END_STREAM ends only its half: everything before it is
  delivered first; what the session writes in answer (its Close) is still
  sent. A stream failure (reset, GOAWAY, broken connection) is reported as
  the typed error the stream holds.
- Closing sends what is queued, then ends the stream (END_STREAM already
  rode on our Close) or resets it if the peer has not ended its half: no
  lingering (see :attr:`~openwire.io.handover.Detached.max_linger`).
  ``connection_lost`` reaches the session exactly once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import anyio

from openwire.http2.connection import H2Stream
from openwire.io.channel import ChannelSink
from openwire.io.runtime import Runtime, Waiters

__all__ = ["H2Channel"]


class H2Channel:
    """A :class:`~openwire.io.channel.Channel` on one HTTP/2 stream: see the module."""

    def __init__(
        self, sink: ChannelSink, stream: H2Stream, runtime: Runtime, max_bytes: int
    ) -> None:
        self._sink = sink
        self._stream = stream
        self._runtime = runtime
        self._max_bytes = max_bytes
        self._writable = Waiters(runtime)
        self._closed = Waiters(runtime)
        self._paused = False
        self._delivering = False
        self._closing = False
        self._lost = False
        self._releasing = False
        self._released = False
        self._started = False
        # Bytes given to write, and the heartbeat's marks waiting for them to
        # leave (the stream's queue: the bytes not yet handed to h2).
        self._written = 0
        self._marks: list[tuple[int, Callable[[], None]]] = []
        stream.listener = self

    def start(self) -> None:
        """Deliver what arrived between the answer and the session (call once attached)."""
        self._started = True
        self.stream_changed()

    # -- from the stream -----------------------------------------------------
    def stream_changed(self) -> None:
        if self._delivering or not self._started:
            return
        self._delivering = True
        stream = self._stream
        try:
            while not self._paused and not self._lost:
                data = stream.next_inbound()
                if data is None:
                    break
                try:
                    self._sink.data_received(data)
                except Exception as exc:  # the session's bug must not end the connection
                    self._report(exc)
                    self._release()
                    return
        finally:
            self._delivering = False
        if self._lost or self._paused or stream.has_inbound:
            return
        if stream.error is not None:
            self._report(stream.error)
            self._release()
        elif stream.remote_ended or stream.closed:
            # The peer ended its half: the session has written what it owes
            # (its Close); send that, then end.
            self._closing = True
            self._report(None)
            self.stream_drained()

    def stream_drained(self) -> None:
        if self._marks:
            self._fire_marks()
        if self.can_write():
            self._writable.wake_all()
            if not self._lost:
                self._sink.writable()
        if self._closing and not self._stream.pending:
            self._release()

    # -- Channel -------------------------------------------------------------
    def write(self, data: bytes) -> None:
        if self._lost or self._closing:
            return
        self._written += len(data)
        self._stream.queue(data)

    def write_mark(self) -> int:
        return self._written

    def flushed(self) -> int:
        # What the stream still holds has not left: it waits for the
        # flow-control windows or for the connection's writer.
        return self._written - self._stream.out_bytes

    def call_when_flushed(self, mark: int, fn: Callable[[], None]) -> None:
        if self._lost:
            return
        if mark <= self.flushed():
            self._runtime.call_later(0, fn)
        else:
            self._marks.append((mark, fn))

    def _fire_marks(self) -> None:
        flushed = self.flushed()
        due = [fn for mark, fn in self._marks if mark <= flushed]
        if due:
            self._marks = [(mark, fn) for mark, fn in self._marks if mark > flushed]
            for fn in due:
                fn()

    def can_write(self) -> bool:
        return self._lost or self._stream.out_bytes < self._max_bytes

    async def wait_writable(self) -> None:
        if not self.can_write():
            await self._writable.wait()

    def pause_reading(self) -> None:
        self._paused = True

    def resume_reading(self) -> None:
        if self._paused:
            self._paused = False
            self.stream_changed()

    def close(self, linger: float = 0.0) -> None:
        if self._closing or self._lost:
            return
        self._closing = True
        self.stream_drained()

    def abort(self) -> None:
        self._closing = True
        self._report(None)
        self._release()

    async def wait_closed(self) -> None:
        if not self._released:
            await self._closed.wait()

    # -- the end ---------------------------------------------------------------
    def _report(self, exc: BaseException | None) -> None:
        if not self._lost:
            self._lost = True
            self._marks = []
            self._writable.wake_all()
            self._sink.connection_lost(exc)

    def _release(self) -> None:
        if self._releasing:
            return
        self._releasing = True
        self._report(None)
        if self._stream.close_now():
            self._runtime.spawn(self._close_connection, "openwire-h2-close")
        else:
            self._done()

    async def _close_connection(self) -> None:
        try:
            with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
                await self._stream.close_connection()
        finally:
            self._done()

    def _done(self) -> None:
        self._released = True
        self._closed.wake_all()
