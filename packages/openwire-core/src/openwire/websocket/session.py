"""The WebSocket session: every decision about a connection, for every engine.

Rules of this module: the engine only translates bytes and messages; all
behaviour a user can observe lives here, once. That is the send-queue
backpressure, the bounded receive buffer, auto-pong, the heartbeat, the close
handshake and its timeout, close-code policy, events and error mapping.

Theory of operation. The session is driven like an asyncio protocol. A
channel (``openwire.io.channel``) calls :meth:`Session.data_received` with bytes and
:meth:`Session.connection_lost` at the end; the session feeds the engine,
reacts to what it returns (queue a message, answer a ping, answer a Close)
and writes bytes back through ``channel.write``, which never blocks. User
calls (``send``, ``receive``, ``ping``, ``close``) are the only places that
await. State moves one way::

    OPEN ──close() / peer Close──▶ CLOSING ──Close answered / timeout──▶ CLOSED
      └──────────── protocol error, EOF, pong timeout ─────────────────────┘

Exactly one of ``websocket_closed`` (a close handshake completed) or
``websocket_failed`` (anything else) is emitted, when CLOSED is reached.

Streaming. With ``streaming=True`` the codec hands data messages out as
:class:`~openwire.protocol.messages.Chunk` events as they arrive; they wait
in the same bounded inbox as whole messages, and the consumer decides per
message: ``receive()`` assembles one (enforcing ``max_message_size``, 1009
beyond), a message stream (``open_stream``/``next_chunk``/``close_stream``)
takes the pieces one by one and discards what is left when it is closed
early. Sending, ``send_stream`` writes one message as fragments while
holding the *turn* (:class:`_Turns`): other messages wait for it in order,
while control frames (pongs, heartbeat pings, Close) go out between
fragments as RFC 6455 §5.4 allows. A streamed send that stops half-way
(its iterable raised, or it was cancelled) leaves a message that can never
be finished nor followed by another, so the connection is failed with 1011.
"""

from __future__ import annotations

import enum
import os
from collections import deque
from collections.abc import AsyncIterable, Callable, Iterable
from typing import TYPE_CHECKING

import anyio.lowlevel

from openwire.engines.contract import Chunk, EngineEvent, Message, MessageCodec
from openwire.errors import (
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    MessageTooBig,
    PayloadTooBig,
    PongTimeout,
    ProtocolError,
    WriteStalled,
)
from openwire.protocol.frames import (
    OK_CODES,
    CloseCode,
    Opcode,
    check_close_code,
    parse_close_payload,
)

if TYPE_CHECKING:
    from openwire.events import ListenerDispatch
    from openwire.io.channel import Channel
    from openwire.io.runtime import Handle, Runtime, Waiter
    from openwire.websocket.options import WebSocketOptions

__all__ = ["Session", "State"]

_TEXT = Opcode.TEXT
_BINARY = Opcode.BINARY
_PING = Opcode.PING
_PONG = Opcode.PONG
_CONT = Opcode.CONTINUATION

# A streamed send splits chunks into frames of at most this many bytes, so a
# control frame waits behind at most one such frame of the message, and
# yields to the event loop after this many bytes or frames written without
# an await, so pongs and the heartbeat go out during a long message.
_FRAGMENT = 1024 * 1024
_YIELD_FRAMES = 64

StreamChunk = str | bytes | bytearray | memoryview
_END = object()

# Reasons reading is paused (bits of Session._paused).
_INBOX_FULL = 1
_WRITES_BACKED_UP = 2

# A write buffer holding the heartbeat ping is looked at this many times per
# pong_timeout; it is stalled when none of those looks saw it move.
_STALL_SAMPLES = 4


class State(enum.Enum):
    """Where a WebSocket is in its life; ``ws.state`` reads it.

    OPEN until a close handshake starts (either side), CLOSING until the
    connection is gone, then CLOSED.
    """

    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


class _Turns:
    """Whose turn it is to write a data message: FIFO while a streamed message holds the wire.

    ``busy`` is false in the common case (nobody streams), so a plain send
    pays one attribute test. When a holder releases, the turn goes straight
    to the longest waiter, so those that waited keep their order.
    """

    __slots__ = ("_queue", "_runtime", "busy")

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        # Made on the first wait: an empty deque is ~600 bytes on every connection.
        self._queue: deque[Waiter] | None = None
        self.busy = False

    async def acquire(self) -> None:
        if not self.busy:
            self.busy = True
            return
        waiter = self._runtime.waiter()
        if self._queue is None:
            self._queue = deque()
        self._queue.append(waiter)
        try:
            await waiter.wait()
        except BaseException:
            try:
                self._queue.remove(waiter)
            except ValueError:
                self.release()  # the turn was handed over as we were cancelled: pass it on
            raise

    def release(self) -> None:
        if self._queue:
            self._queue.popleft().wake()
        else:
            self.busy = False


