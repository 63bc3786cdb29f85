"""The user-facing WebSocket and its split halves.

These are thin handles over one :class:`~openwire.websocket.session.Session`.
Handles that can send (the ``WebSocket`` itself and each
:class:`WebSocketSender`) own the connection: when the last of them is closed,
dropped or garbage-collected, the session closes with 1001 (going away) and
releases its socket and tasks within ``close_timeout``. A receiver alone does
not keep the connection open, exactly as in the original Rust design.

Typed messages. ``send`` takes exactly the four types a message can be
(``str`` for text; ``bytes``, ``bytearray``, ``memoryview`` for binary) and
refuses the rest with a ``TypeError``, because ``bytes(123)`` would send 123
zero bytes. ``receive_text``/``receive_bytes``/``receive_json`` and
``iter(decode=...)`` return plain values; each takes one message from the
session, which fires the message events exactly once whichever way it is
taken. ``timeout=`` uses the runtime's own deadline (asyncio's ``timeout``,
trio's cancel scope): ``Session.receive`` takes a message off its queue only
after its wait ends, so a deadline can never lose one.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, overload

from openwire.config import JSONDumps, JSONLoads, compact_json_dumps
from openwire.engines.contract import EngineEvent, Message
from openwire.errors import (
    ConnectionClosed,
    ConnectionClosedOK,
    OpenWireError,
    ReceiveTimeout,
    UnexpectedMessageType,
)
from openwire.http.models import Response
from openwire.protocol.frames import CloseCode, Opcode
from openwire.websocket.session import Session, State, StreamChunk

if TYPE_CHECKING:
    from openwire.http.headers import Headers
    from openwire.http.models import Request
    from openwire.io.runtime import Runtime

__all__ = ["Decode", "MessageStream", "WebSocket", "WebSocketReceiver", "WebSocketSender"]

Decode = Literal["text", "bytes", "json"]
"""What ``ws.iter(decode=...)`` turns each message into; ``None`` keeps :class:`Message`."""

_WS_SCHEMES = {"http": "ws", "https": "wss"}
_TEXT = Opcode.TEXT
_BINARY = Opcode.BINARY


class _Shared(NamedTuple):
    """What every handle of one connection uses besides the session."""

    runtime: Runtime
    json_dumps: JSONDumps
    json_loads: JSONLoads


class _Handshake(NamedTuple):
    """What ``ws.response`` is made of, kept instead of the response itself.

    A :class:`~openwire.http.models.Response` carries the state of a body
    (hooks, history, extensions) that a handshake's answer never has, and
    its headers are a list of pairs of strings: together ~1.4 KiB per open
    connection, for an attribute most code never reads. The headers are
    kept as one string (:func:`_pack_headers`) until then.
    """

    status: int
    headers: str | Headers
    request: Request | None
    http_version: str
    reason: str


# Between names and values in a packed header list; no HTTP parser lets it
# through in a field, and a header holding it anyway is kept unpacked.
_SEP = "\0"


def _pack_headers(headers: Headers) -> str | Headers:
    """The fields as one string (names and values between ``_SEP``), or as they are."""
    parts = [part for pair in headers.items() for part in pair]
    if any(_SEP in part for part in parts):
        return headers
    return _SEP.join(parts)


def _unpack_headers(packed: str | Headers) -> list[tuple[str, str]] | Headers:
    if not isinstance(packed, str):
        return packed
    if not packed:
        return []
    parts = packed.split(_SEP)
    return list(zip(parts[::2], parts[1::2], strict=True))


class _Ownership:
    """Counts live sending handles; the last one to go closes with 1001.

    Each handle releases its count in ``__del__`` (see :class:`_SendMixin`)
    rather than through a ``weakref.finalize``: a finalizer is ~300 bytes per
    connection, kept for as long as the connection is open, and it is a
    root. A session can reach its handles (the error it ended with keeps the
    frames it was raised through, and their locals), so a finalizer holding
    the session kept every failed connection, with its buffers, for the life
    of the process; a cycle of handle and session is freed by the collector.
    """

    __slots__ = ("count", "session")

    def __init__(self, session: Session) -> None:
        self.session = session
        self.count = 0

    def acquire(self) -> None:
        self.count += 1

    def release(self) -> None:
        self.count -= 1
        if self.count == 0 and self.session.state is State.OPEN:
            # Finalizers may run outside the event loop's callbacks (GC).
            self.session.abandon_soon()


class _Base:
    __slots__ = ("__weakref__", "_session", "_shared")

    _session: Session
    _shared: _Shared

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

    @property
    def close_error(self) -> ConnectionClosed | None:
        """How the connection ended, typed, once it is closing or closed; ``None`` while open.

        The exception ``send``/``receive`` raise from now on:
        :class:`~openwire.errors.ConnectionClosedOK` after a clean close,
        :class:`~openwire.errors.ConnectionClosedError` or a subclass naming
        the cause (:class:`~openwire.errors.PongTimeout`, ...) otherwise. For
        code that learns of the end without catching it, as a reconnecting
        loop does.
        """
        if self._session.state is State.OPEN:
            return None
        return self._session._closed_error()


class _SendMixin(_Base):
    __slots__ = ("_owner",)

    _owner: _Ownership

    def __del__(self) -> None:
        # Only handles that got as far as acquiring hold a count.
        owner = getattr(self, "_owner", None)
        if owner is not None:
            try:
                owner.release()
            except Exception:  # interpreter shutdown: the loop (and modules) may be gone
                pass

    async def send(
        self, data: str | bytes | bytearray | memoryview, compress: bool | None = None
    ) -> None:
        """Send a text (``str``) or binary (``bytes``, ``bytearray``, ``memoryview``) message.

        Waits while the send queue is full; nothing is dropped. Safe to call
        from many tasks at once: messages never interleave on the wire, and a
        cancelled ``send`` never leaves half a frame behind.

        ``compress`` (with permessage-deflate negotiated): ``None`` follows
        the policy (compressed from ``Deflate.min_size`` up), ``False`` sends
        this message uncompressed, ``True`` compresses it even if smaller.
        Without the extension it changes nothing.

        Raises ``TypeError`` for any other type (use :meth:`send_json` for
        dicts and lists), ``UnicodeEncodeError`` for a ``str`` with no UTF-8
        form (a lone surrogate; the connection stays open),
        :class:`~openwire.errors.ConnectionClosed` once closing has started,
        :class:`~openwire.errors.MessageTooBig` over ``max_message_size``.
        """
        if not isinstance(data, str | bytes):
            data = _as_bytes(data)
        await self._session.send(data, compress)

    async def send_json(
        self, obj: Any, *, binary: bool = False, compress: bool | None = None
    ) -> None:
        """Send ``obj`` serialised by the client's ``json_dumps``, as one message.

        A text message by default, also when ``json_dumps`` returns ``bytes``
        (orjson): JSON is text, and text is what most servers expect. With
        ``binary=True`` a binary message carrying the UTF-8 JSON. ``compress``
        is :meth:`send`'s per-message override. Raises what ``json_dumps``
        raises for a value it cannot serialise, and what :meth:`send` raises.
        """
        data = self._shared.json_dumps(obj)
        if binary:
            if isinstance(data, str):
                data = data.encode("utf-8")
        elif not isinstance(data, str):
            data = _json_text(data)
        await self.send(data, compress)

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

        ``payload`` (bytes-like, at most 125 bytes) defaults to 4 random
        bytes; anything else is a ``TypeError``. Raises
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

    async def receive(self, timeout: float | None = None) -> Message:
        """The next message; waits for one, at most ``timeout`` seconds if given.

        Raises :class:`~openwire.errors.ConnectionClosedOK` after a normal
        close and :class:`~openwire.errors.ConnectionClosedError` otherwise
        (with ``code``, ``reason`` and ``by_peer``), once every message that
        arrived before the close has been returned. After ``timeout``
        seconds without a message, :class:`~openwire.errors.ReceiveTimeout`
        (a built-in ``TimeoutError``); the connection stays open. Neither a
        timeout nor a cancellation loses a message: one that arrives after
        the deadline is returned by the next call. ``timeout=0`` returns a
        message already waiting, or raises at once. With
        ``deliver_control_frames=True`` this also returns Ping, Pong and
        Close events.
        """
        if timeout is None:
            return await self._session.receive()  # type: ignore[return-value]
        return await self._within(timeout, "receive()", data_only=False)  # type: ignore[return-value]

    async def receive_event(self) -> EngineEvent:
        return await self._session.receive()

    async def receive_text(self, timeout: float | None = None) -> str:
        """The next message's text; a binary message raises ``UnexpectedMessageType``.

        The binary message is not lost: it is the error's ``data``. Use
        :meth:`receive` where either kind may come. ``timeout`` is
        :meth:`receive`'s. Control events (``deliver_control_frames=True``)
        are skipped, as by every typed helper.
        """
        data = (await self._data_message(timeout, "receive_text()")).data
        if isinstance(data, str):
            return data
        raise _unexpected(data, "receive_text()", "receive_bytes()", "receive()")

    async def receive_bytes(self, timeout: float | None = None) -> bytes:
        """The next message's bytes; a text message raises ``UnexpectedMessageType``.

        The text message is not lost: it is the error's ``data``. Use
        :meth:`receive` where either kind may come. ``timeout`` is
        :meth:`receive`'s.
        """
        data = (await self._data_message(timeout, "receive_bytes()")).data
        if isinstance(data, bytes):
            return data
        raise _unexpected(data, "receive_bytes()", "receive_text()", "receive()")

    async def receive_json(self, timeout: float | None = None) -> Any:
        """The next message, text or binary, parsed by the client's ``json_loads``.

        Invalid JSON raises what ``json_loads`` raises (``json.JSONDecodeError``,
        a ``ValueError``, by default), with a note saying so and the message
        kept on the error as ``websocket_message`` (a :class:`Message`); the
        connection stays open. ``timeout`` is :meth:`receive`'s.
        """
        return self._loads(await self._data_message(timeout, "receive_json()"))

    @overload
    def iter(self, *, decode: None = None) -> AsyncIterator[Message]: ...
    @overload
    def iter(self, *, decode: Literal["text"]) -> AsyncIterator[str]: ...
    @overload
    def iter(self, *, decode: Literal["bytes"]) -> AsyncIterator[bytes]: ...
    @overload
    def iter(self, *, decode: Literal["json"]) -> AsyncIterator[Any]: ...

    def iter(self, *, decode: Decode | None = None) -> AsyncIterator[Any]:
        """Iterate over messages as ``decode`` says: ``async for text in ws.iter(decode="text")``.

        ``None`` (the default) gives :class:`Message` objects, like
        ``async for message in ws``; ``"text"`` gives ``str`` and
        ``"bytes"`` gives ``bytes`` (the other kind raises
        ``UnexpectedMessageType``, as :meth:`receive_text` and
        :meth:`receive_bytes` do); ``"json"`` gives what ``json_loads``
        returns, from text and binary messages alike. Like ``async for`` it
        ends quietly after a normal close and raises otherwise; an error
        ends the iteration, and a new ``iter()`` carries on with the next
        message.
        """
        if decode is None:
            return self._iterate()
        if decode not in ("text", "bytes", "json"):
            raise ValueError(
                f"decode must be 'text', 'bytes', 'json' or None (Message objects), got {decode!r}"
            )
        return self._iterate_decoded(decode)

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

    async def _iterate_decoded(self, decode: Decode) -> AsyncIterator[Any]:
        where = f"iter(decode={decode!r})"
        while True:
            try:
                message = await self._data_message(None, where)
            except ConnectionClosedOK:
                return
            data = message.data
            if decode == "json":
                yield self._loads(message)
            elif decode == "text":
                if not isinstance(data, str):
                    raise _unexpected(data, where, "iter(decode='bytes')", "iter()")
                yield data
            else:
                if not isinstance(data, bytes):
                    raise _unexpected(data, where, "iter(decode='text')", "iter()")
                yield data

    async def _data_message(self, timeout: float | None, where: str) -> Message:
        """The next text or binary message; control events on the way are skipped."""
        if timeout is None:
            receive = self._session.receive
            event = await receive()
            while event.opcode is not _TEXT and event.opcode is not _BINARY:
                event = await receive()
            return event  # type: ignore[return-value]
        return await self._within(timeout, where, data_only=True)  # type: ignore[return-value]

    async def _within(self, timeout: float, where: str, *, data_only: bool) -> EngineEvent:
        """The next event (or data message) within ``timeout`` seconds, or ReceiveTimeout."""
        if not timeout >= 0:  # also refuses NaN
            raise ValueError(f"timeout must be a number of seconds >= 0, or None; got {timeout!r}")
        receive = self._session.receive
        try:
            async with self._shared.runtime.fail_after(timeout):
                event = await receive()
                while data_only and event.opcode is not _TEXT and event.opcode is not _BINARY:
                    event = await receive()
                return event
        except TimeoutError as exc:
            if isinstance(exc, OpenWireError):  # raised by the session, not our deadline
                raise
            raise ReceiveTimeout(
                f"{where}: no message arrived within {timeout:g} s; the connection is still "
                "open and nothing was lost, so call it again (or close() if the peer is gone)",
                timeout=timeout,
            ) from None

    def _loads(self, message: Message) -> Any:
        try:
            return self._shared.json_loads(message.data)
        except Exception as exc:
            kind = "text" if message.opcode is _TEXT else "binary"
            exc.websocket_message = message  # type: ignore[attr-defined]
            exc.add_note(
                f"while parsing a {kind} WebSocket message of {len(message.data)} "
                f"{'characters' if kind == 'text' else 'bytes'} as JSON (json_loads); the "
                "message is this error's .websocket_message, and the connection is still open"
            )
            raise


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

    ``async for chunk in ws.receive_stream()`` without the block works too:
    the first step waits for the message, and when the loop is left early
    the rest is discarded as the next ``receive`` or stream begins (the
    consumer has moved on), rather than at once.
    """

    __slots__ = ("_entered", "_first", "_implicit", "_last_taken", "_session", "opcode")

    def __init__(self, session: Session) -> None:
        self._session = session
        self._first: str | bytes | None = None
        self._last_taken = False
        self._entered = False
        self._implicit = False
        self.opcode = Opcode.CONTINUATION
        """``Opcode.TEXT`` or ``Opcode.BINARY`` once the block is entered."""

    @property
    def is_text(self) -> bool:
        """Whether the message is text (pieces are ``str``), not binary (``bytes``)."""
        return self.opcode == Opcode.TEXT

    async def __aenter__(self) -> MessageStream:
        await self._open(implicit=False)
        return self

    async def _open(self, implicit: bool) -> None:
        event = await self._session.open_stream(self if implicit else None)
        self._entered = True
        self._implicit = implicit
        self._first = event.data
        self.opcode = Opcode.TEXT if isinstance(event.data, str) else Opcode.BINARY
        # A whole message (it arrived in one piece) has no later piece.
        self._last_taken = event.opcode != Opcode.CONTINUATION or bool(event.fin)  # type: ignore[union-attr]
        if implicit and self._last_taken:
            self._session.close_stream(True)

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
        if not self._entered:
            await self._open(implicit=True)
        elif (
            not self._last_taken and self._implicit and not self._session.owns_implicit_stream(self)
        ):
            raise RuntimeError(
                "this message stream was left: a later receive() or receive_stream() "
                "discarded the rest of its message"
            )
        first = self._first
        if first is not None:
            self._first = None
            if first:
                return first
        while not self._last_taken:
            chunk = await self._session.next_chunk()
            self._last_taken = chunk.fin
            if chunk.fin and self._implicit:
                # Without a block, the stream ends with its last piece: a
                # consumer that stops iterating now has taken the whole message.
                self._session.close_stream(True)
            if chunk.data:
                return chunk.data
        raise StopAsyncIteration


