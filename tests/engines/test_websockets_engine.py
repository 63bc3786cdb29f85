"""The websockets engine at the codec level (frames in, events out; messages in, frames out)."""

from __future__ import annotations

from collections.abc import Generator

import pytest
from openwire.engines.contract import EngineSettings, Message
from openwire.protocol.frames import Opcode
from openwire_websockets import WebsocketsConnection, WebsocketsEngine

from tests.engines.codec_cases import EngineCodecCases, frame

ENGINE = WebsocketsEngine()


class TestWebsocketsEngine(EngineCodecCases):
    engine = ENGINE

    def test_invalid_utf8_fails_before_the_frame_completes(self) -> None:
        # websockets' frame layer yields whole frames; the core checks the
        # partial payload from the header, so it fails as early as native.
        conn = self.connect()
        data = frame(1, b"ab\xff" + b"x" * 1000)
        self.assert_fails(data[:8], 1007, conn)

    def test_non_minimal_length_is_accepted(self) -> None:
        data = bytes((0x82, 126, 0, 5)) + b"hello"
        assert self.feed(data) == [Message(b"hello", Opcode.BINARY)]

    def test_unexpected_library_failure_is_not_disguised(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # A library bug is not the peer's fault: it reaches the session, which
        # fails the connection with 1011 (tests/websocket: engine failures).
        frames = ENGINE.connect(EngineSettings(None, None))
        assert isinstance(frames, WebsocketsConnection)

        def broken() -> Generator[None, None, None]:
            yield
            raise RuntimeError("boom")

        parser = broken()
        next(parser)
        monkeypatch.setattr(frames, "_parser", parser)
        with pytest.raises(RuntimeError, match="boom"):
            frames.receive_frames(frame(2, b"x"))
