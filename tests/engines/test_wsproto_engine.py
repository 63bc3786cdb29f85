"""The wsproto engine at the codec level (frames in, events out; messages in, frames out)."""

from __future__ import annotations

import pytest
from openwire.engines.contract import EngineSettings, Message, Ping
from openwire.errors import ProtocolError
from openwire.protocol.frames import Opcode
from openwire.protocol.reader import FrameReader
from openwire_wsproto import WsprotoConnection, WsprotoEngine

from tests.engines.codec_cases import EngineCodecCases, MiB, frame

ENGINE = WsprotoEngine()


class TestWsprotoEngine(EngineCodecCases):
    engine = ENGINE

    def test_invalid_utf8_fails_before_the_frame_completes(self) -> None:
        conn = self.connect()
        partial = frame(1, b"ab\xff" + b"x" * 1000)[:8]
        self.assert_fails(partial, 1007, conn)

    def test_non_minimal_lengths_are_accepted(self) -> None:
        # wsproto refuses a length in a longer form than needed; RFC 6455 §5.2
        # binds the sender, so the core rewrites the header first, for every
        # frame (minimal_lengths), as for the other engines.
        data = (
            bytes((0x82, 126, 0, 5))
            + b"hello"
            + bytes((0x81, 127, 0, 0, 0, 0, 0, 0, 1, 44))
            + b"t" * 300
            + bytes((0x89, 126, 0, 2))
            + b"hi"
        )
        assert self.feed(data) == [
            Message(b"hello", Opcode.BINARY),
            Message("t" * 300, Opcode.TEXT),
            Ping(b"hi"),
        ]

    def test_frames_before_a_library_refusal_ride_on_the_error(self) -> None:
        # With the rewrite turned off, wsproto's own refusal of a non-minimal
        # length surfaces as a ProtocolError carrying the frames before it.
        class Refusing(WsprotoConnection):
            __slots__ = ()
            minimal_lengths = False

        reader = FrameReader(Refusing(False), MiB, MiB)
        data = frame(2, b"") + bytes((0x82, 127)) + bytes(8)
        with pytest.raises(ProtocolError) as info:
            reader.receive_data(data)
        assert info.value.close_code == 1002
        assert info.value.events == [Message(b"", Opcode.BINARY)]

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
