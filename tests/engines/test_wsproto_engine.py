"""The wsproto engine at the codec level (frames in, events out; messages in, frames out)."""

from __future__ import annotations

import pytest
from openwire.engines.contract import EngineSettings, Message
from openwire.protocol.frames import Opcode
from openwire_wsproto import WsprotoConnection, WsprotoEngine

from tests.engines.codec_cases import EngineCodecCases, frame

ENGINE = WsprotoEngine()


class TestWsprotoEngine(EngineCodecCases):
    engine = ENGINE

    def test_invalid_utf8_fails_before_the_frame_completes(self) -> None:
        conn = self.connect()
        partial = frame(1, b"ab\xff" + b"x" * 1000)[:8]
        self.assert_fails(partial, 1007, conn)

    def test_non_minimal_length_is_rejected(self) -> None:
        # wsproto enforces RFC 6455 §5.2's "minimal number of bytes"; native does not.
        data = bytes((0x82, 126, 0, 5)) + b"hello"
        self.assert_fails(data, 1002)

    def test_frames_before_a_library_refusal_ride_on_the_error(self) -> None:
        data = frame(2, b"") + bytes((0x82, 127)) + bytes(8)  # then a non-minimal length
        error = self.assert_fails(data, 1002)
        assert error.events == [Message(b"", Opcode.BINARY)]

    def test_unexpected_library_failure_is_not_disguised(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # A library bug is not the peer's fault: it reaches the session, which
        # fails the connection with 1011 (tests/websocket: engine failures).
        frames = ENGINE.connect(EngineSettings(None, None))
        assert isinstance(frames, WsprotoConnection)

        def boom() -> None:
            raise RuntimeError("boom")

        monkeypatch.setattr(frames._decoder, "process_buffer", boom)
        with pytest.raises(RuntimeError, match="boom"):
            frames.receive_frames(frame(2, b"x"))
