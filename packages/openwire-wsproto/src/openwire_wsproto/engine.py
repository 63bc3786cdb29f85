"""The wsproto engine: wsproto parses the server's frames, openwire writes ours.

wsproto's frame layer (``wsproto.frame_protocol``) is used directly rather
than ``wsproto.connection.Connection``. The connection object is a state
machine that the core must own instead: it turns parse failures into
``CloseConnection`` events that look like the peer's own Close, and it
validates Close payloads against its own table (rejecting 1014, which RFC 6455's
registry allows) so the raw payload the contract asks for would be lost.
``FrameDecoder`` streams data frames out as their bytes arrive and
``MessageDecoder`` decodes text incrementally, so invalid UTF-8 is reported as
soon as it is certain, exactly as with the native engine.

Outgoing frames are built by openwire's own encoder: wsproto masks in Python,
about 30x slower than the C masking openwire uses when it is available, and
masking touches every byte a client sends.

permessage-deflate (RFC 7692) is inflated by openwire's engine-neutral
``PerMessageDeflate``, plugged into ``FrameDecoder`` as a wsproto extension,
not by ``wsproto.extensions.PerMessageDeflate``: wsproto's inflates each
chunk with no output limit, so a few KiB of compressed zeros would become
gigabytes in memory before any check could run. The core's stops at
``max_message_size`` (one byte past it), fails invalid deflate data with 1007
as the native engine does, and since the frame layer still streams payloads,
compressed text is UTF-8-checked as it inflates. Sending compresses with the
core's ``DeflateFrameCodec``, the encoder this engine already uses. The offer
and the §7.1 checks of the server's answer are the core's too
(``openwire.protocol.deflate``). Without the extension, ``FrameDecoder``
gets no extensions, exactly as before.
"""

from __future__ import annotations

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
from openwire.errors import ProtocolError
from openwire.protocol import deflate
from openwire.protocol.codec import DeflateFrameCodec, FrameCodec
from openwire.protocol.frames import Opcode as WireOpcode
from openwire.protocol.gate import HeaderGate, receive_through_gate
from wsproto.extensions import Extension
from wsproto.frame_protocol import (
    CloseReason,
    FrameDecoder,
    FrameProtocol,
    MessageDecoder,
    Opcode,
    ParseFailed,
    RsvBits,
)

__all__ = ["WsprotoConnection", "WsprotoEngine"]


def _raw(payload: bytes | str | tuple[int, str]) -> bytes:
    """Narrow wsproto's union payload type; only text is ever decoded, by MessageDecoder."""
    if isinstance(payload, bytes | bytearray):
        return bytes(payload)
    raise TypeError(f"expected a bytes payload from wsproto, got {type(payload).__name__}")


_RSV1 = RsvBits(True, False, False)


class _BoundedInflate(Extension):
    """Inflates compressed messages for ``FrameDecoder`` with the core's bounded inflater.

    wsproto calls it for every frame header, every payload chunk and every
    frame end; RSV1 on a data message's first frame marks the message as
    compressed (RFC 7692 §6). The header gate has already rejected RSV1
    anywhere else, so the checks here are a second line of defence.
    """

    name = deflate.NAME

    def __init__(self, pmd: deflate.PerMessageDeflate) -> None:
        self._pmd = pmd
        # The data message in progress is compressed; the current frame must
        # be inflated (a control frame inside such a message is not).
        self._message = False
        self._frame = False

    def enabled(self) -> bool:
        return True

    def offer(self) -> str:
        return deflate.OFFER

    def frame_inbound_header(
        self,
        proto: FrameDecoder | FrameProtocol,
        opcode: Opcode,
        rsv: RsvBits,
        payload_length: int,
    ) -> CloseReason | RsvBits:
        if opcode.iscontrol():
            if rsv.rsv1:
                return CloseReason.PROTOCOL_ERROR
            self._frame = False
        elif opcode is Opcode.CONTINUATION:
            if rsv.rsv1:
                return CloseReason.PROTOCOL_ERROR
            self._frame = self._message
        else:
            self._frame = self._message = rsv.rsv1
        return _RSV1

    def frame_inbound_payload_data(
        self, proto: FrameDecoder | FrameProtocol, data: bytes
    ) -> bytes | CloseReason:
        if not self._frame:
            return data
        return self._pmd.decompress(data, False)

    def frame_inbound_complete(
        self, proto: FrameDecoder | FrameProtocol, fin: bool
    ) -> bytes | CloseReason | None:
        if not (fin and self._frame):
            return None
        self._message = self._frame = False
        return self._pmd.decompress(b"", True)


