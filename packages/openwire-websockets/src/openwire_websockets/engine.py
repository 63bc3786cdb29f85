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
"""

from __future__ import annotations

import codecs
from collections.abc import Generator

from openwire.errors import InvalidExtension, PayloadTooBig, ProtocolError
from openwire.websocket.engine import (
    Close,
    EngineCapabilities,
    EngineConnection,
    EngineEvent,
    EngineSettings,
    Message,
    Ping,
    Pong,
)
from openwire.websocket.frames import CloseCode, Opcode, build_close_payload
from openwire.websocket.gate import HeaderGate
from websockets.exceptions import PayloadTooBig as WsPayloadTooBig
from websockets.exceptions import ProtocolError as WsProtocolError
from websockets.frames import Frame
from websockets.frames import Opcode as WsOpcode
from websockets.streams import StreamReader

__all__ = ["WebsocketsConnection", "WebsocketsEngine"]

_Utf8Decoder = codecs.getincrementaldecoder("utf-8")


def _again(error: ProtocolError) -> ProtocolError:
    """The first failure again, without its events, should the core feed more bytes."""
    if isinstance(error, PayloadTooBig):
        return PayloadTooBig(str(error))
    return ProtocolError(str(error), close_code=error.close_code)


def _utf8_error(exc: UnicodeDecodeError) -> ProtocolError:
    return ProtocolError(
        f"received a text message that is not valid UTF-8 ({exc.reason}); "
        "text frames must carry UTF-8 (RFC 6455 §5.6, §8.1)",
        close_code=CloseCode.INVALID_FRAME_PAYLOAD_DATA,
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

    def __init__(self, settings: EngineSettings) -> None:
        self._gate = HeaderGate(settings.max_frame_size, settings.max_message_size)
        self._reader = StreamReader()
        self._frames: list[Frame] = []
        # websockets' own limit check stays on as a second line of defence;
        # the gate has already applied the same bound to every header.
        self._parser = self._parse_frames(settings.max_frame_size)
        next(self._parser)
        # The fragmented data message in progress: its text decoder, or its parts.
        self._decoder: codecs.IncrementalDecoder | None = None
        self._text: list[str] = []
        self._binary: list[bytes] | None = None
        # The parser generator is finished after an error, so the first one sticks.
        self._failed: ProtocolError | None = None

    def _parse_frames(self, max_size: int | None) -> Generator[None, None, None]:
        read_exact = self._reader.read_exact
        frames = self._frames
        while True:
            frame = yield from Frame.parse(read_exact, mask=False, max_size=max_size, extensions=[])
            frames.append(frame)

    def receive_data(self, data: bytes) -> list[EngineEvent]:
        if self._failed is not None:
            raise _again(self._failed)
        events: list[EngineEvent] = []
        try:
            verdict = self._gate.scan(data)
            if verdict is None:
                self._parse(data, events)
                return events
            offset, error = verdict
            if offset:
                self._parse(data[:offset], events)
            raise error
        except ProtocolError as exc:
            # What the chunk completed before the violation is still delivered.
            exc.events = events
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


class WebsocketsEngine:
    """websockets-backed codec; sans-I/O, so it runs on asyncio and trio; no extensions."""

    name = "websockets"
    capabilities = EngineCapabilities(extensions=(), backends=("asyncio", "trio"))

    def extension_offers(self, compression: str | None) -> list[str]:
        return []

    def accept_extensions(self, accepted: list[str]) -> list[str]:
        if accepted:
            raise InvalidExtension(
                f"the server accepted extensions {accepted} but the websockets engine offers none"
            )
        return []

    def connect(self, settings: EngineSettings) -> EngineConnection:
        return WebsocketsConnection(settings)
