"""The wsproto engine: wsproto's frame layer parses the server's frames, openwire masks ours.

A translator, nothing more. The core's reader (``openwire.protocol.reader``)
vets every header before wsproto sees it and applies every rule after
(fragmentation, UTF-8, limits, permessage-deflate, close payloads); this
module turns bytes into complete frames with ``wsproto.frame_protocol``'s
public ``FrameDecoder``, and frames into bytes with openwire's encoder.

- ``wsproto.connection.Connection`` is not used: it is a state machine the
  core must own instead (it turns parse failures into Close events that look
  like the peer's own, and validates Close payloads against its own table).
- ``FrameDecoder`` streams a frame's payload out in pieces as it arrives;
  they are joined here into one complete frame, because the core has already
  seen the partial payload it needs (for fail-fast UTF-8) from the header.
- wsproto refuses a length written in a longer form than needed (RFC 6455
  §5.2 binds the sender; every engine accepts it): ``minimal_lengths`` asks
  the core to rewrite such headers first. Any other refusal of wsproto's is
  a ``ParseFailed`` carrying a close code, reported as a ``ProtocolError``.
- Outgoing frames use the core's masking (C when ``websockets.speedups`` is
  installed): wsproto masks in Python, about 30x slower, and masking touches
  every byte a client sends.
- With permessage-deflate negotiated, a pass-through wsproto extension
  admits RSV1 and records it per frame; inflating stays the core's.
"""

from __future__ import annotations

from openwire.engines.contract import ENGINE_API_VERSION, EngineCapabilities, EngineSettings
from openwire.errors import ProtocolError
from openwire.protocol import deflate
from openwire.protocol.frames import Frame
from openwire.protocol.masking import FrameMasker
from wsproto.extensions import Extension
from wsproto.frame_protocol import (
    CloseReason,
    FrameDecoder,
    FrameProtocol,
    Opcode,
    ParseFailed,
    RsvBits,
)

__all__ = ["WsprotoConnection", "WsprotoEngine"]

_RSV1 = RsvBits(True, False, False)


class _Rsv1(Extension):
    """Lets RSV1 through wsproto's decoder and remembers it for the frame being read."""

    name = deflate.NAME

    def __init__(self) -> None:
        self.rsv1 = False

    def enabled(self) -> bool:
        return True

    def offer(self) -> str:
        return deflate.OFFER

    def frame_inbound_header(
        self, proto: FrameDecoder | FrameProtocol, opcode: Opcode, rsv: RsvBits, length: int
    ) -> CloseReason | RsvBits:
        self.rsv1 = rsv.rsv1
        return _RSV1


class WsprotoConnection(FrameMasker):
    """One upgraded connection: wsproto's ``FrameDecoder`` in, the core's masking out."""

    __slots__ = ("_decoder", "_opcode", "_parts", "_rsv", "_rsv1")

    minimal_lengths = True

    def __init__(self, deflate_negotiated: bool) -> None:
        super().__init__()
        self._rsv = _Rsv1() if deflate_negotiated else None
        extensions: list[Extension] = [] if self._rsv is None else [self._rsv]
        self._decoder = FrameDecoder(client=True, extensions=extensions)
        # The payload pieces of the frame being read, its opcode and RSV1.
        self._parts: list[bytes] = []
        self._opcode = 0
        self._rsv1 = False

    def receive_frames(self, data: bytes, /) -> list[Frame]:
        """Parse ``data`` with wsproto's ``FrameDecoder``; return the frames now complete."""
        frames: list[Frame] = []
        self._decoder.receive_bytes(data)
        try:
            while (piece := self._decoder.process_buffer()) is not None:
                payload = piece.payload
                assert isinstance(payload, bytes | bytearray)
                if not self._parts:
                    # The first piece of a frame: later pieces say CONTINUATION.
                    self._opcode = int(piece.opcode)
                    if self._rsv is not None:
                        self._rsv1 = self._rsv.rsv1
                if not piece.frame_finished:
                    self._parts.append(bytes(payload))
                    continue
                if self._parts:
                    self._parts.append(bytes(payload))
                    payload = b"".join(self._parts)
                    self._parts = []
                opcode = self._opcode
                # wsproto's FIN is "message finished" for data, always true for control.
                fin = piece.message_finished if opcode < 8 else True
                frames.append(Frame(opcode, fin, self._rsv1, bytes(payload)))
                self._rsv1 = False
        except ParseFailed as exc:
            refusal = ProtocolError(
                f"wsproto rejected a frame from the server: {exc}", close_code=int(exc.code)
            )
            refusal.events = frames  # completed before the refusal: delivered first
            raise refusal from None
        return frames


class WsprotoEngine(deflate.DeflateNegotiation):
    """wsproto-backed frame parser; sans-I/O, so it runs on asyncio and trio; permessage-deflate."""

    api_version = ENGINE_API_VERSION
    name = "wsproto"
    capabilities = EngineCapabilities(extensions=(deflate.NAME,), backends=("asyncio", "trio"))

    def connect(self, settings: EngineSettings) -> WsprotoConnection:
        """One WebSocket's codec; RSV1 is admitted only if permessage-deflate was agreed."""
        return WsprotoConnection(deflate.negotiate(settings.extensions) is not None)
