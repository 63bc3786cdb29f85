"""The websockets engine at the codec level (frames in, events out; messages in, frames out)."""

from __future__ import annotations

from collections.abc import Generator

import pytest
from openwire.engines.contract import Message
from openwire.errors import ProtocolError
from openwire.protocol.frames import Opcode
from openwire_websockets import WebsocketsConnection, WebsocketsEngine

from tests.engines.codec_cases import EngineCodecCases, frame

ENGINE = WebsocketsEngine()


class TestWebsocketsEngine(EngineCodecCases):
    engine = ENGINE

    def test_invalid_utf8_fails_when_its_frame_completes(self) -> None:
        # websockets' frame layer yields whole frames (documented difference).
        conn = self.connect()
        data = frame(1, b"ab\xff" + b"x" * 1000)
        assert conn.receive_data(data[:8]) == []
        self.assert_fails(data[8:], 1007, conn)

    def test_non_minimal_length_is_accepted(self) -> None:
        data = bytes((0x82, 126, 0, 5)) + b"hello"
        assert self.feed(data) == [Message(b"hello", Opcode.BINARY)]

    def test_unexpected_library_failure_is_mapped(self, monkeypatch: pytest.MonkeyPatch) -> None:
        conn = self.connect()
        assert isinstance(conn, WebsocketsConnection)

        def broken() -> Generator[None, None, None]:
            yield
            raise RuntimeError("boom")

        parser = broken()
        next(parser)
        monkeypatch.setattr(conn, "_parser", parser)
        with pytest.raises(ProtocolError) as info:
            conn.receive_data(frame(2, b"x"))
        assert info.value.close_code == 1011
