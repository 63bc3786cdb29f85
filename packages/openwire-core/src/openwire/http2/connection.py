"""One HTTP/2 connection on the ``h2`` state machine, over any network stream.

Rules of this module:

- One reader task and one writer task per connection (detached, on the
  session's :class:`~openwire.io.runtime.Runtime`, so a WebSocket may outlive
  the call that opened its stream). Everything else is synchronous state
  changes on the ``h2`` connection followed by a wake-up of the writer, which
  alone calls ``data_to_send()`` and writes to the socket: no write lock, and
  bytes leave in the order ``h2`` produced them.
- Writes are scheduled fairly: each pass of the writer moves at most one
  frame (``min(window, max frame size, 16 KiB)``) per stream with pending
  data into ``h2``, then writes the batch. A stream sending one large
  message does not starve the others.
- Flow control is the backpressure. :meth:`H2Stream.write` returns once its
  bytes are handed to ``h2``, which happens only inside the stream's and the
  connection's send windows. Inbound, the connection window is acknowledged
  on receipt (so one stream can never block the others), a stream's window
  only as its reader consumes the data (so a slow consumer bounds its own
  memory and nobody else's).
- Extended CONNECT (RFC 8441) is sent only once the server's first SETTINGS
  have been seen (:meth:`H2Connection.wait_settings`), since only they can
  carry ``SETTINGS_ENABLE_CONNECT_PROTOCOL``.
- ``RST_STREAM`` ends one stream; an error ``GOAWAY`` or a broken socket ends
  every stream on the connection, each exactly once; a graceful ``GOAWAY``
  (``NO_ERROR``) refuses new streams and lets the streams up to its last
  stream id finish.

Failures are reported as :class:`H2StreamError` values (``error_code`` kept)
until a stream is taken over by a WebSocket (:meth:`H2Stream.take_over`);
after that, as the typed :class:`~openwire.errors.StreamReset` /
:class:`~openwire.errors.GoAway` closes of :mod:`openwire.http2.codes`.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Iterable
from typing import Any, Protocol

import anyio
import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings
import httpcore

from openwire._compat import h2_reopen_after_goaway
from openwire.errors import ConnectionClosedError
from openwire.http2.codes import H2StreamError, closed_error, error_name
from openwire.io.runtime import Handle, Runtime, Waiter, Waiters

__all__ = ["STREAM_WINDOW", "H2Connection", "H2Stream", "StreamListener"]

STREAM_WINDOW = 1024 * 1024
"""The receive window of each stream: at most this much waits unread per stream."""

CONNECTION_WINDOW = 16 * 1024 * 1024
"""The connection's receive window; acknowledged on receipt, so it never stalls a stream."""

_READ_SIZE = 64 * 1024
_FRAME = 16 * 1024
_CLOSE_OPCODE = 0x8
_GOAWAY = 0x7  # the GOAWAY frame type (RFC 9113 §6.8)


def _last_frame_is_close(data: bytes) -> bool:
    """Whether the last WebSocket frame in ``data`` (whole client frames) is a Close.

    Channels write whole frames (see :mod:`openwire.io.channel`), so walking
    the headers finds the frame boundaries; the END_STREAM flag then rides
    on the DATA frame that carries our Close, whichever engine encoded it.
    """
    offset, end, last = 0, len(data), -1
    while offset + 2 <= end:
        opcode = data[offset] & 0x0F
        length = data[offset + 1] & 0x7F
        header = 2
        if length == 126:
            if offset + 4 > end:
                return False
            length = int.from_bytes(data[offset + 2 : offset + 4], "big")
            header = 4
        elif length == 127:
            if offset + 10 > end:
                return False
            length = int.from_bytes(data[offset + 2 : offset + 10], "big")
            header = 10
        if data[offset + 1] & 0x80:
            header += 4
        last = opcode
        offset += header + length
    return offset == end and last == _CLOSE_OPCODE


