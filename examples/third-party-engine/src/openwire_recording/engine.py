"""A WebSocketEngine that delegates to the native codec and counts what it sees.

Engines only translate; this one adds bookkeeping around a codec that already
translates, so it stays correct by construction and still exercises the whole
plugin path: entry point, hook, selection by name, conformance.
"""

from __future__ import annotations

from collections import Counter
from typing import ClassVar

from openwire.engines.contract import (
    EngineCapabilities,
    EngineConnection,
    EngineEvent,
    EngineSettings,
)
from openwire.errors import InvalidExtension
from openwire.protocol.codec import FrameCodec


class RecordingConnection:
    """Wraps one connection's codec; ``counts`` maps event kinds to how many."""

    def __init__(self, codec: FrameCodec, counts: Counter[str]) -> None:
        self._codec = codec
        self.counts = counts

    def receive_data(self, data: bytes) -> list[EngineEvent]:
        self.counts["bytes_in"] += len(data)
        events = self._codec.receive_data(data)
        for event in events:
            self.counts[f"in_{event.opcode.name.lower()}"] += 1
        return events

    def encode_message(self, data: str | bytes) -> bytes:
        self.counts["out_text" if isinstance(data, str) else "out_binary"] += 1
        return self._codec.encode_message(data)

    def encode_ping(self, payload: bytes) -> bytes:
        self.counts["out_ping"] += 1
        return self._codec.encode_ping(payload)

    def encode_pong(self, payload: bytes) -> bytes:
        self.counts["out_pong"] += 1
        return self._codec.encode_pong(payload)

    def encode_close(self, code: int | None, reason: str) -> bytes:
        self.counts["out_close"] += 1
        return self._codec.encode_close(code, reason)


class RecordingEngine:
    name = "recording"
    capabilities = EngineCapabilities(extensions=(), backends=("asyncio", "trio"))
    # Every connection's counters, process-wide, for tests and demos.
    totals: ClassVar[Counter[str]] = Counter()

    def extension_offers(self, compression: str | None) -> list[str]:
        return []

    def accept_extensions(self, accepted: list[str]) -> list[str]:
        if accepted:
            raise InvalidExtension(f"the recording engine offers no extensions, got {accepted}")
        return []

    def connect(self, settings: EngineSettings) -> EngineConnection:
        codec = FrameCodec(settings.max_frame_size, settings.max_message_size)
        return RecordingConnection(codec, self.totals)
