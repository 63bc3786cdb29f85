"""The websockets engine: websockets' Sans-I/O frame layer parses and writes frames.

Frames are read with ``websockets.frames.Frame.parse`` over websockets'
``StreamReader`` and written with ``Frame.serialize(mask=True)``, which masks
with websockets' C speedups. ``websockets.protocol.Protocol`` (the layer above)
is deliberately not used: it is a connection state machine that reacts to
what it parses — it queues pongs and Close echoes, refuses to send once it has
seen a Close, parses Close payloads itself (the raw payload is lost when it
rejects one), stops reading after a Close, fails a Close that arrives inside a
fragmented message (RFC 6455 §5.4 allows it), and counts control frames
against the message size budget. The core owns all of those decisions, so only
the frame codec is borrowed.

websockets' frame layer does not decode text, so this module does, with one
incremental UTF-8 decoder per message: a code point split across fragments is
fine, and invalid UTF-8 is reported as soon as the frame holding it has fully
arrived (``Frame.parse`` yields whole frames only).

permessage-deflate (RFC 7692) uses websockets' own ``PerMessageDeflate``,
plugged into ``Frame.parse`` and ``Frame.serialize`` through a thin wrapper.
The wrapper exists because websockets bounds inflation per *frame* (by the
``max_size`` given to ``Frame.parse``, which here is ``max_frame_size``),
while the contract bounds the inflated *message*: it hands websockets the
room left in the current message, so a fragmented bomb stops at
``max_message_size`` too. It also maps websockets' "decompression failed" to
1007, as the native engine reports it. The offer and the §7.1 checks of the
server's answer are the core's (``openwire.protocol.deflate``), so every
engine accepts and refuses the same answers. Without the extension,
``Frame.parse`` gets the same empty extension list as before, so the
uncompressed path does no extra work.
"""

from __future__ import annotations

import codecs
import zlib
from collections.abc import Generator, Sequence

from openwire.engines.contract import (
    Close,
    EngineCapabilities,
    EngineConnection,
    EngineEvent,
    EngineSettings,
    Message,
    Ping,
    Pong,
)
from openwire.errors import PayloadTooBig, ProtocolError
from openwire.protocol import deflate
from openwire.protocol.frames import CloseCode, Opcode, build_close_payload
from openwire.protocol.gate import HeaderGate, receive_through_gate
from websockets.exceptions import PayloadTooBig as WsPayloadTooBig
from websockets.exceptions import ProtocolError as WsProtocolError
from websockets.extensions.base import Extension
from websockets.extensions.permessage_deflate import PerMessageDeflate
from websockets.frames import CTRL_OPCODES, Frame
from websockets.frames import Opcode as WsOpcode
from websockets.streams import StreamReader
from websockets.typing import ExtensionName

__all__ = ["WebsocketsConnection", "WebsocketsDeflateConnection", "WebsocketsEngine"]

_Utf8Decoder = codecs.getincrementaldecoder("utf-8")
_NO_EXTENSIONS: list[Extension] = []
_NEVER = 1 << 62


def _utf8_error(exc: UnicodeDecodeError) -> ProtocolError:
    return ProtocolError(
        f"received a text message that is not valid UTF-8 ({exc.reason}); "
        "text frames must carry UTF-8 (RFC 6455 §5.6, §8.1)",
        close_code=CloseCode.INVALID_FRAME_PAYLOAD_DATA,
    )