class StreamListener(Protocol):
    """A channel the connection feeds directly: no task between the socket and the session."""

    def stream_changed(self) -> None:
        """Data, the peer's END_STREAM or a failure arrived."""
        ...

    def stream_drained(self) -> None:
        """Queued bytes were handed to h2 (or dropped with the stream)."""
        ...


class H2Stream:
    """One stream: the answer's head, then a :class:`~openwire.io.handover.ByteStream`."""

    def __init__(self, connection: H2Connection, stream_id: int) -> None:
        self._conn = connection
        self.stream_id = stream_id
        runtime = connection.runtime
        self._head: Waiter = runtime.waiter()
        self.status: int | None = None
        self.headers: list[tuple[bytes, bytes]] = []
        self._inbound: deque[tuple[bytes, int]] = deque()
        self._readable = Waiters(runtime)
        self._written = Waiters(runtime)
        self._unacked = 0
        self._out: deque[memoryview] = deque()
        self._out_bytes = 0
        self._end_after_out = False
        self.remote_ended = False
        self.local_ended = False
        self.reset_code: int | None = None
        self.error: BaseException | None = None
        self.websocket = False
        self.closed = False
        self.listener: StreamListener | None = None
        """The channel fed directly by the connection (instead of :meth:`read`/:meth:`write`)."""

    # -- the answer ---------------------------------------------------------------
    async def response(self) -> tuple[int, list[tuple[bytes, bytes]]]:
        """The final status and fields (interim 1xx skipped); raises if the stream failed."""
        while self.status is None:
            if self.error is not None:
                raise self.error
            await self._head.wait()
            self._head = self._conn.runtime.waiter()
        return self.status, self.headers

    def take_over(self) -> None:
        """The WebSocket owns the stream: failures become typed WebSocket closes from now."""
        self.websocket = True
        if isinstance(self.error, H2StreamError):
            self.error = closed_error(self.error)

    # -- ByteStream ---------------------------------------------------------------
    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        while not self._inbound:
            if self.error is not None:
                raise self.error
            if self.remote_ended or self.closed:
                return b""
            with anyio.fail_after(timeout) if timeout is not None else contextlib.nullcontext():
                await self._readable.wait()
        data, counted = self._inbound.popleft()
        if len(data) > max_bytes:
            # Keep the rest; its flow-controlled bytes are counted with it.
            self._inbound.appendleft((data[max_bytes:], counted))
            data, counted = data[:max_bytes], 0
        self._consumed(counted)
        return data

    async def write(self, data: bytes, timeout: float | None = None) -> None:
        if self.error is not None:
            raise self.error
        if self.local_ended or self.closed:
            raise self._gone("the stream is already ended on our side")
        end = self.websocket and _last_frame_is_close(data)
        if data:
            self._out.append(memoryview(data))
            self._out_bytes += len(data)
        self._end_after_out = end
        self._conn.schedule(self)
        while (self._out or self._end_after_out) and self.error is None and not self.closed:
            await self._written.wait()
        if self.error is not None:
            raise self.error

    async def send(self, data: bytes, end: bool, timeout: float | None) -> None:
        """Send request body bytes (``end``: then END_STREAM), within the send windows.

        Returns once everything is handed to ``h2``, which the writer does
        only inside the stream's and the connection's windows, so a large
        body waits for the server's WINDOW_UPDATEs rather than piling up.
        ``timeout`` bounds that wait (``httpcore.WriteTimeout``).
        """
        if self.error is not None:
            raise self.error
        if self.local_ended or self.closed:
            raise self._gone("the stream is already ended on our side")
        if data:
            self._out.append(memoryview(data))
            self._out_bytes += len(data)
        self._end_after_out = end
        self._conn.schedule(self)
        try:
            with anyio.fail_after(timeout) if timeout is not None else contextlib.nullcontext():
                while (self._out or self._end_after_out) and self.error is None:
                    if self.closed:
                        raise self._gone("the stream was closed while its body was being sent")
                    await self._written.wait()
        except TimeoutError:
            raise httpcore.WriteTimeout(
                f"HTTP/2 stream {self.stream_id}: the request body could not be sent within "
                f"{timeout}s (the server did not open its flow-control window)"
            ) from None
        if self.error is not None:
            raise self.error

    async def aclose(self) -> None:
        """End our half (or reset the stream when the peer has not ended its half).

        The last stream of a connection that is to close when idle (its
        client was closed, or a graceful GOAWAY) closes the connection here,
        so whoever awaits this stream's end also awaits the socket's.
        """
        conn = self._conn
        conn.close_stream(self)
        if conn.stream_count == 0 and (conn.keepalive == 0 or conn.goaway is not None):
            await conn.aclose()

    def __aiter__(self) -> H2Stream:
        return self

    async def __anext__(self) -> bytes:
        data = await self.read(_READ_SIZE)
        if not data:
            raise StopAsyncIteration
        return data

    # -- called by the connection -------------------------------------------------
    def _consumed(self, counted: int) -> None:
        if not counted:
            return
        self._unacked += counted
        if self._unacked >= STREAM_WINDOW // 2:
            unacked, self._unacked = self._unacked, 0
            self._conn.open_window(self, unacked)

    def on_head(self, status: int, headers: list[tuple[bytes, bytes]]) -> None:
        self.status, self.headers = status, headers
        self._head.wake()

    def on_data(self, data: bytes, counted: int) -> None:
        # Padding is not the application's: acknowledged now with the connection's.
        self._inbound.append((data, counted))
        self._readable.wake_all()
        if self.listener is not None:
            self.listener.stream_changed()

    def on_end(self) -> None:
        self.remote_ended = True
        self._readable.wake_all()
        self._head.wake()
        if self.listener is not None:
            self.listener.stream_changed()

    # -- for a listener (the direct channel) -------------------------------------
    def next_inbound(self) -> bytes | None:
        """The oldest unread chunk, its window re-opened; ``None`` when none waits."""
        if not self._inbound:
            return None
        data, counted = self._inbound.popleft()
        self._consumed(counted)
        return data

    @property
    def has_inbound(self) -> bool:
        return bool(self._inbound)

    @property
    def out_bytes(self) -> int:
        return self._out_bytes

    def queue(self, data: bytes) -> None:
        """Queue whole WebSocket frames for sending, without waiting (a listener's write)."""
        if self.error is not None or self.local_ended or self.closed:
            return
        if data:
            self._out.append(memoryview(data))
            self._out_bytes += len(data)
        if self.websocket and _last_frame_is_close(data):
            self._end_after_out = True
        self._conn.schedule(self)

    def close_now(self) -> bool:
        """End or reset the stream at once; true when the connection should close now too."""
        conn = self._conn
        conn.close_stream(self)
        return conn.stream_count == 0 and (conn.keepalive == 0 or conn.goaway is not None)

    async def close_connection(self) -> None:
        await self._conn.aclose()

    def fail(self, error: BaseException) -> None:
        if self.error is None:
            if self.websocket and isinstance(error, H2StreamError):
                error = closed_error(error)
            self.error = error
        self._out.clear()
        self._out_bytes = 0
        self._end_after_out = False
        self._readable.wake_all()
        self._written.wake_all()
        self._head.wake()
        if self.listener is not None:
            self.listener.stream_changed()
            self.listener.stream_drained()

    def take(self, limit: int) -> tuple[bytes, bool]:
        """Up to ``limit`` pending bytes, and whether END_STREAM goes with them."""
        parts: list[memoryview] = []
        size = 0
        while self._out and size < limit:
            head = self._out[0]
            room = limit - size
            if len(head) <= room:
                parts.append(self._out.popleft())
                size += len(head)
            else:
                parts.append(head[:room])
                self._out[0] = head[room:]
                size = limit
        self._out_bytes -= size
        end = not self._out and self._end_after_out
        if end:
            self._end_after_out = False
        return b"".join(parts), end

    @property
    def pending(self) -> bool:
        return bool(self._out) or self._end_after_out

    def wake_writer(self) -> None:
        self._written.wake_all()
        if self.listener is not None:
            self.listener.stream_drained()

    def _gone(self, why: str) -> BaseException:
        return httpcore.WriteError(f"HTTP/2 stream {self.stream_id}: {why}")


