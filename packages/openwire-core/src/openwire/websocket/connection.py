"""The user-facing WebSocket and its split halves.

These are thin handles over one :class:`~openwire.websocket.session.Session`.
Handles that can send (the ``WebSocket`` itself and each
:class:`WebSocketSender`) own the connection: when the last of them is closed,
dropped or garbage-collected, the session closes with 1001 (going away) and
releases its socket and tasks within ``close_timeout``. A receiver alone does
not keep the connection open, exactly as in the original Rust design.
"""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from types import TracebackType
from typing import TYPE_CHECKING

from openwire.engines.contract import EngineEvent, Message
from openwire.errors import ConnectionClosedOK
from openwire.protocol.frames import CloseCode, Opcode
from openwire.websocket.session import Session, State, StreamChunk

if TYPE_CHECKING:
    from openwire.http.models import Response

__all__ = ["MessageStream", "WebSocket", "WebSocketReceiver", "WebSocketSender"]


class _Ownership:
    """Counts live sending handles; the last one to go closes with 1001."""

    __slots__ = ("count", "session")

    def __init__(self, session: Session) -> None:
        self.session = session
        self.count = 0

    def acquire(self, handle: object) -> None:
        self.count += 1
        weakref.finalize(handle, self.release)

    def release(self) -> None:
        self.count -= 1
        if self.count == 0 and self.session.state is State.OPEN:
            # Finalizers may run outside the event loop's callbacks (GC).
            self.session.abandon_soon()


class _Base:
    __slots__ = ("__weakref__", "_session")

    _session: Session

    @property
    def state(self) -> State:
        """``State.OPEN``, ``State.CLOSING`` or ``State.CLOSED``."""
        return self._session.state

    @property
    def close_code(self) -> int | None:
        """The close code once closing started (1006 if the connection dropped)."""
        return self._session.close_code

    @property
    def close_reason(self) -> str:
        return self._session.close_reason


class _SendMixin(_Base):
    __slots__ = ()

    async def send(self, data: str | bytes | bytearray | memoryview) -> None:
        """Send a text (``str``) or binary (``bytes``-like) message.

        Waits while the send queue is full; nothing is dropped. Safe to call
        from many tasks at once: messages never interleave on the wire, and a
        cancelled ``send`` never leaves half a frame behind.

        Raises :class:`~openwire.errors.ConnectionClosed` once closing has
        started, :class:`~openwire.errors.MessageTooBig` over
        ``max_message_size``.
        """
        if not isinstance(data, str | bytes):
            data = bytes(data)
        await self._session.send(data)

    async def send_stream(self, chunks: Iterable[StreamChunk] | AsyncIterable[StreamChunk]) -> None:
        """Send one message made of ``chunks``, as fragments, as they come.

        ``chunks`` is a sync or async iterable of ``str`` (a text message) or
        of bytes-like objects (a binary message); mixing them is a
        ``TypeError``. Each chunk goes out at once as one frame, or several
        of at most 1 MiB, and an empty final frame ends the message; an empty
        iterable sends an empty binary message. The message is never held
        whole, is not held to ``max_message_size``, and goes uncompressed.

        While it runs, other ``send`` calls wait (in order) rather than
        interleave; pongs and heartbeat pings still go out between fragments.
        If the iterable raises or the call is cancelled after the first
        fragment left, the message can never be finished, so the connection
        is failed with 1011 and every later call raises
        :class:`~openwire.errors.ConnectionClosed`; the original exception
        propagates. Before the first fragment, nothing is sent and the
        connection stays open.
        """
        await self._session.send_stream(chunks)

    async def ping(self, payload: bytes | None = None) -> float:
        """Send a ping; return the round-trip time in seconds when its pong arrives.

        ``payload`` (at most 125 bytes) defaults to 4 random bytes. Raises
        :class:`~openwire.errors.ConnectionClosed` if the connection closes
        first.
        """
        return await self._session.ping(payload)

    async def close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        """Start the close handshake and wait until the connection is closed.

        Idempotent. Waits at most ``close_timeout`` for the peer's Close, then
        drops TCP. Raises ``ValueError`` for a code that may not be sent
        (RFC 6455 §7.4) or a reason over 123 bytes.
        """
        await self._session.close(code, reason)