class WebSocket(_SendMixin, _ReceiveMixin):
    """An open WebSocket connection (after a successful handshake).

    Use it as an async context manager to close with 1000 on exit.
    """

    __slots__ = ("_handshake", "_response", "engine", "extensions", "subprotocol")

    def __init__(
        self,
        session: Session,
        response: Response,
        subprotocol: str | None,
        extensions: list[str],
        engine: str,
        *,
        runtime: Runtime,
        json_dumps: JSONDumps = compact_json_dumps,
        json_loads: JSONLoads = json.loads,
    ) -> None:
        self._session = session
        self._shared = _Shared(runtime, json_dumps, json_loads)
        self._handshake = _Handshake(
            response.status,
            _pack_headers(response.headers),
            response.request,
            response.http_version,
            response.reason,
        )
        self._response: Response | None = None
        self.subprotocol = subprotocol
        """The subprotocol the server chose, or ``None``."""
        self.extensions = extensions
        """Negotiated extensions (``Sec-WebSocket-Extensions`` values)."""
        self.engine = engine
        """Name of the engine producing the frames."""
        owner = _Ownership(session)
        owner.acquire()
        self._owner = owner

    @property
    def response(self) -> Response:
        """The handshake's answer (status and headers), as interceptors saw it: a ``101``
        over HTTP/1.1, a ``200`` to the extended CONNECT over HTTP/2.

        Made on first access from the status, headers and request the
        WebSocket keeps (see :class:`_Handshake`), then the same object.
        """
        found = self._response
        if found is None:
            kept = self._handshake
            found = self._response = Response(
                kept.status,
                headers=_unpack_headers(kept.headers),
                request=kept.request,
                http_version=kept.http_version,
                reason=kept.reason,
            )
        return found

    @property
    def http_version(self) -> str:
        """``"2"`` when the WebSocket runs on a stream of an HTTP/2 connection (RFC 8441),
        ``"1.1"`` when it took over an HTTP/1.1 connection (RFC 6455)."""
        return "2" if self._handshake.http_version == "HTTP/2" else "1.1"

    @property
    def url(self) -> str:
        """Where the WebSocket landed, after any handshake redirects, as a ``ws``/``wss`` URL.

        ``ws.response.request.url`` is the same place in the ``http``/``https``
        form the handshake request was sent with.
        """
        request = self._handshake.request
        assert request is not None, "the handshake's response always carries its request"
        url = str(request.url)
        scheme, sep, rest = url.partition("://")
        return f"{_WS_SCHEMES.get(scheme, scheme)}{sep}{rest}"

    def split(self) -> tuple[WebSocketSender, WebSocketReceiver]:
        """Two handles for two tasks: a sender (shareable) and a receiver (one consumer).

        The connection stays open while any sender (or this WebSocket) is
        alive; dropping the last one closes it with 1001.
        """
        return (
            WebSocketSender(self._session, self._owner, self._shared),
            WebSocketReceiver(self._session, self._shared),
        )

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

    def __init__(self, session: Session, owner: _Ownership, shared: _Shared) -> None:
        self._session = session
        self._shared = shared
        owner.acquire()
        self._owner = owner


