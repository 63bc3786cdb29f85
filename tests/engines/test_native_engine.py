"""The native engine's codec, sans I/O: bytes in, events out; messages in, frames out."""

from __future__ import annotations

import os

from openwire.websocket.codec import FrameCodec
from openwire.websocket.engine import Message
from openwire.websocket.masking import IMPLEMENTATION, apply_mask
from openwire.websocket.native import NativeEngine

from tests.engines.codec_cases import EngineCodecCases, frame, parse_client_frame


class TestNativeEngine(EngineCodecCases):
    engine = NativeEngine()

    def test_invalid_utf8_fails_before_the_frame_completes(self) -> None:
        conn = self.connect()
        partial = frame(1, b"ab\xff" + b"x" * 1000)[:8]
        self.assert_fails(partial, 1007, conn)

    def test_large_frame_in_small_chunks_is_joined_once(self) -> None:
        codec = FrameCodec(None, None)
        data = frame(2, os.urandom(1 << 20))
        events = []
        for i in range(0, len(data), 4096):
            events += codec.receive_data(data[i : i + 4096])
        assert len(events) == 1
        assert events[0] == Message(data[10:], events[0].opcode)
        assert codec._pending == []

    def test_text_split_across_chunks_and_fragments_decodes_once(self) -> None:
        codec = FrameCodec(None, None)
        text = "a€𝄞é" * 500
        raw = text.encode()
        data = frame(1, raw[:1001], fin=False) + frame(0, raw[1001:])
        events = []
        for i in range(0, len(data), 7):
            events += codec.receive_data(data[i : i + 7])
        assert [e.data for e in events] == [text]


def test_masking_matches_the_rfc_example() -> None:
    # RFC 6455 §5.7: "Hello" masked with 37 fa 21 3d.
    assert apply_mask(b"Hello", bytes.fromhex("37fa213d")) == bytes.fromhex("7f9f4d5158")


def test_masking_round_trips_every_length() -> None:
    key = os.urandom(4)
    for n in (0, 1, 3, 4, 5, 125, 126, 4097):
        data = os.urandom(n)
        assert apply_mask(apply_mask(data, key), key) == data
    assert IMPLEMENTATION in ("websockets.speedups", "python")


def test_every_encoded_frame_has_a_fresh_key() -> None:
    codec = FrameCodec(None, None)
    keys = {parse_client_frame(codec.encode_message(b"x"))[1] for _ in range(500)}
    assert len(keys) == 500