class WsprotoConnection:
    """One upgraded connection: a header gate in front of wsproto's frame decoder."""

    __slots__ = ("_binary", "_decoder", "_encoder", "_failed", "_gate", "_messages", "_text")

    def __init__(
        self, settings: EngineSettings, pmd: deflate.PerMessageDeflate | None = None
    ) -> None:
        self._gate = HeaderGate(
            settings.max_frame_size, settings.max_message_size, rsv1_allowed=pmd is not None
        )
        self._messages = MessageDecoder()
        if pmd is None:
            self._decoder = FrameDecoder(client=True, extensions=[])
            self._encoder = FrameCodec(None, None)
        else:
            # One deflate state for both directions, as the native codec has.
            self._decoder = FrameDecoder(client=True, extensions=[_BoundedInflate(pmd)])
            self._encoder = DeflateFrameCodec(None, None, pmd)
        # The data message being reassembled; wsproto hands it over in pieces.
        self._text: list[str] = []
        self._binary: list[bytes] = []
        # wsproto's decoder is undefined after a failure, so the first error sticks.
        self._failed: ProtocolError | None = None

    def receive_data(self, data: bytes) -> list[EngineEvent]:
        if self._failed is not None:
            raise self._failed.repeat()
        try:
            return receive_through_gate(self._gate, data, self._parse)
        except ProtocolError as exc:
            self._failed = exc
            raise

    def _parse(self, data: bytes, events: list[EngineEvent]) -> None:
        self._decoder.receive_bytes(data)
        try:
            while (frame := self._decoder.process_buffer()) is not None:
                opcode = frame.opcode
                if opcode is Opcode.PING:
                    events.append(Ping(_raw(frame.payload)))
                elif opcode is Opcode.PONG:
                    events.append(Pong(_raw(frame.payload)))
                elif opcode is Opcode.CLOSE:
                    # The payload stays raw: the core applies §5.5.1 and §7.4 itself.
                    events.append(Close(_raw(frame.payload)))
                else:
                    piece = self._messages.process_frame(frame)
                    if isinstance(piece.payload, str):
                        self._text.append(piece.payload)
                        if piece.message_finished:
                            events.append(Message("".join(self._text), WireOpcode.TEXT))
                            self._text = []
                    else:
                        self._binary.append(_raw(piece.payload))
                        if piece.message_finished:
                            events.append(Message(b"".join(self._binary), WireOpcode.BINARY))
                            self._binary = []
        except ParseFailed as exc:
            raise ProtocolError(
                f"wsproto rejected a frame from the server: {exc}", close_code=int(exc.code)
            ) from None
        except ProtocolError:
            # From the core's inflater, already carrying the native close code.
            raise
        except Exception as exc:
            raise ProtocolError(
                f"wsproto failed while parsing the server's frames: {exc!r}", close_code=1011
            ) from exc

    def encode_message(self, data: str | bytes) -> bytes:
        return self._encoder.encode_message(data)

    def encode_ping(self, payload: bytes) -> bytes:
        return self._encoder.encode_ping(payload)

    def encode_pong(self, payload: bytes) -> bytes:
        return self._encoder.encode_pong(payload)

    def encode_close(self, code: int | None, reason: str) -> bytes:
        return self._encoder.encode_close(code, reason)


class WsprotoEngine(deflate.DeflateNegotiation):
    """wsproto-backed codec; sans-I/O, so it runs on asyncio and trio; permessage-deflate."""

    name = "wsproto"
    capabilities = EngineCapabilities(extensions=(deflate.NAME,), backends=("asyncio", "trio"))

    def connect(self, settings: EngineSettings) -> EngineConnection:
        params = deflate.negotiate(settings.extensions)
        if params is None:
            return WsprotoConnection(settings)
        return WsprotoConnection(
            settings, deflate.PerMessageDeflate(params, settings.max_message_size)
        )
