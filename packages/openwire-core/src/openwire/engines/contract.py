"""The WebSocketEngine contract: the one seam between the core and an engine.

An engine **translates**: bytes from the socket become events, messages to
send become bytes. It frames, parses, masks, validates RFC 6455 framing and
UTF-8, reassembles fragments, and enforces the size limits it is given
*before* buffering a payload. It never does I/O, never keeps time, never
decides how to react.

The core **decides**: it owns the socket, the send queue and backpressure, the
receive buffer, auto-pong, the heartbeat, the close handshake, close-code
policy, events and errors. That is why a session behaves the same whichever
engine produced its frames.

An engine is registered through the ``openwire`` pluggy entry-point group
(see :mod:`openwire.engines.hookspecs`) and chosen by name.

Theory of operation, per connection::

    conn = engine.connect(settings)            # after a validated 101
    for event in conn.receive_data(chunk):     # bytes from the socket
        ...                                    # Message | Ping | Pong | Close
    sock.write(conn.encode_message(data))      # str → text, bytes → binary
    sock.write(conn.encode_close(1000, ""))

``receive_data`` raises :class:`openwire.errors.ProtocolError` (with the close
code to send, e.g. 1002, 1007, or :class:`~openwire.errors.PayloadTooBig` for
1009) when the peer breaks the protocol, with the events completed earlier in
the same chunk in ``error.events`` so the core can still deliver them; after
that the core stops feeding it.
Any other exception from an engine is a bug in the engine; the core fails the
connection with 1011 and reports it rather than crash.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol, runtime_checkable

from openwire.protocol.frames import Opcode

__all__ = [
    "Close",
    "EngineCapabilities",
    "EngineConnection",
    "EngineEvent",
    "EngineSettings",
    "Message",
    "Ping",
    "Pong",
    "WebSocketEngine",
]


class Message(NamedTuple):
    """A complete data message: ``str`` for text, ``bytes`` for binary.

    This is also what :meth:`openwire.WebSocket.receive` returns: ``.data``
    and ``.opcode`` (``Opcode.TEXT`` or ``Opcode.BINARY``).
    """

    data: str | bytes
    opcode: Opcode

    @property
    def is_text(self) -> bool:
        return self.opcode == Opcode.TEXT

    @property
    def text(self) -> str:
        """The text of a text message; raises ``TypeError`` for binary."""
        if isinstance(self.data, str):
            return self.data
        raise TypeError("this is a binary message; use .data (bytes)")


class Ping(NamedTuple):
    data: bytes
    opcode: Opcode = Opcode.PING


class Pong(NamedTuple):
    data: bytes
    opcode: Opcode = Opcode.PONG


class Close(NamedTuple):
    """The peer's Close frame with its raw, *unvalidated* payload.

    The core, not the engine, applies RFC 6455 §5.5.1 and §7.4 to the code
    and reason, so every engine reports a bad close payload the same way.
    """

    data: bytes
    opcode: Opcode = Opcode.CLOSE


EngineEvent = Message | Ping | Pong | Close


@dataclass(frozen=True, slots=True)
class EngineCapabilities:
    """What an engine can do; shown by ``openwire engines``.

    ``extensions`` names what the engine implements; the core offers
    permessage-deflate only through engines that list ``"permessage-deflate"``.
    ``backends`` lists the async libraries the engine runs on ("asyncio",
    "trio"); the core refuses a call on any other before connecting.
    """

    extensions: tuple[str, ...] = ()
    backends: tuple[str, ...] = ("asyncio", "trio")


@dataclass(frozen=True, slots=True)
class EngineSettings:
    """What the core tells an engine when the connection opens.

    The limits must be enforced while parsing: a frame header that announces
    more than ``max_frame_size`` (or a message that would grow past
    ``max_message_size``) raises :class:`~openwire.errors.PayloadTooBig`
    before its payload is buffered.
    """

    max_frame_size: int | None
    max_message_size: int | None
    subprotocol: str | None = None
    extensions: Sequence[str] = field(default_factory=tuple)


@runtime_checkable
class EngineConnection(Protocol):
    """One connection's codec: bytes in → events, messages in → bytes."""

    def receive_data(self, data: bytes) -> list[EngineEvent]:
        """Parse bytes from the socket; return the events they complete.

        Raises :class:`~openwire.errors.ProtocolError` when the peer breaks
        RFC 6455 (carrying the close code to send).
        """
        ...

    def encode_message(self, data: str | bytes) -> bytes:
        """A text (``str``) or binary (``bytes``) message as wire bytes, masked."""
        ...

    def encode_ping(self, payload: bytes) -> bytes: ...

    def encode_pong(self, payload: bytes) -> bytes: ...

    def encode_close(self, code: int | None, reason: str) -> bytes:
        """A Close frame; ``None`` sends an empty payload."""
        ...


class WebSocketEngine(Protocol):
    """An engine factory: a name, capabilities, extension negotiation, connections."""

    name: str
    capabilities: EngineCapabilities

    def extension_offers(self, compression: str | None) -> list[str]:
        """``Sec-WebSocket-Extensions`` values to offer in the handshake request.

        ``compression`` is the call's ``compression`` option (``"deflate"``)
        when the engine lists ``"permessage-deflate"`` in its capabilities,
        else ``None``; an engine without extensions returns ``[]``.
        """
        ...

    def accept_extensions(self, accepted: list[str]) -> list[str]:
        """Check the server's ``Sec-WebSocket-Extensions`` against the offer.

        Return the negotiated extensions (passed back in
        :class:`EngineSettings`); raise :class:`~openwire.errors.InvalidExtension`
        for one that was not offered or parameters the engine cannot honour.
        The core has already refused extension *names* that were not offered.
        """
        ...

    def connect(self, settings: EngineSettings) -> EngineConnection:
        """Create the codec for one upgraded connection."""
        ...