class H2Connection:
    """A client HTTP/2 connection: see the module's rules."""

    def __init__(self, stream: httpcore.AsyncNetworkStream, runtime: Runtime, label: str) -> None:
        self.runtime = runtime
        self.label = label
        self._io = stream
        self._h2 = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding=None)
        )
        self._streams: dict[int, H2Stream] = {}
        self._sending: deque[H2Stream] = deque()
        self._writer_waiter: Waiter | None = None
        self._settings = Waiters(runtime)
        self._idle = Waiters(runtime)
        self.settings_seen = False
        self.reserved = 0
        self.goaway: tuple[int, int] | None = None  # (error code, last stream id)
        self.error: BaseException | None = None
        self.closed = False
        self._unacked = 0
        self._frame_head = b""
        self._frame_left = 0
        self._in_goaway = False
        self._reader: Handle | None = None
        self._writer: Handle | None = None
        self._idle_timer: Handle | None = None
        self.keepalive: float | None = None
        """Seconds the connection stays open with no stream (``None``: until closed)."""

    # -- life -----------------------------------------------------------------
    def start(self) -> None:
        """Send the preface and our SETTINGS; start the reader and the writer."""
        h2c = self._h2
        h2c.local_settings = h2.settings.Settings(
            client=True,
            initial_values={
                h2.settings.SettingCodes.ENABLE_PUSH: 0,
                h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: STREAM_WINDOW,
                h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 100,
                h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE: 64 * 1024,
            },
        )
        # h2 keeps the spec's defaults until they are acknowledged; the preface
        # carries ours.
        h2c.initiate_connection()
        h2c.increment_flow_control_window(CONNECTION_WINDOW - 65535)
        self._reader = self.runtime.spawn(self._read_loop, "openwire-h2-reader")
        self._writer = self.runtime.spawn(self._write_loop, "openwire-h2-writer")

    async def wait_settings(self) -> None:
        """Return once the server's first SETTINGS arrived (RFC 8441 §3); raise if it failed."""
        while not self.settings_seen:
            if self.error is not None:
                raise self.error
            await self._settings.wait()

    @property
    def connect_protocol(self) -> bool:
        """Whether the server allows extended CONNECT (``SETTINGS_ENABLE_CONNECT_PROTOCOL = 1``)."""
        return bool(self._h2.remote_settings.enable_connect_protocol)

    @property
    def max_streams(self) -> int:
        return int(self._h2.remote_settings.max_concurrent_streams)

    def usable(self) -> bool:
        """Open, not draining after a GOAWAY, and not failed."""
        return not self.closed and self.error is None and self.goaway is None

    def has_room(self) -> bool:
        """Whether one more stream fits under the peer's ``MAX_CONCURRENT_STREAMS``."""
        return self.usable() and len(self._streams) + self.reserved < self.max_streams

    @property
    def stream_count(self) -> int:
        return len(self._streams)

    async def aclose(self) -> None:
        """GOAWAY(NO_ERROR) and close the socket; every stream still open fails."""
        if self.closed:
            return
        if self.error is None:
            with contextlib.suppress(Exception):
                self._h2.close_connection()
                data = self._h2.data_to_send()
                if data:
                    with anyio.move_on_after(1):
                        await self._io.write(data)
        self._die(
            httpcore.ReadError(f"the HTTP/2 connection to {self.label} was closed"), release=False
        )
        await self._release()

    # -- streams --------------------------------------------------------------
    def open_stream(self, headers: Iterable[tuple[bytes, bytes]], end_stream: bool) -> H2Stream:
        """Send a HEADERS frame on a new stream (the caller reserved room for it)."""
        if self.error is not None:
            raise self.error
        if self.goaway is not None:
            raise H2StreamError(
                h2.errors.ErrorCodes.REFUSED_STREAM,
                f"the HTTP/2 connection to {self.label} is going away (GOAWAY); "
                "no new stream may start on it",
                retry=True,
            )
        stream_id = self._h2.get_next_available_stream_id()
        stream = H2Stream(self, stream_id)
        self._streams[stream_id] = stream
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        self._h2.send_headers(stream_id, list(headers), end_stream=end_stream)
        stream.local_ended = end_stream
        self._wake_writer()
        return stream

    def schedule(self, stream: H2Stream) -> None:
        if stream not in self._sending:
            self._sending.append(stream)
        self._wake_writer()

    def open_window(self, stream: H2Stream, increment: int) -> None:
        if stream.closed or stream.remote_ended or self.error is not None:
            return
        with contextlib.suppress(h2.exceptions.H2Error, KeyError, ValueError):
            self._h2.increment_flow_control_window(increment, stream.stream_id)
            self._wake_writer()

    def close_stream(self, stream: H2Stream) -> None:
        """End or reset ``stream`` and forget it (its slot is free at once)."""
        if stream.closed:
            return
        stream.closed = True
        if self.error is None and stream.reset_code is None:
            with contextlib.suppress(h2.exceptions.H2Error, KeyError):
                if stream.remote_ended and not stream.pending:
                    if not stream.local_ended:
                        self._h2.end_stream(stream.stream_id)
                        stream.local_ended = True
                elif not (stream.remote_ended and stream.local_ended):
                    # The peer did not end its half: a stream half-ended
                    # forever would hold a MAX_CONCURRENT_STREAMS slot.
                    self._h2.reset_stream(stream.stream_id, h2.errors.ErrorCodes.CANCEL)
        stream.fail(stream.error or httpcore.ReadError("the stream was closed"))
        self._forget(stream)
        self._wake_writer()

    def _forget(self, stream: H2Stream) -> None:
        self._streams.pop(stream.stream_id, None)
        with contextlib.suppress(ValueError):
            self._sending.remove(stream)
        if not self._streams:
            self._idle.wake_all()
            if self.goaway is None and self.keepalive != 0:
                self.idle_after(self.keepalive)

    def idle_after(self, delay: float | None) -> None:
        """Close the connection once it has had no stream for ``delay`` seconds."""
        if self._streams or self.closed or delay is None:
            return
        if self._idle_timer is not None:
            self._idle_timer.cancel()

        def expire() -> None:
            self._idle_timer = None
            if not self._streams and not self.closed:
                self.runtime.spawn(self.aclose, "openwire-h2-close")

        self._idle_timer = self.runtime.call_later(delay, expire)

    # -- the writer -----------------------------------------------------------
    def _wake_writer(self) -> None:
        waiter, self._writer_waiter = self._writer_waiter, None
        if waiter is not None:
            waiter.wake()

    def _fill(self) -> None:
        """One pass of fair scheduling: at most one frame per stream with data to send."""
        h2c = self._h2
        for _ in range(len(self._sending)):
            stream = self._sending.popleft()
            if stream.closed or stream.error is not None:
                continue
            try:
                window = min(
                    h2c.local_flow_control_window(stream.stream_id),
                    h2c.max_outbound_frame_size,
                    _FRAME,
                )
            except (h2.exceptions.H2Error, KeyError) as exc:
                stream.fail(exc)
                continue
            if window <= 0 and stream._out:
                self._sending.append(stream)  # blocked on a window: WINDOW_UPDATE wakes us
                continue
            data, end = stream.take(window)
            try:
                h2c.send_data(stream.stream_id, data, end_stream=end)
            except (h2.exceptions.H2Error, KeyError) as exc:
                stream.fail(exc)
                continue
            if end:
                stream.local_ended = True
            if stream.pending:
                self._sending.append(stream)
                if stream.listener is not None:
                    stream.listener.stream_drained()
            else:
                stream.wake_writer()

    def _has_sendable(self) -> bool:
        h2c = self._h2
        for stream in self._sending:
            if not stream._out:
                return True
            with contextlib.suppress(h2.exceptions.H2Error, KeyError):
                if h2c.local_flow_control_window(stream.stream_id) > 0:
                    return True
        return False

    async def _write_loop(self) -> None:
        try:
            while not self.closed:
                self._fill()
                data = self._h2.data_to_send()
                if data:
                    await self._io.write(data)
                    continue
                if self._has_sendable():
                    continue
                self._writer_waiter = self.runtime.waiter()
                await self._writer_waiter.wait()
        except Exception as exc:
            self._die(exc)

    # -- the reader -----------------------------------------------------------
    async def _read_loop(self) -> None:
        try:
            while not self.closed:
                data = await self._io.read(_READ_SIZE)
                if not data:
                    raise httpcore.ReadError(f"{self.label} closed the HTTP/2 connection")
                for piece in self._cut_after_goaway(data):
                    try:
                        events = self._h2.receive_data(piece)
                    except h2.exceptions.ProtocolError as exc:
                        self._wake_writer()  # h2 queued its GOAWAY
                        raise H2StreamError(
                            h2.errors.ErrorCodes.PROTOCOL_ERROR,
                            f"{self.label} broke the HTTP/2 protocol: {exc}",
                        ) from exc
                    for event in events:
                        self._on_event(event)
                if self._unacked >= CONNECTION_WINDOW // 4:
                    unacked, self._unacked = self._unacked, 0
                    self._h2.increment_flow_control_window(unacked)
                self._wake_writer()
        except Exception as exc:
            self._die(exc)

    def _cut_after_goaway(self, data: bytes) -> list[bytes]:
        """``data`` split right after each GOAWAY frame (see :meth:`_on_goaway`).

        h2 handles every frame of one ``receive_data`` call, and refuses the
        frames that follow a GOAWAY in the same call; fed separately, they
        arrive after the state machine was put back to open. Only frame
        headers are looked at (9 bytes each), across reads.
        """
        cuts: list[int] = []
        pos, end = 0, len(data)
        while pos < end:
            if self._frame_left:
                step = min(self._frame_left, end - pos)
                pos += step
                self._frame_left -= step
                if not self._frame_left and self._in_goaway:
                    cuts.append(pos)
                    self._in_goaway = False
                continue
            take = data[pos : pos + 9 - len(self._frame_head)]
            self._frame_head += take
            pos += len(take)
            if len(self._frame_head) == 9:
                head, self._frame_head = self._frame_head, b""
                self._frame_left = int.from_bytes(head[:3], "big")
                self._in_goaway = head[3] == _GOAWAY
                if not self._frame_left and self._in_goaway:
                    cuts.append(pos)
                    self._in_goaway = False
        if not cuts:
            return [data]
        pieces = []
        start = 0
        for cut in cuts:
            pieces.append(data[start:cut])
            start = cut
        if start < end:
            pieces.append(data[start:])
        return pieces

    def _on_event(self, event: Any) -> None:
        if isinstance(event, h2.events.DataReceived):
            counted = event.flow_controlled_length or 0
            self._unacked += counted
            stream = self._streams.get(event.stream_id or 0)
            if stream is None:
                return
            data = event.data or b""
            padding = counted - len(data)
            if padding and not stream.closed:
                self.open_window(stream, padding)
            if data:  # an empty DATA frame is no end of stream (END_STREAM is)
                stream.on_data(data, len(data))
        elif isinstance(event, h2.events.ResponseReceived):
            stream = self._streams.get(event.stream_id or 0)
            if stream is not None:
                status, fields = _split_head(event.headers or [])
                stream.on_head(status, fields)
        elif isinstance(event, h2.events.StreamEnded):
            stream = self._streams.get(event.stream_id or 0)
            if stream is not None:
                stream.on_end()
                if stream.local_ended and stream.closed:
                    self._forget(stream)
        elif isinstance(event, h2.events.StreamReset):
            stream = self._streams.get(event.stream_id or 0)
            if stream is not None:
                code = int(event.error_code or 0)
                stream.reset_code = code
                stream.fail(
                    H2StreamError(
                        code,
                        f"{self.label} reset HTTP/2 stream {stream.stream_id} ({error_name(code)})",
                        retry=code == h2.errors.ErrorCodes.REFUSED_STREAM,
                    )
                )
        elif isinstance(event, h2.events.RemoteSettingsChanged):
            if not self.settings_seen:
                self.settings_seen = True
                self._settings.wake_all()
        elif isinstance(event, h2.events.ConnectionTerminated):
            self._on_goaway(int(event.error_code or 0), int(event.last_stream_id or 0))

    def _on_goaway(self, code: int, last_stream_id: int) -> None:
        self.goaway = (code, last_stream_id)
        if code != h2.errors.ErrorCodes.NO_ERROR:
            self._die(
                H2StreamError(
                    code,
                    f"{self.label} ended the HTTP/2 connection with GOAWAY ({error_name(code)})",
                    goaway=True,
                )
            )
            return
        # Graceful: streams the server never processed fail (safe to retry),
        # the others finish normally. h2 moves its whole state machine to
        # CLOSED on any GOAWAY and would refuse every later frame, including
        # the DATA of the streams RFC 9113 §6.8 lets finish: put it back to
        # CLIENT_OPEN (this connection starts no new stream: ``goaway`` is set).
        h2_reopen_after_goaway(self._h2)
        for stream in list(self._streams.values()):
            if stream.stream_id > last_stream_id:
                stream.fail(
                    H2StreamError(
                        h2.errors.ErrorCodes.REFUSED_STREAM,
                        f"{self.label} is going away (GOAWAY) and did not process stream "
                        f"{stream.stream_id}",
                        retry=True,
                        goaway=True,
                    )
                )
                self._forget(stream)
        self._settings.wake_all()
        if not self._streams:
            self.runtime.spawn(self.aclose, "openwire-h2-close")

    def _die(self, exc: BaseException, release: bool = True) -> None:
        """The connection is gone: fail every stream once, release the socket."""
        if self.closed:
            return
        self.closed = True
        if self.error is None:
            self.error = (
                exc
                if isinstance(exc, H2StreamError | httpcore.NetworkError | ConnectionClosedError)
                else httpcore.ReadError(f"the HTTP/2 connection to {self.label} failed: {exc!r}")
            )
        error = self.error
        for stream in list(self._streams.values()):
            stream.fail(error)
        self._streams.clear()
        self._sending.clear()
        self._settings.wake_all()
        self._idle.wake_all()
        if self._idle_timer is not None:
            self._idle_timer.cancel()
        for handle in (self._reader, self._writer):
            if handle is not None:
                handle.cancel()
        if release:
            self.runtime.spawn(self._release, "openwire-h2-release")

    async def _release(self) -> None:
        with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
            await self._io.aclose()


def _split_head(headers: Iterable[tuple[bytes, bytes]]) -> tuple[int, list[tuple[bytes, bytes]]]:
    status = 0
    fields: list[tuple[bytes, bytes]] = []
    for name, value in headers:
        if name == b":status":
            status = int(value)
        elif not name.startswith(b":"):
            fields.append((name, value))
    return status, fields