class _ReceiveMixin(_Base):
    __slots__ = ()

    async def receive(self) -> Message:
        """The next message; waits for one.

        Raises :class:`~openwire.errors.ConnectionClosedOK` after a normal
        close and :class:`~openwire.errors.ConnectionClosedError` otherwise
        (with ``code``, ``reason`` and ``by_peer``), once every message that
        arrived before the close has been returned. Cancelling it loses no
        message. With ``deliver_control_frames=True`` this also returns
        Ping, Pong and Close events.
        """
        return await self._session.receive()  # type: ignore[return-value]

    async def receive_event(self) -> EngineEvent:
        return await self._session.receive()

    def receive_stream(self) -> MessageStream:
        """The next message in pieces: ``async with ws.receive_stream() as stream``.

        Needs ``streaming=True`` when the WebSocket is opened. Entering the
        block waits for the message to begin (``stream.is_text`` then tells
        its type); ``async for chunk in stream`` yields ``str`` pieces of a
        text message (UTF-8 checked across pieces) or ``bytes`` pieces of a
        binary one, as its frames arrive. Leaving the block before the last
        piece discards the rest of the message.
        """
        return MessageStream(self._session)

    def __aiter__(self) -> AsyncIterator[Message]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Message]:
        """Messages until a normal close (ends quietly) or an abnormal one (raises)."""
        receive = self._session.receive
        while True:
            try:
                yield await receive()  # type: ignore[misc]
            except ConnectionClosedOK:
                return


class MessageStream:
    """One received message, as the pieces of its frames arrive (``ws.receive_stream()``).

    Use it as an async context manager, then iterate: pieces are ``str`` for
    a text message and ``bytes`` for a binary one, never empty. The
    iteration ends after the message's last piece; it raises
    :class:`~openwire.errors.ConnectionClosed` if the connection ends first
    (the message is incomplete), :class:`~openwire.errors.ConnectionClosedError`
    with 1007 at the first invalid UTF-8 of a text message. Leaving the block
    early discards the rest of the message, so the next ``receive`` or
    stream starts at the next message.
    """

    __slots__ = ("_first", "_last_taken", "_session", "opcode")

    def __init__(self, session: Session) -> None:
        self._session = session
        self._first: str | bytes | None = None
        self._last_taken = False
        self.opcode = Opcode.CONTINUATION
        """``Opcode.TEXT`` or ``Opcode.BINARY`` once the block is entered."""

    @property
    def is_text(self) -> bool:
        return self.opcode == Opcode.TEXT

    async def __aenter__(self) -> MessageStream:
        event = await self._session.open_stream()
        self._first = event.data
        self.opcode = Opcode.TEXT if isinstance(event.data, str) else Opcode.BINARY
        # A whole message (it arrived in one piece) has no later piece.
        self._last_taken = event.opcode != Opcode.CONTINUATION or bool(event.fin)  # type: ignore[union-attr]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._first = None
        self._session.close_stream(self._last_taken)
        self._last_taken = True  # iterating after the block ends at once

    def __aiter__(self) -> MessageStream:
        return self

    async def __anext__(self) -> str | bytes:
        if self.opcode is Opcode.CONTINUATION and not self._last_taken:
            raise RuntimeError(
                "iterate a message stream inside its block: "
                "async with ws.receive_stream() as stream: async for chunk in stream: ..."
            )
        first = self._first
        if first is not None:
            self._first = None
            if first:
                return first
        while not self._last_taken:
            chunk = await self._session.next_chunk()
            self._last_taken = chunk.fin
            if chunk.data:
                return chunk.data
        raise StopAsyncIteration


class WebSocket(_SendMixin, _ReceiveMixin):
    """An open WebSocket connection (after a successful handshake).

    Use it as an async context manager to close with 1000 on exit.
    """

    __slots__ = ("_owner", "engine", "extensions", "response", "subprotocol")

    def __init__(
        self,
        session: Session,
        response: Response,
        subprotocol: str | None,
        extensions: list[str],
        engine: str,
    ) -> None:
        self._session = session
        self.response = response
        """The 101 response (status and headers), as interceptors saw it."""
        self.subprotocol = subprotocol
        """The subprotocol the server chose, or ``None``."""
        self.extensions = extensions
        """Negotiated extensions (``Sec-WebSocket-Extensions`` values)."""
        self.engine = engine
        """Name of the engine producing the frames."""
        self._owner = _Ownership(session)
        self._owner.acquire(self)

    def split(self) -> tuple[WebSocketSender, WebSocketReceiver]:
        """Two handles for two tasks: a sender (shareable) and a receiver (one consumer).

        The connection stays open while any sender (or this WebSocket) is
        alive; dropping the last one closes it with 1001.
        """
        return WebSocketSender(self._session, self._owner), WebSocketReceiver(self._session)

    async def __aenter__(self) -> WebSocket:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return (
            f"<WebSocket {self._session.state.value} engine={self.engine!r} "
            f"subprotocol={self.subprotocol!r}>"
        )


class WebSocketSender(_SendMixin):
    """The sending half; share it between tasks freely."""

    __slots__ = ()

    def __init__(self, session: Session, owner: _Ownership) -> None:
        self._session = session
        owner.acquire(self)


class WebSocketReceiver(_ReceiveMixin):
    """The receiving half; meant for one consumer task."""

    __slots__ = ()

    def __init__(self, session: Session) -> None:
        self._session = session
