"""The WebSocketEngine contract, version 2: the one seam between the core and an engine.

An engine **parses and serialises frames**: bytes from the socket become
complete frames, frames to send become masked bytes. That is what a library
does better than the core (often in C), and nothing more.

The core **applies every rule**: the frame-header rules (``gate``),
fragmentation, incremental UTF-8, size limits, bounded permessage-deflate
(negotiation, inflate, compress), close payloads, the sticky failure
(``openwire.protocol.reader``), and it decides everything a user can observe:
the socket, queues, backpressure, auto-pong, the heartbeat, the close
handshake, events and errors (``openwire.websocket.session``). That is why a
session behaves the same, to the close code and the error's wording,
whichever engine parsed its frames.

Theory of operation, per connection::

    conn = engine.connect(settings)             # after a validated 101
    frames = conn.receive_frames(chunk)         # only vetted, whole headers
    sock.write(conn.encode_frame(0x1, b"hi"))   # FIN text frame, masked

The core walks each chunk's headers before ``receive_frames`` sees it: a bad
or oversize header never reaches the engine, and an incomplete header is held
back and re-sent with the next chunk, so the engine only ever receives
headers the rules accepted, and receives each one whole. A frame's payload
may still be split across calls; ``receive_frames`` returns a frame once its
payload is complete (the core has already seen the partial payload, for
fail-fast UTF-8).

Contract versions. ``ENGINE_API_VERSION`` is 2; an engine states the version
it was written for as ``api_version``. Version 1 engines (message-level
``receive_data``/``encode_message``, each re-implementing the receive rules)
have no ``api_version``; the registry lists them as broken, naming both
versions, instead of running them.

Failures. ``receive_frames`` raises :class:`openwire.errors.ProtocolError`
(with its close code) only for what its library refused on its own (a
non-minimal length, say), with the frames completed before the refusal in
``error.events``; the core's checks run first. Any other exception
from an engine is a bug in the engine: the session fails the connection with
1011 and names the engine, in one place.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from openwire.compression import Deflate
from openwire.protocol.codec import FrameCodec
from openwire.protocol.frames import Frame, Opcode
from openwire.protocol.messages import Chunk, Close, EngineEvent, Message, Ping, Pong

__all__ = [
    "ENGINE_API_VERSION",
    "Chunk",
    "Close",
    "EngineCapabilities",
    "EngineConnection",
    "EngineEvent",
    "EngineSettings",
    "Frame",
    "Message",
    "MessageCodec",
    "Opcode",
    "Ping",
    "Pong",
    "WebSocketEngine",
]

ENGINE_API_VERSION = 2
"""The engine contract this core implements; engines declare theirs as ``api_version``."""


@dataclass(frozen=True, slots=True)
class EngineCapabilities:
    """What an engine can do; shown by ``openwire engines``.

    ``extensions`` names what the engine can carry; ``"permessage-deflate"``
    means its parser reports RSV1 and its serialiser sets it (the core
    negotiates, inflates and compresses), and the core offers the extension
    only through engines that list it.
    ``backends`` lists the async libraries the engine runs on ("asyncio",
    "trio"); the core refuses a call on any other before connecting.
    """

    extensions: tuple[str, ...] = ()
    backends: tuple[str, ...] = ("asyncio", "trio")


@dataclass(frozen=True, slots=True)
class EngineSettings:
    """What the core tells an engine when the connection opens.

    The core enforces the limits from each header before the engine sees it;
    an engine may pass ``max_frame_size`` to its library as a second bound.
    ``extensions`` is what ``accept_extensions`` returned. ``compression``
    is the permessage-deflate policy the call offered (``None``: nothing was
    offered); the core negotiates against it and applies it, so an engine
    that only parses frames may ignore it.
    """

    max_frame_size: int | None
    max_message_size: int | None
    subprotocol: str | None = None
    extensions: Sequence[str] = field(default_factory=tuple)
    compression: Deflate | None = field(default_factory=Deflate)


@runtime_checkable
class EngineConnection(Protocol):
    """One connection's frame codec: bytes in → complete frames, frames in → masked bytes.

    Optional attribute ``minimal_lengths = True``: the library refuses a
    frame whose length uses a longer form than needed, so the core rewrites
    such a header to the minimal form before the engine sees it (RFC 6455
    §5.2 binds the sender, and every engine accepts it).
    ``minimal_control_lengths = True`` does the same for Ping/Pong/Close
    only, for a library that reads a control frame's length from the 7-bit
    field.
    """

    def receive_frames(self, data: bytes, /) -> list[Frame]:
        """Parse vetted bytes; return the frames they complete, in order.

        Each :class:`~openwire.protocol.frames.Frame` (or a plain tuple in
        its field order, which is cheaper to build) carries the raw opcode,
        FIN, RSV1 and the unmasked payload as ``bytes``. The core reads FIN
        and RSV1 of data frames only, and RSV1 only on a message's first
        frame. Keep whatever a frame still needs (its payload is split across
        calls) for the next call.
        """
        ...

    def encode_frame(
        self, opcode: int, payload: bytes, fin: bool = True, rsv1: bool = False, /
    ) -> bytes:
        """One frame as wire bytes, masked with a fresh key from a CSPRNG (RFC 6455 §5.3)."""
        ...


@runtime_checkable
class MessageCodec(Protocol):
    """What the session drives: bytes → events, messages → bytes.

    The core builds it around an engine connection
    (:func:`openwire.engines.connection.open_engine_connection`); engines do
    not implement it.
    """

    def receive_data(self, data: bytes) -> list[EngineEvent]: ...

    def stream_messages(self, max_stream_size: int | None) -> None:
        """From now on, hand data messages out as ``Chunk`` events as they arrive."""
        ...

    def encode_message(self, data: str | bytes, compress: bool | None = None) -> bytes:
        """A data message as wire bytes.

        ``compress`` overrides the permessage-deflate policy for this message
        (``None``: compress from ``min_size`` up; ``False``: never; ``True``:
        whatever its size); without the extension negotiated it is ignored.
        """
        ...

    def encode_fragment(self, opcode: int, payload: bytes, fin: bool) -> bytes:
        """One uncompressed frame of a message sent in pieces."""
        ...

    def encode_ping(self, payload: bytes) -> bytes: ...

    def encode_pong(self, payload: bytes) -> bytes: ...

    def encode_close(self, code: int | None, reason: str) -> bytes: ...


class WebSocketEngine(Protocol):
    """An engine factory: contract version, name, capabilities, extensions, connections."""

    api_version: int
    name: str
    capabilities: EngineCapabilities

    def extension_offers(self, compression: Deflate | str | None) -> list[str]:
        """``Sec-WebSocket-Extensions`` values to offer in the handshake request.

        ``compression`` is the call's :class:`~openwire.compression.Deflate` policy
        when the engine lists ``"permessage-deflate"`` in its capabilities,
        else ``None`` (``"deflate"`` stands for the default policy). Inherit
        :class:`openwire.protocol.deflate.DeflateNegotiation` and every engine
        offers the same.
        """
        ...

    def accept_extensions(self, accepted: list[str]) -> list[str]:
        """Check the server's ``Sec-WebSocket-Extensions`` against the offer.

        Return the negotiated extensions (passed back in
        :class:`EngineSettings`); raise :class:`~openwire.errors.InvalidExtension`
        for one the rules refuse. ``DeflateNegotiation`` implements both.
        """
        ...

    def connect(self, settings: EngineSettings) -> EngineConnection | FrameCodec:
        """Create the frame codec for one upgraded connection.

        The native engine returns the core's fused codec
        (:class:`~openwire.protocol.codec.FrameCodec`), which applies the same
        rules itself; the core uses it as it is.
        """
        ...