class _MessageBoundedDeflate(Extension):
    """websockets' ``PerMessageDeflate`` with inflation bounded per message, not per frame.

    websockets checks each frame's inflated size against the ``max_size``
    ``Frame.parse`` passes down; this passes the room left in the message
    instead (plus one byte, so "exactly at the limit" stays distinguishable
    from "past it" and a room of 0 never means websockets' "unlimited").
    """

    name = ExtensionName(deflate.NAME)

    def __init__(self, params: deflate.DeflateParameters, max_message_size: int | None) -> None:
        # websockets cannot compress with an 8-bit window (zlib refuses
        # wbits=-8), so such a session sends uncompressed only, as native
        # does; 9 is then only a placeholder, with no eager compressor.
        compress_bits = params.client_max_window_bits
        self._pmd = PerMessageDeflate(
            remote_no_context_takeover=params.server_no_context_takeover,
            local_no_context_takeover=params.client_no_context_takeover or compress_bits == 8,
            # A 9-bit window also inflates what zlib-based servers produce
            # when asked for 8 (they silently use 9).
            remote_max_window_bits=max(params.server_max_window_bits, 9),
            local_max_window_bits=max(compress_bits, 9),
            compress_settings={"memLevel": 5},
        )
        self._inflate_bits = max(params.server_max_window_bits, 9)
        self._limit = max_message_size
        # Inflated bytes of the data message in progress.
        self._size = 0
        self.min_size = deflate.MIN_COMPRESS_SIZE if compress_bits > 8 else _NEVER

    def decode(self, frame: Frame, *, max_size: int | None = None) -> Frame:
        opcode = frame.opcode
        if opcode in CTRL_OPCODES:
            return frame
        if opcode is not WsOpcode.CONT:
            self._size = 0
        limit = self._limit
        room = None if limit is None else limit - self._size
        try:
            decoded = self._pmd.decode(frame, max_size=None if room is None else room + 1)
        except WsPayloadTooBig:
            raise self._too_big() from None
        except WsProtocolError as exc:
            if isinstance(exc.__cause__, zlib.error):
                raise ProtocolError(
                    f"received a compressed message that is not valid deflate data "
                    f"({exc.__cause__}); failing with 1007 (RFC 7692 §7.2.2, RFC 6455 §7.4.1)",
                    close_code=CloseCode.INVALID_FRAME_PAYLOAD_DATA,
                ) from None
            raise
        if decoded is frame:
            # Not compressed: the header gate has bounded it already.
            return frame
        size = len(decoded.data)
        if room is not None and size > room:
            raise self._too_big()
        if frame.fin:
            self._size = 0
            decoder = getattr(self._pmd, "decoder", None)
            if decoder is not None and decoder.eof:
                # The server ended its deflate stream (BFINAL, §7.2.3.4); the
                # next message starts a new one, as with the native engine.
                self._pmd.decoder = zlib.decompressobj(wbits=-self._inflate_bits)
        else:
            self._size += size
        return decoded

    def encode(self, frame: Frame) -> Frame:
        return self._pmd.encode(frame)

    def _too_big(self) -> PayloadTooBig:
        return PayloadTooBig(
            f"received a compressed message that inflates past max_message_size "
            f"({self._limit} bytes); stopped inflating there (RFC 6455 §10.4)"
        )


