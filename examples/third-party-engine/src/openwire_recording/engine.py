"""A complete WebSocketEngine (contract version 2) that counts the frames it parses and writes.

It parses frames in pure Python and masks with the core's ``FrameMasker``;
every rule (header checks, fragments, UTF-8, limits, permessage-deflate,
close payloads) is the core's, which is why it fits in one small file and
still passes the whole conformance suite. The core hands ``receive_frames``
only headers it has vetted, and only whole ones, so the parser below never
checks a rule and never waits for half a header.
"""

from __future__ import annotations

from collections import Counter
from struct import Struct
from typing import ClassVar

from openwire.engines.contract import ENGINE_API_VERSION, EngineCapabilities, EngineSettings
from openwire.protocol import deflate
from openwire.protocol.frames import Frame, Opcode
from openwire.protocol.masking import FrameMasker

__all__ = ["RecordingConnection", "RecordingEngine"]

_U16 = Struct("!H")
_U64 = Struct("!Q")


def _kind(opcode: int) -> str:
    return Opcode(opcode).name.lower() if opcode in Opcode._value2member_map_ else "other"


class RecordingConnection(FrameMasker):
    """One connection's frame codec; ``counts`` maps ``in_<kind>``/``out_<kind>`` to how many."""

    __slots__ = ("_buf", "_text", "counts")

    def __init__(self, counts: Counter[str]) -> None:
        super().__init__()
        self.counts = counts
        self._buf = b""  # the start of a frame whose payload has not fully arrived
        self._text = False  # the data message in progress is text (for the counters)

    def receive_frames(self, data: bytes, /) -> list[Frame]:
        self.counts["bytes_in"] += len(data)
        buf = self._buf + data if self._buf else data
        frames: list[Frame] = []
        pos, end = 0, len(buf)
        while end - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            length, header = b1 & 0x7F, 2
            if length == 126:
                length, header = _U16.unpack_from(buf, pos + 2)[0], 4
            elif length == 127:
                length, header = _U64.unpack_from(buf, pos + 2)[0], 10
            stop = pos + header + length
            if stop > end:
                break  # the payload is still arriving; the core has already seen it
            opcode, fin = b0 & 0x0F, bool(b0 & 0x80)
            frames.append(Frame(opcode, fin, bool(b0 & 0x40), buf[pos + header : stop]))
            self._count("in", opcode, fin)
            pos = stop
        self._buf = buf[pos:]
        return frames

    def encode_frame(
        self, opcode: int, payload: bytes, fin: bool = True, rsv1: bool = False, /
    ) -> bytes:
        self.counts[f"out_{_kind(opcode)}"] += 1
        return super().encode_frame(opcode, payload, fin, rsv1)

    def _count(self, direction: str, opcode: int, fin: bool) -> None:
        """Count a message once, when its last frame is in, under its first frame's kind."""
        if opcode in (1, 2):
            self._text = opcode == 1
        if opcode >= 8:
            self.counts[f"{direction}_{_kind(opcode)}"] += 1
        elif fin:
            self.counts[f"{direction}_{'text' if self._text else 'binary'}"] += 1


class RecordingEngine(deflate.DeflateNegotiation):
    """Selected with ``engine="recording"``; permessage-deflate is the core's, so it is offered."""

    api_version = ENGINE_API_VERSION
    name = "recording"
    capabilities = EngineCapabilities(extensions=(deflate.NAME,), backends=("asyncio", "trio"))
    # Every connection's counters, process-wide, for tests and demos.
    totals: ClassVar[Counter[str]] = Counter()

    def connect(self, settings: EngineSettings) -> RecordingConnection:
        return RecordingConnection(self.totals)