class Session:
    """One open WebSocket connection, after the 101."""

    # Slots: one of these per connection, and a dict of 40+ attributes costs ~1.5 KiB.
    __slots__ = (
        "__weakref__",
        "_abort_timer",
        "_aside",
        "_channel",
        "_channel_lost",
        "_close_deadline",
        "_close_mark",
        "_close_timer",
        "_close_waiters",
        "_conn",
        "_deadline_extended",
        "_deliver_control",
        "_discarding",
        "_engine_name",
        "_error",
        "_ev_received",
        "_ev_sent",
        "_events",
        "_flushed_at_close",
        "_flushed_at_ping",
        "_heartbeat",
        "_heartbeat_sent_at",
        "_inbox",
        "_inbox_bytes",
        "_inbox_max",
        "_inbox_max_bytes",
        "_last_rx",
        "_max_message",
        "_options",
        "_paused",
        "_ping_mark",
        "_pings",
        "_pings_latency",
        "_pong_timer",
        "_queued_at_ping",
        "_recv_waiter",
        "_runtime",
        "_rx_chunked",
        "_stall_checks",
        "_stall_seen",
        "_stall_timer",
        "_stream_implicit",
        "_stream_open",
        "_streaming",
        "_turns",
        "close_code",
        "close_reason",
        "closed_by_peer",
        "state",
    )

    def __init__(
        self,
        conn: MessageCodec,
        options: WebSocketOptions,
        events: ListenerDispatch,
        runtime: Runtime,
        engine_name: str = "native",
    ) -> None:
        self._conn = conn
        self._options = options
        self._events = events
        self._runtime = runtime
        self._engine_name = engine_name
        self._channel: Channel | None = None
        self.state = State.OPEN
        self.close_code: int | None = None
        self.close_reason = ""
        self.closed_by_peer: bool | None = None
        self._error: ConnectionClosed | None = None
        # Receive side: a bounded buffer; reading pauses when it is full.
        # Made when the first bytes arrive: an empty deque is ~760 bytes, and
        # a connection that has received nothing (an idle subscriber) needs none.
        self._inbox: deque[EngineEvent] | None = None
        self._inbox_bytes = 0
        self._inbox_max = options.receive_queue_size
        self._inbox_max_bytes = options.receive_queue_bytes
        # Why reading is paused (bits): the inbox is full, or the peer does
        # not read what we write (answers to its pings would pile up).
        self._paused = 0
        self._recv_waiter: Waiter | None = None
        # These three are made when first needed (close(), ping()), for the same reason.
        self._close_waiters: list[Waiter] | None = None
        self._deliver_control = options.deliver_control_frames
        self._max_message = options.max_message_size
        # Heartbeat and close timers.
        self._pings: dict[bytes, tuple[Waiter, float]] | None = None
        self._pings_latency: dict[bytes, float] | None = None
        self._last_rx = runtime.time()
        self._heartbeat: Handle | None = None
        self._pong_timer: Handle | None = None
        self._close_timer: Handle | None = None
        self._close_deadline = 0.0
        self._abort_timer: Handle | None = None
        self._channel_lost = False
        self._heartbeat_sent_at = 0.0
        # The heartbeat ping still in our write buffer (its write mark), the
        # watch on that buffer while it is, and where the buffer stood when
        # the ping left it (see _heartbeat_tick).
        self._ping_mark: int | None = None
        self._stall_timer: Handle | None = None
        self._stall_seen = 0
        self._stall_checks = 0
        self._flushed_at_ping = 0
        self._queued_at_ping = 0
        self._deadline_extended = False
        # Where our Close ends in the write stream, and how much had left the
        # buffer halfway through close_timeout (see _close_timed_out).
        self._close_mark: int | None = None
        self._flushed_at_close = 0
        # Events on the hot path are looked up once.
        self._ev_sent = events.wants("websocket_message_sent")
        self._ev_received = events.wants("websocket_message_received")
        # Streaming (see the module docstring): the turn to send data, and
        # on the receive side whether chunks come at all, whether a message
        # stream is open, whether the rest of a message is being dropped,
        # the size of the message arriving in pieces, and control events set
        # aside while a message's pieces are taken.
        self._turns = _Turns(runtime)
        self._streaming = options.streaming
        self._stream_open = False
        # The open stream is iterated without its block: the next receive
        # or stream leaves it (and drops the rest of its message).
        self._stream_implicit: object | None = None
        self._discarding = False
        self._rx_chunked = 0
        self._aside: list[EngineEvent] | None = None
        if options.streaming:
            conn.stream_messages(options.max_stream_size)

    def attach(self, channel: Channel) -> None:
        self._channel = channel
        if self._options.ping_interval is not None and self.state is State.OPEN:
            self._heartbeat = self._runtime.call_later(
                self._options.ping_interval, self._heartbeat_tick
            )

    # ---------------------------------------------------------------- inbound

    def data_received(self, data: bytes) -> None:
        if self.state is State.CLOSED:
            return
        self._last_rx = self._runtime.time()
        violation: ProtocolError | None = None
        try:
            events = self._conn.receive_data(data)
        except ProtocolError as exc:
            events, violation = exc.events, exc
        except Exception as exc:  # an engine bug must not crash the session
            self._engine_failed("parsing", exc)
            return
        inbox = self._inbox
        if inbox is None:
            inbox = self._inbox = deque()
        for event in events:
            opcode = event.opcode
            if opcode is _TEXT or opcode is _BINARY:
                size = len(event.data)
                if self.state is State.CLOSING and self._inbox_full():
                    # We are closing and nobody drains the inbox: drop rather than grow.
                    continue
                inbox.append(event)
                self._inbox_bytes += size
                if self._ev_received:
                    self._events.websocket_message_received(
                        "text" if opcode is _TEXT else "binary", size
                    )
            elif opcode is _CONT:
                self._chunk_received(event)  # type: ignore[arg-type]
            elif opcode is _PING:
                if self.state is State.OPEN:
                    if not self._encode_and_write(self._conn.encode_pong, event.data):
                        return
                    if self._channel is not None and not self._channel.can_write():
                        # The peer sends pings but does not read our pongs:
                        # stop reading until it does (RFC 6455 §5.5.3 lets us
                        # answer only the latest ping anyway).
                        self._pause(_WRITES_BACKED_UP)
                if self._deliver_control:
                    inbox.append(event)
            elif opcode is _PONG:
                self._pong_received(event.data)  # type: ignore[arg-type]
                if self._deliver_control:
                    inbox.append(event)
            else:
                if self._deliver_control:
                    inbox.append(event)
                self._close_received(event.data)  # type: ignore[arg-type]
                break
        if violation is not None:
            self._fail(violation.close_code, str(violation), violation)
        if inbox:
            waiter = self._recv_waiter
            if waiter is not None:
                self._recv_waiter = None
                waiter.wake()
            if self.state is State.OPEN and not self._paused & _INBOX_FULL and self._inbox_full():
                self._pause(_INBOX_FULL)

    def _chunk_received(self, chunk: Chunk) -> None:
        """A piece of a message arriving in pieces (streaming on)."""
        size = len(chunk.data)
        self._rx_chunked += size
        if chunk.fin:
            total, self._rx_chunked = self._rx_chunked, 0
            if self._ev_received:
                kind = "text" if isinstance(chunk.data, str) else "binary"
                self._events.websocket_message_received(kind, total)
        if self._discarding:
            # The rest of a message whose stream was left early.
            self._discarding = not chunk.fin
            return
        if self.state is State.CLOSING and self._inbox_full():
            # Nobody drains the inbox while we close: drop the rest of the message.
            self._discarding = not chunk.fin
            return
        self._inbox.append(chunk)  # type: ignore[union-attr]  # data_received made it
        self._inbox_bytes += size

    def _inbox_full(self) -> bool:
        inbox = self._inbox
        size = 0 if inbox is None else len(inbox)
        return size >= self._inbox_max or self._inbox_bytes >= self._inbox_max_bytes

    def _pause(self, reason: int) -> None:
        if not self._paused and self._channel is not None:
            self._channel.pause_reading()
        self._paused |= reason

    def _unpause(self, reason: int) -> None:
        if not self._paused & reason:
            return
        self._paused &= ~reason
        if not self._paused and self._channel is not None and self.state is not State.CLOSED:
            self._channel.resume_reading()

    def writable(self) -> None:
        """The channel drained below its bounds: what waited on that may go on."""
        self._unpause(_WRITES_BACKED_UP)

    def connection_lost(self, exc: BaseException | None) -> None:
        self._channel_lost = True
        if self.state is State.CLOSED:
            # The socket is gone: nothing left for the abort timer to do.
            if self._abort_timer is not None:
                self._abort_timer.cancel()
                self._socket_gone()
            return
        if isinstance(exc, ConnectionClosedError):
            # The channel knows how the connection ended and says so, typed
            # (an HTTP/2 stream reset or GOAWAY: openwire.http2.codes).
            self._finish(exc.code, exc.reason, exc.by_peer, exc)
            return
        # Also when we sent Close and TCP ended with no answer: RFC 6455
        # §7.1.5 calls that "no Close frame received" (1006).
        detail = f": {exc}" if exc else ""
        error = ConnectionClosedError(
            CloseCode.ABNORMAL_CLOSURE,
            "",
            by_peer=None,
            message=(
                "the connection was dropped without a Close frame (1006)"
                f"{detail}; the peer or the network went away"
            ),
        )
        error.__cause__ = exc
        self._finish(CloseCode.ABNORMAL_CLOSURE, "", None, error)

    def _pong_received(self, payload: bytes) -> None:
        self._events.websocket_pong_received(payload)
        pings, latencies = self._pings, self._pings_latency
        if pings and latencies is not None and payload in pings:
            now = self._runtime.time()
            # A pong answers its ping and every earlier one (RFC 6455 §5.5.3
            # lets a peer answer only the most recent).
            for key in list(pings):
                waiter, sent_at = pings.pop(key)
                latencies[key] = now - sent_at
                waiter.wake()
                if key == payload:
                    break

    def _close_received(self, payload: bytes) -> None:
        try:
            code, reason = parse_close_payload(payload)
        except ProtocolError as exc:
            self._fail(exc.close_code, str(exc), exc)
            return
        if self.state is State.OPEN:
            self._set_close(code, reason, by_peer=True)
            self._events.websocket_closing(code, reason, True)
            # §5.5.1: answer with a Close, echoing the status code received.
            echo = None if code == CloseCode.NO_STATUS_RCVD else code
            if not self._encode_and_write(self._conn.encode_close, echo, ""):
                return
        elif self.closed_by_peer is False:
            # The answer to our Close: report the code the peer confirmed.
            self.close_code, self.close_reason = code, reason
        self._finish(code, reason, self.closed_by_peer, None)

    # --------------------------------------------------------------- outbound

    def _write(self, data: bytes) -> None:
        if self._channel is not None:
            self._channel.write(data)

    def _encode_and_write(self, encode: Callable[..., bytes], *args: object) -> bool:
        """Encode a frame with the engine and write it; an engine bug fails with 1011."""
        try:
            data = encode(*args)
        except Exception as exc:
            self._engine_failed("encoding a frame", exc)
            return False
        self._write(data)
        return True

    def _engine_failed(self, doing: str, exc: BaseException) -> ConnectionClosedError:
        """An engine raised something other than ProtocolError: a bug in the engine."""
        error = ConnectionClosedError(
            CloseCode.INTERNAL_ERROR,
            "",
            by_peer=False,
            message=(
                f"engine {self._engine_name!r} raised {exc!r} while {doing}; this is a bug in "
                "the engine (closed with 1011)"
            ),
        )
        error.__cause__ = exc
        if self.state is State.OPEN:
            try:
                self._write(self._conn.encode_close(CloseCode.INTERNAL_ERROR, ""))
            except Exception:
                pass
        self._finish(CloseCode.INTERNAL_ERROR, "", False, error)
        return error

    async def send(self, data: str | bytes, compress: bool | None = None) -> None:
        if self.state is not State.OPEN:
            raise self._closed_error()
        if self._max_message is not None and len(data) > self._max_message // 4:
            size = len(data.encode("utf-8")) if isinstance(data, str) else len(data)
            if size > self._max_message:
                raise MessageTooBig(
                    f"message is {size} bytes; max_message_size is {self._max_message}. "
                    "Split it or raise max_message_size (the peer must accept it too)"
                )
        channel = self._channel
        assert channel is not None
        while self._turns.busy or not channel.can_write():
            if self._turns.busy:
                # A streamed message holds the wire: wait for it, in order.
                await self._wait_turn(channel)
                break
            await channel.wait_writable()
            if self.state is not State.OPEN:
                raise self._closed_error()
        # encode + write is synchronous: a cancelled send never leaves half a frame.
        try:
            frame = self._conn.encode_message(data, compress)
        except Exception as exc:
            if isinstance(exc, UnicodeEncodeError) and isinstance(data, str):
                # The caller's text has no UTF-8 form (a lone surrogate): its
                # mistake, found before any state changed; the connection is fine.
                raise
            raise self._engine_failed("encoding a message", exc) from exc
        channel.write(frame)
        if self._ev_sent:
            self._events.websocket_message_sent(
                "text" if isinstance(data, str) else "binary",
                len(data),
            )

    async def _wait_turn(self, channel: Channel) -> None:
        """Wait for the turn, then for room to write; the caller writes before it awaits again."""
        await self._turns.acquire()
        try:
            if self.state is not State.OPEN:
                raise self._closed_error()
            while not channel.can_write():
                await channel.wait_writable()
                if self.state is not State.OPEN:
                    raise self._closed_error()
        finally:
            # Handing the turn on wakes the next sender, which runs only after
            # the caller's synchronous write: nothing can come in between.
            self._turns.release()

    async def send_stream(self, chunks: Iterable[StreamChunk] | AsyncIterable[StreamChunk]) -> None:
        """Send one message as fragments, a frame (or more) per chunk as it comes.

        Each chunk is written at once with FIN clear, and an empty frame with
        FIN ends the message, so a slow producer's data is not held back
        waiting for the next chunk. Streamed messages go uncompressed (RFC
        7692 §6 lets the sender choose per message): compressing one would
        need a compressor flush per fragment, and large streamed payloads are
        often compressed already. ``max_message_size`` does not apply: the
        message is never held whole here, and the peer's limit is its own.
        """
        if isinstance(chunks, str | bytes | bytearray | memoryview):
            # Iterable too, by character or by int: surely not what was meant.
            raise TypeError(
                f"send_stream() takes an iterable of chunks, not one {type(chunks).__name__}; "
                "send a whole message with send(), or wrap it: send_stream([data])"
            )
        if self.state is not State.OPEN:
            raise self._closed_error()
        channel = self._channel
        assert channel is not None
        await self._turns.acquire()
        opcode = 0  # the message's opcode once its first chunk is known
        started = False  # a frame of it is on the wire
        total = 0
        try:
            if self.state is not State.OPEN:
                raise self._closed_error()
            unwritten = 0
            frames = 0
            if isinstance(chunks, AsyncIterable):
                source = aiter(chunks)
                sync_source = None
            else:
                sync_source = iter(chunks)
            while True:
                if sync_source is None:
                    chunk = await anext(source, _END)
                else:
                    chunk = next(sync_source, _END)
                if chunk is _END:
                    break
                if isinstance(chunk, str):
                    kind = 1
                    payload: bytes | memoryview = chunk.encode("utf-8")
                elif isinstance(chunk, bytes | bytearray | memoryview):
                    kind = 2
                    payload = chunk if isinstance(chunk, bytes) else memoryview(chunk).cast("B")
                else:
                    raise TypeError(
                        f"send_stream() got a {type(chunk).__name__} chunk; a message is sent "
                        "from str chunks (text) or bytes-like chunks (binary)"
                    )
                if opcode != kind:
                    if opcode:
                        raise TypeError(
                            f"send_stream() got a {type(chunk).__name__} chunk in a "
                            f"{'text' if opcode == 1 else 'binary'} message; all chunks of one "
                            "message are str (text) or all bytes-like (binary)"
                        )
                    opcode = kind
                size = len(payload)
                total += len(chunk) if kind == 1 else size
                for offset in range(0, size, _FRAGMENT):
                    if offset or size > _FRAGMENT:
                        piece = bytes(payload[offset : offset + _FRAGMENT])
                    else:
                        piece = payload if isinstance(payload, bytes) else bytes(payload)
                    while not channel.can_write():
                        unwritten = frames = 0
                        await channel.wait_writable()
                    if self.state is not State.OPEN:
                        raise self._closed_error()
                    frame = self._conn.encode_fragment(0 if started else opcode, piece, False)
                    channel.write(frame)
                    started = True
                    unwritten += len(frame)
                    frames += 1
                    if unwritten >= _FRAGMENT or frames >= _YIELD_FRAMES:
                        unwritten = frames = 0
                        await anyio.lowlevel.checkpoint()
                        if self.state is not State.OPEN:
                            raise self._closed_error()
            while not channel.can_write():
                await channel.wait_writable()
            if self.state is not State.OPEN:
                raise self._closed_error()
            channel.write(self._conn.encode_fragment(0 if started else opcode or 2, b"", True))
        except BaseException as exc:
            if started and self.state is State.OPEN:
                self._abandon_stream(exc, total)
            raise
        finally:
            self._turns.release()
        if self._ev_sent:
            self._events.websocket_message_sent("text" if opcode == 1 else "binary", total)

    def _abandon_stream(self, exc: BaseException, sent: int) -> None:
        """A streamed send stopped half-way: fail the connection with 1011 (see the module doc)."""
        why = (
            f"its iterable raised {exc!r}"
            if isinstance(exc, Exception)
            else "the task sending it was cancelled"
        )
        self._fail(
            CloseCode.INTERNAL_ERROR,
            f"a streamed message was abandoned after {sent} bytes because {why}; a message "
            "cannot be left unfinished nor followed by another, so the connection was failed",
            exc,
        )

    async def ping(self, payload: bytes | None = None) -> float:
        if payload is not None and type(payload) is not bytes:
            if not isinstance(payload, bytes | bytearray | memoryview):
                raise TypeError(
                    f"a ping payload is bytes (or bytearray, memoryview), not "
                    f"{type(payload).__name__}; encode text first"
                )
            payload = bytes(payload)
        if self.state is not State.OPEN:
            raise self._closed_error()
        pings, latencies = self._pings, self._pings_latency
        if pings is None or latencies is None:
            pings, latencies = self._pings, self._pings_latency = {}, {}
        if payload is None:
            payload = os.urandom(4)
            while payload in pings:
                payload = os.urandom(4)
        elif payload in pings:
            raise ValueError(f"a ping with payload {payload!r} is already waiting for its pong")
        if len(payload) > 125:
            raise ValueError("ping payloads carry at most 125 bytes (RFC 6455 §5.5)")
        waiter = self._runtime.waiter()
        pings[payload] = (waiter, self._runtime.time())
        if not self._encode_and_write(self._conn.encode_ping, payload):
            raise self._closed_error()
        self._events.websocket_ping_sent(payload)
        try:
            await waiter.wait()
        finally:
            pings.pop(payload, None)
            latency = latencies.pop(payload, None)
        if latency is None:
            raise self._closed_error()
        return latency

    # ---------------------------------------------------------------- receive

    async def receive(self) -> EngineEvent:
        if self._stream_implicit is not None:
            self.close_stream(False)
        if self._stream_open:
            raise RuntimeError(
                "receive() was called while a message stream is open; leave the "
                "receive_stream() block first (messages go to one consumer)"
            )
        if self._streaming:
            return await self._received_streaming(await self._take())
        inbox = self._inbox
        if not inbox:
            inbox = await self._wait_for_inbox()
        event = inbox.popleft()
        if event.opcode is _TEXT or event.opcode is _BINARY:
            self._inbox_bytes -= len(event.data)
        if self._paused & _INBOX_FULL:
            self._drained()
        return event

    # -------------------------------------------------------------- streaming

    async def _received_streaming(self, event: EngineEvent) -> EngineEvent:
        """``receive()`` with streaming on: assemble a chunked message (max_message_size)."""
        opcode = event.opcode
        if opcode is _CONT:
            return await self._assemble(event)  # type: ignore[arg-type]
        limit = self._max_message
        if (
            (opcode is _TEXT or opcode is _BINARY)
            and limit is not None
            and len(event.data) > limit // 4
        ):
            # A whole frame within max_frame_size and max_stream_size, but maybe
            # not within max_message_size (the header rules use the stream limit).
            self._check_size(_nbytes(event.data))
        return event

    def _check_size(self, size: int) -> None:
        limit = self._max_message
        if limit is None or size <= limit:
            return
        message = (
            f"received a message of at least {size} bytes; max_message_size is {limit} "
            "(streaming is on, so receive() enforces it as it assembles a message: use "
            "receive_stream() for larger messages, or raise max_message_size)"
        )
        self._fail(CloseCode.MESSAGE_TOO_BIG, message, PayloadTooBig(message))
        raise self._closed_error()

    async def _take(self) -> EngineEvent:
        """The next event of the inbox for the one consumer, with streaming on.

        ``receive`` without streaming takes the same steps inline (the hot
        path: no extra call when a message is waiting); both wait through
        :meth:`_wait_for_inbox` and resume reading through :meth:`_drained`.
        """
        inbox = self._inbox
        if not inbox:
            inbox = await self._wait_for_inbox()
        event = inbox.popleft()
        if event.opcode is _TEXT or event.opcode is _BINARY or event.opcode is _CONT:
            self._inbox_bytes -= len(event.data)
        self._drained()
        return event

    async def _wait_for_inbox(self) -> deque[EngineEvent]:
        """Wait until the inbox holds an event, for the one consumer; raise once closed."""
        while not (inbox := self._inbox):
            if self.state is State.CLOSED:
                raise self._closed_error()
            if self._recv_waiter is not None:
                raise RuntimeError(
                    "receive() is already waiting in another task; messages go to one "
                    "consumer (use ws.split() and give the receiver to one task)"
                )
            waiter = self._runtime.waiter()
            self._recv_waiter = waiter
            try:
                await waiter.wait()
            finally:
                if self._recv_waiter is waiter:
                    self._recv_waiter = None
        return inbox

    def _drained(self) -> None:
        if self._paused & _INBOX_FULL and (
            len(self._inbox or ()) <= self._inbox_max // 2
            and self._inbox_bytes <= self._inbox_max_bytes // 2
        ):
            self._unpause(_INBOX_FULL)

    async def _next_chunk(self) -> Chunk:
        """The next piece of the message being taken; control events are set aside."""
        while True:
            event = await self._take()
            if event.opcode is _CONT:
                return event  # type: ignore[return-value]
            self._set_aside(event)

    def _set_aside(self, event: EngineEvent) -> None:
        if self._aside is None:
            self._aside = [event]
        else:
            self._aside.append(event)

    def _restore_aside(self) -> None:
        """Control events met inside a message come next (``deliver_control_frames``)."""
        if self._aside:
            # Set aside from the inbox, so it exists.
            self._inbox.extendleft(reversed(self._aside))  # type: ignore[union-attr]
            self._aside = None

    async def _assemble(self, first: Chunk) -> Message:
        """A whole message from its pieces, for ``receive()``; cancelling it loses nothing."""
        parts: list[str | bytes] = [first.data]
        size = _nbytes(first.data)
        self._check_size(size)
        last = first
        try:
            while not last.fin:
                last = await self._next_chunk()
                parts.append(last.data)
                size += _nbytes(last.data)
                self._check_size(size)
        except BaseException:
            if self.state is not State.CLOSED:
                # Put the pieces back: the next receive() (or stream) goes on from
                # there. Once closed, the message can never be completed: dropped.
                data = "".join(parts) if isinstance(first.data, str) else b"".join(parts)  # type: ignore[arg-type]
                self._restore_aside()
                self._inbox.appendleft(Chunk(data, False))  # type: ignore[union-attr]
                self._inbox_bytes += len(data)
            raise
        finally:
            self._restore_aside()
        if isinstance(first.data, str):
            return Message(parts[0] if len(parts) == 1 else "".join(parts), _TEXT)  # type: ignore[arg-type]
        return Message(parts[0] if len(parts) == 1 else b"".join(parts), _BINARY)  # type: ignore[arg-type]

    async def open_stream(self, implicit: object | None = None) -> Message | Chunk:
        """Start taking the next data message in pieces: its whole self, or its first piece.

        ``implicit``: the stream object, when it is iterated without its
        ``async with`` block, so nothing tells when it is left early; the next
        ``receive`` or stream then leaves it, as the block's exit would have.
        """
        if self._stream_implicit is not None:
            self.close_stream(False)
        if not self._streaming:
            raise RuntimeError(
                "receive_stream() needs streaming=True when the WebSocket is opened "
                "(client.websocket(url, streaming=True)); receive() returns whole messages"
            )
        if self._stream_open:
            raise RuntimeError(
                "a message stream is already open; leave its receive_stream() block first "
                "(messages go to one consumer)"
            )
        self._stream_open = True
        self._stream_implicit = implicit
        try:
            while True:
                event = await self._take()
                opcode = event.opcode
                if opcode is _TEXT or opcode is _BINARY or opcode is _CONT:
                    return event  # type: ignore[return-value]
                self._set_aside(event)
        except BaseException:
            self._stream_open = False
            self._stream_implicit = None
            self._restore_aside()
            raise

    def owns_implicit_stream(self, stream: object) -> bool:
        """Whether ``stream``, iterated without its block, is still the open one."""
        return self._stream_implicit is stream

    async def next_chunk(self) -> Chunk:
        """The next piece of the message an open stream is taking."""
        return await self._next_chunk()

    def close_stream(self, finished: bool) -> None:
        """Leave a message stream; unless its last piece was taken, drop the rest of the message."""
        self._stream_open = False
        self._stream_implicit = None
        if not finished:
            inbox = self._inbox
            kept: list[EngineEvent] = []
            while inbox:
                event = inbox.popleft()
                if event.opcode is _CONT:
                    self._inbox_bytes -= len(event.data)
                    if event.fin:  # type: ignore[union-attr]
                        break
                else:
                    kept.append(event)
            else:
                # The rest has not arrived: drop it as it does.
                self._discarding = self.state is not State.CLOSED
            if kept:
                inbox.extendleft(reversed(kept))  # type: ignore[union-attr]
            self._drained()
        self._restore_aside()

    # ------------------------------------------------------------------ close

    def start_close(self, code: int, reason: str) -> None:
        """Send Close and arm the close timer; the rest happens as bytes arrive."""
        if self.state is not State.OPEN:
            return
        self._set_close(code, reason, by_peer=False)
        self._events.websocket_closing(code, reason, False)
        if not self._encode_and_write(self._conn.encode_close, code, reason):
            return
        if self._channel is not None:
            self._close_mark = self._channel.write_mark()
        # The answer must be read even if nobody consumes the inbox any more,
        # and pings are no longer answered, so unread pongs cannot pile up:
        # neither reason to stop reading holds while closing.
        self._unpause(_INBOX_FULL | _WRITES_BACKED_UP)
        timeout = self._options.close_timeout
        if timeout is not None:
            # One timer at a time: most closes end before the halfway mark,
            # and a second timer armed per close is a heap entry to add and
            # cancel on every connection.
            self._close_deadline = self._runtime.time() + timeout
            self._close_timer = self._runtime.call_later(timeout / 2, self._sample_close)

    def _sample_close(self) -> None:
        """Halfway through close_timeout: where the write buffer stands (see _close_timed_out).

        Then the same timer runs on to the end of close_timeout.
        """
        self._close_timer = None
        if self.state is State.CLOSED:
            self._abort_later()
            return
        if self._channel is not None:
            self._flushed_at_close = self._channel.flushed()
        left = max(0.0, self._close_deadline - self._runtime.time())
        self._close_timer = self._runtime.call_later(left, self._close_timed_out)

    async def close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        check_close_code(code)
        if len(reason.encode("utf-8")) > 123:
            raise ValueError("close reason must encode to at most 123 bytes (RFC 6455 §5.5)")
        self.start_close(code, reason)
        try:
            # Until CLOSED and the socket is gone: the abort timer runs until
            # the channel is lost, and a second after it aborted, for a
            # transport that ignores even abort() (see _abort_channel). The
            # waiters wake once, when both hold (see _finish).
            while self.state is not State.CLOSED or self._abort_timer is not None:
                waiter = self._runtime.waiter()
                if self._close_waiters is None:
                    self._close_waiters = []
                self._close_waiters.append(waiter)
                await waiter.wait()
            if self._channel is not None and self._channel_lost:
                # Lost, then released: at once on asyncio; a channel that
                # closes its stream in a task (trio, HTTP/2) finishes that.
                await self._channel.wait_closed()
        except BaseException:
            # The caller stopped waiting (cancelled, or its own deadline):
            # the socket must not outlive it waiting on the peer, which may
            # take close_timeout or more (its event loop may close first).
            if self._channel is not None and not self._channel_lost:
                self._channel.abort()
            raise

    def abandon(self) -> None:
        """Every handle is gone (dropped or garbage-collected): close with 1001."""
        if self.state is State.OPEN:
            self.start_close(CloseCode.GOING_AWAY, "")

    def abandon_soon(self) -> None:
        """:meth:`abandon` from any thread, on the event loop's next turn.

        For garbage-collection finalizers, which may run outside the loop's
        callbacks or on another thread, where starting a close directly
        would race the loop.
        """
        self._runtime.call_soon_threadsafe(self.abandon)

    def _close_timed_out(self) -> None:
        self._close_timer = None  # fired: _finish must not keep it as the abort timer
        if self.state is State.CLOSED:
            self._abort_later()
            return
        channel = self._channel
        mark = self._close_mark
        what = "the peer did not answer our Close"
        if channel is not None and mark is not None and (flushed := channel.flushed()) < mark:
            # Our Close never left the write buffer: the peer could not have
            # answered it. Say so, rather than blame the peer's silence. The
            # buffer is compared with its state halfway through, not when the
            # Close was queued: the kernel may still have been taking bytes
            # then, with the peer reading none.
            if flushed == self._flushed_at_close:
                self._write_stalled(
                    f"our Close frame could not be sent within close_timeout="
                    f"{self._options.close_timeout}s: the peer took none of the bytes queued "
                    "before it"
                )
                return
            what = (
                f"our Close was still queued behind {mark - flushed} bytes that the peer "
                "was reading too slowly"
            )
        error = ConnectionClosedError(
            CloseCode.ABNORMAL_CLOSURE,
            "",
            by_peer=None,
            message=(
                f"{what} within close_timeout={self._options.close_timeout}s; the connection "
                "was dropped (1006)"
            ),
        )
        self._finish(CloseCode.ABNORMAL_CLOSURE, "", None, error)
        if self._channel is not None:
            self._channel.abort()

    def _set_close(self, code: int, reason: str, by_peer: bool) -> None:
        self.state = State.CLOSING
        self.close_code = code
        self.close_reason = reason
        self.closed_by_peer = by_peer

    def _fail(
        self,
        code: int,
        message: str,
        cause: BaseException | None,
        error_type: type[ConnectionClosedError] = ConnectionClosedError,
    ) -> None:
        """Fail the connection (RFC 6455 §7.1.7): send Close with ``code`` if we still may."""
        if self.state is State.CLOSED:
            return
        if self.state is State.OPEN:
            try:
                self._write(self._conn.encode_close(code, ""))
            except Exception:
                pass
        error = error_type(code, "", by_peer=False, message=f"{message} (closed with {code})")
        error.__cause__ = cause
        self._finish(code, "", False, error)

    def _finish(
        self, code: int, reason: str, by_peer: bool | None, error: ConnectionClosed | None
    ) -> None:
        """Reach CLOSED: release the socket, timers and every waiter, exactly once."""
        if self.state is State.CLOSED:
            return
        self.state = State.CLOSED
        self.close_code = code
        self.close_reason = reason
        self.closed_by_peer = by_peer
        self._error = error
        close_timer, self._close_timer = self._close_timer, None
        for handle in (self._heartbeat, self._pong_timer, self._stall_timer):
            if handle is not None:
                handle.cancel()
        channel = self._channel
        if channel is None or self._channel_lost:
            if close_timer is not None:
                close_timer.cancel()
        else:
            timeout = self._options.close_timeout
            limit = 10.0 if timeout is None else timeout
            # A peer that neither closes nor reads must not keep the socket.
            # A close timer still armed becomes this abort timer: when it
            # fires it re-arms itself for the time left (_abort_later), so a
            # close costs one timer, not one cancelled and another armed.
            # Armed before channel.close(): a channel may report the socket
            # gone from inside it (HTTP/2), and connection_lost must find it.
            self._close_deadline = self._runtime.time() + limit + 1.0
            if close_timer is not None:
                self._abort_timer = close_timer
            else:
                self._abort_timer = self._runtime.call_later(limit + 1.0, self._abort_channel)
            # The server closes TCP first (RFC 6455 §7.1.1); give it
            # close_timeout to do so, reading and discarding meanwhile. After
            # a failure too: closing a socket with unread bytes makes the
            # kernel send a reset, which can destroy the Close we just wrote
            # before the server reads it.
            channel.close(linger=limit)
        if self._pings:
            for waiter, _ in self._pings.values():
                waiter.wake()
        if self._abort_timer is None:
            # No socket left to wait for; otherwise _socket_gone wakes them.
            self._socket_gone()
        if self._recv_waiter is not None:
            self._recv_waiter.wake()
            self._recv_waiter = None
        if error is None:
            self._events.websocket_closed(code, reason)
        else:
            self._events.websocket_failed(error)

    def _abort_later(self) -> None:
        """A close timer that fired after CLOSED: kept as the abort timer (see _finish)."""
        if self._abort_timer is None:
            return  # the socket is gone already
        left = self._close_deadline - self._runtime.time()
        if left > 0:
            self._abort_timer = self._runtime.call_later(left, self._abort_channel)
        else:
            self._abort_channel()

    def _abort_channel(self) -> None:
        """The peer neither closed nor read for close_timeout + 1 s: drop the socket.

        The same timer then gives :meth:`close` one more second to see the
        channel lost, and stops it waiting after that.
        """
        if self._channel is not None:
            self._channel.abort()
        self._abort_timer = self._runtime.call_later(1.0, self._socket_gone)

    def _socket_gone(self) -> None:
        """The channel is lost (or we stopped waiting for it): :meth:`close` may return."""
        self._abort_timer = None
        waiters, self._close_waiters = self._close_waiters, None
        for waiter in waiters or ():
            waiter.wake()

    # -------------------------------------------------------------- heartbeat
    #
    # The pong deadline runs from the moment the ping left our write buffer
    # (the kernel has it), not from when it was queued: behind a large
    # message a ping can wait longer than pong_timeout before the peer could
    # possibly see it. While it waits, the buffer is watched; if not one byte
    # of it moves for a whole pong_timeout the peer has stopped reading, and
    # that is reported as WriteStalled, not PongTimeout (no pong can come for
    # a ping that was never delivered). The same bound applies to both: a
    # peer that shows no sign of life, reading or answering, for pong_timeout
    # is given up on, one knob for one promise.

    def _heartbeat_tick(self) -> None:
        interval = self._options.ping_interval
        if self.state is not State.OPEN or interval is None:
            return
        self._heartbeat = self._runtime.call_later(interval, self._heartbeat_tick)
        if self._ping_mark is not None:
            # The last heartbeat ping has not left our buffer yet: another
            # would only queue behind it. The watch on the buffer goes on.
            return
        payload = b"openwire-heartbeat"
        if not self._encode_and_write(self._conn.encode_ping, payload):
            return
        self._events.websocket_ping_sent(payload)
        channel = self._channel
        if self._options.pong_timeout is None or self._pong_timer is not None or channel is None:
            return
        mark = channel.write_mark()
        if channel.flushed() >= mark:
            self._ping_left()
            return
        self._ping_mark = mark
        channel.call_when_flushed(mark, self._ping_left)
        self._stall_seen = channel.flushed()
        self._stall_checks = 0
        self._arm_stall_check()

    def _ping_left(self) -> None:
        """The heartbeat ping has left our write buffer: its pong deadline starts now."""
        self._ping_mark = None
        if self._stall_timer is not None:
            self._stall_timer.cancel()
            self._stall_timer = None
        timeout = self._options.pong_timeout
        if self.state is not State.OPEN or timeout is None or self._channel is None:
            return
        self._heartbeat_sent_at = self._runtime.time()
        self._flushed_at_ping = self._channel.flushed()
        self._queued_at_ping = self._channel.write_mark()
        self._deadline_extended = False
        self._pong_timer = self._runtime.call_later(timeout, self._pong_deadline)

    def _arm_stall_check(self) -> None:
        timeout = self._options.pong_timeout
        assert timeout is not None
        self._stall_timer = self._runtime.call_later(timeout / _STALL_SAMPLES, self._stall_check)

    def _stall_check(self) -> None:
        """One look at a write buffer holding the heartbeat ping: has any of it moved?"""
        self._stall_timer = None
        channel = self._channel
        if self.state is not State.OPEN or self._ping_mark is None or channel is None:
            return
        flushed = channel.flushed()
        if flushed != self._stall_seen or self._paused & _INBOX_FULL:
            # It moves (a slow reader is alive), or our own reading is paused
            # because the application is slow: a peer blocked writing to us
            # may not read until we do, and that is not its fault.
            self._stall_seen = flushed
            self._stall_checks = 0
        else:
            self._stall_checks += 1
            if self._stall_checks >= _STALL_SAMPLES:
                self._write_stalled(
                    f"the heartbeat ping could not leave our write buffer: no byte of it "
                    f"was taken by the peer for pong_timeout={self._options.pong_timeout}s"
                )
                return
        self._arm_stall_check()

    def _write_stalled(self, what: str) -> None:
        """The peer stopped reading: drop the connection with 1006 (see WriteStalled)."""
        channel = self._channel
        pending = 0 if channel is None else channel.write_mark() - channel.flushed()
        error = WriteStalled(
            CloseCode.ABNORMAL_CLOSURE,
            "",
            by_peer=None,
            message=(
                f"{what} ({pending} bytes still waiting to be sent); the peer stopped "
                "reading, so no Close could reach it and the connection was dropped (1006). "
                "If the peer is known to pause that long, raise pong_timeout"
            ),
        )
        self._finish(CloseCode.ABNORMAL_CLOSURE, "", None, error)
        if channel is not None:
            channel.abort()

    def _pong_deadline(self) -> None:
        self._pong_timer = None
        if self.state is State.CLOSED:
            return
        # Any inbound bytes count as proof of life, and a paused reader means
        # *we* are slow, not the peer: neither is a timeout.
        if self._last_rx >= self._heartbeat_sent_at or self._paused & _INBOX_FULL:
            return
        channel = self._channel
        if channel is not None:
            flushed = channel.flushed()
            if flushed == self._flushed_at_ping < channel.write_mark():
                if not (self._flushed_at_ping < self._queued_at_ping or self._deadline_extended):
                    # Every byte waiting was queued after the ping left (a
                    # later heartbeat ping, say), maybe a moment ago: give them
                    # one sampling period to move before calling it a stall.
                    timeout = self._options.pong_timeout
                    assert timeout is not None
                    self._deadline_extended = True
                    self._pong_timer = self._runtime.call_later(
                        timeout / _STALL_SAMPLES, self._pong_deadline
                    )
                    return
                # Bytes wait in our buffer and none has left since the ping
                # did, for pong_timeout: the peer stopped reading, it is not
                # merely silent.
                self._write_stalled(
                    f"no byte we wrote was taken by the peer for "
                    f"pong_timeout={self._options.pong_timeout}s, and the heartbeat ping "
                    "was not answered"
                )
                return
        self._fail(
            CloseCode.INTERNAL_ERROR,
            f"no frame arrived within pong_timeout={self._options.pong_timeout}s after a "
            "heartbeat ping left our write buffer; the peer is unresponsive",
            None,
            PongTimeout,
        )

    # ------------------------------------------------------------------ errors

    def _closed_error(self) -> ConnectionClosed:
        """What ``send``/``receive``/``ping`` raise once the connection is closing or closed."""
        if self._error is not None:
            return self._error
        code = self.close_code if self.close_code is not None else CloseCode.ABNORMAL_CLOSURE
        # 1005 (an empty Close) is a clean close handshake too.
        ok = code in OK_CODES or code == CloseCode.NO_STATUS_RCVD
        cls = ConnectionClosedOK if ok else ConnectionClosedError
        return cls(code, self.close_reason, by_peer=self.closed_by_peer)


def _nbytes(data: str | bytes) -> int:
    """A message's size in bytes, as the limits count it (UTF-8 for text)."""
    if isinstance(data, bytes) or data.isascii():
        return len(data)
    return len(data.encode("utf-8"))