class WebsocketsConnection:
    """One upgraded connection: a header gate in front of websockets' frame parser."""

    __slots__ = (
        "_binary",
        "_decoder",
        "_failed",
        "_frames",
        "_gate",
        "_parser",
        "_reader",
        "_text",
    )

    def __init__(
        self, settings: EngineSettings, extensions: Sequence[Extension] = _NO_EXTENSIONS
    ) -> None:
        self._gate = HeaderGate(
            settings.max_frame_size, settings.max_message_size, rsv1_allowed=bool(extensions)
        )
        self._reader = StreamReader()
        self._frames: list[Frame] = []
        # websockets' own limit check stays on as a second line of defence;
        # the gate has already applied the same bound to every header.
        self._parser = self._parse_frames(settings.max_frame_size, extensions)
        next(self._parser)
        # The fragmented data message in progress: its text decoder, or its parts.
        self._decoder: codecs.IncrementalDecoder | None = None
        self._text: list[str] = []
        self._binary: list[bytes] | None = None
        # The parser generator is finished after an error, so the first one sticks.
        self._failed: ProtocolError | None = None

    def _parse_frames(
        self, max_size: int | None, extensions: Sequence[Extension]
    ) -> Generator[None, None, None]:
        read_exact = self._reader.read_exact
        frames = self._frames
        while True:
            frame = yield from Frame.parse(
                read_exact, mask=False, max_size=max_size, extensions=extensions
            )
            frames.append(frame)

    def receive_data(self, data: bytes) -> list[EngineEvent]:
        if self._failed is not None:
            raise self._failed.repeat()
        try:
            return receive_through_gate(self._gate, data, self._parse)
        except ProtocolError as exc:
            self._failed = exc
            raise

    def _parse(self, data: bytes, events: list[EngineEvent]) -> None:
        self._reader.feed_data(data)
        failure: ProtocolError | None = None
        try:
            next(self._parser)
        except WsPayloadTooBig as exc:
            failure = PayloadTooBig(f"websockets rejected a frame from the server: {exc}")
        except WsProtocolError as exc:
            failure = ProtocolError(f"websockets rejected a frame from the server: {exc}")
        except ProtocolError as exc:
            # From the deflate wrapper, already carrying the native close code.
            failure = exc
        except Exception as exc:
            failure = ProtocolError(
                f"websockets failed while parsing the server's frames: {exc!r}",
                close_code=CloseCode.INTERNAL_ERROR,
            )
            failure.__cause__ = exc
        frames = self._frames
        if frames:
            # Frames completed before a failure still become events first.
            for frame in frames:
                opcode = frame.opcode
                payload = bytes(frame.data)
                if opcode is WsOpcode.PING:
                    events.append(Ping(payload))
                elif opcode is WsOpcode.PONG:
                    events.append(Pong(payload))
                elif opcode is WsOpcode.CLOSE:
                    # The payload stays raw: the core applies §5.5.1 and §7.4 itself.
                    events.append(Close(payload))
                else:
                    message = self._data(opcode, payload, frame.fin)
                    if message is not None:
                        events.append(message)
            frames.clear()
        if failure is not None:
            raise failure

    def _data(self, opcode: WsOpcode, payload: bytes, fin: bool) -> Message | None:
        """Reassemble a data message; the gate has already vetted the fragment order."""
        if opcode is WsOpcode.TEXT and fin:
            try:
                return Message(payload.decode("utf-8"), Opcode.TEXT)
            except UnicodeDecodeError as exc:
                raise _utf8_error(exc) from None
        if opcode is WsOpcode.BINARY and fin:
            return Message(payload, Opcode.BINARY)
        if opcode is WsOpcode.TEXT:
            self._decoder = _Utf8Decoder()
        elif opcode is WsOpcode.BINARY:
            self._binary = []
        if self._decoder is not None:
            try:
                self._text.append(self._decoder.decode(payload, fin))
            except UnicodeDecodeError as exc:
                raise _utf8_error(exc) from None
            if not fin:
                return None
            text = "".join(self._text)
            self._decoder = None
            self._text = []
            return Message(text, Opcode.TEXT)
        if self._binary is None:
            raise ProtocolError(
                "received a continuation frame with no message in progress (RFC 6455 §5.4)"
            )
        self._binary.append(payload)
        if not fin:
            return None
        data = b"".join(self._binary)
        self._binary = None
        return Message(data, Opcode.BINARY)

    def encode_message(self, data: str | bytes) -> bytes:
        if isinstance(data, str):
            return Frame(WsOpcode.TEXT, data.encode("utf-8")).serialize(mask=True, extensions=[])
        return Frame(WsOpcode.BINARY, data).serialize(mask=True, extensions=[])

    def encode_ping(self, payload: bytes) -> bytes:
        return Frame(WsOpcode.PING, payload).serialize(mask=True, extensions=[])

    def encode_pong(self, payload: bytes) -> bytes:
        return Frame(WsOpcode.PONG, payload).serialize(mask=True, extensions=[])

    def encode_close(self, code: int | None, reason: str) -> bytes:
        # openwire builds the payload so that None, 1005 and over-long reasons
        # behave as with every other engine; websockets only frames and masks it.
        payload = build_close_payload(code, reason)
        return Frame(WsOpcode.CLOSE, payload).serialize(mask=True, extensions=[])


class WebsocketsDeflateConnection(WebsocketsConnection):
    """The connection once permessage-deflate is negotiated: it also compresses what it sends.

    A subclass rather than a branch in ``encode_message``, so a connection
    without the extension does not test for it on every send.
    """

    __slots__ = ("_deflate", "_extensions")

    def __init__(self, settings: EngineSettings, extension: _MessageBoundedDeflate) -> None:
        self._deflate = extension
        self._extensions = [extension]
        super().__init__(settings, self._extensions)

    def encode_message(self, data: str | bytes) -> bytes:
        """A data message, compressed with RSV1 set unless it is short (RFC 7692 §6)."""
        if isinstance(data, str):
            frame = Frame(WsOpcode.TEXT, data.encode("utf-8"))
        else:
            frame = Frame(WsOpcode.BINARY, data)
        if len(frame.data) < self._deflate.min_size:
            return frame.serialize(mask=True, extensions=_NO_EXTENSIONS)
        return frame.serialize(mask=True, extensions=self._extensions)


class WebsocketsEngine(deflate.DeflateNegotiation):
    """websockets-backed codec; sans-I/O, so it runs on asyncio and trio; permessage-deflate."""

    name = "websockets"
    capabilities = EngineCapabilities(extensions=(deflate.NAME,), backends=("asyncio", "trio"))
    conformance_xfail = {
        "test_invalid_utf8_fails_while_a_single_frame_is_still_arriving": (
            "the library parses whole frames, so UTF-8 is checked only once a frame has "
            "arrived; fail-fast validation of a frame in progress belongs in the shared core"
        ),
    }

    def connect(self, settings: EngineSettings) -> EngineConnection:
        params = deflate.negotiate(settings.extensions)
        if params is None:
            return WebsocketsConnection(settings)
        extension = _MessageBoundedDeflate(params, settings.max_message_size)
        return WebsocketsDeflateConnection(settings, extension)