class WebSocketReceiver(_ReceiveMixin):
    """The receiving half; meant for one consumer task."""

    __slots__ = ()

    def __init__(self, session: Session, shared: _Shared) -> None:
        self._session = session
        self._shared = shared


def _as_bytes(data: object) -> bytes:
    """A ``bytearray`` or ``memoryview`` as a binary message's bytes; anything else is refused."""
    if isinstance(data, bytearray | memoryview):
        return bytes(data)
    hint = ""
    if isinstance(data, dict | list | tuple):
        hint = "; to send it as JSON, use send_json()"
    elif isinstance(data, int | float):
        hint = f"; to send the number, pass str({data!r}) (text) or use send_json()"
    else:
        try:
            memoryview(data)  # type: ignore[arg-type]
        except TypeError:
            pass
        else:
            hint = "; it holds bytes: pass memoryview(...) of it to send them"
    raise TypeError(
        "send() takes str (a text message) or bytes, bytearray or memoryview (a binary "
        f"message), not {type(data).__name__}{hint}"
    )


def _json_text(data: object) -> str:
    """What ``json_dumps`` returned, as the text of a text message."""
    if isinstance(data, bytes | bytearray | memoryview):
        try:
            return str(data, "utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(
                "json_dumps returned bytes that are not UTF-8, which a text message must be "
                "(RFC 6455 §5.6); fix json_dumps or pass binary=True"
            ) from exc
    raise TypeError(
        f"json_dumps returned {type(data).__name__}; it must return str or bytes "
        "(like json.dumps or orjson.dumps)"
    )


def _unexpected(data: str | bytes, where: str, instead: str, either: str) -> UnexpectedMessageType:
    if isinstance(data, str):
        received, expected, size = "text", "binary", f"{len(data)} characters"
    else:
        received, expected, size = "binary", "text", f"{len(data)} bytes"
    return UnexpectedMessageType(
        f"{where} expects a {expected} message but a {received} message arrived ({size}); "
        f"use {instead} for {received} messages, or {either} for either. The message is "
        "not lost: it is this error's .data",
        data=data,
        expected=expected,
    )
