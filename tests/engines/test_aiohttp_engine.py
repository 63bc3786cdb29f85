"""The aiohttp engine at the codec level (frames in, events out; messages in, frames out)."""

from __future__ import annotations

import pytest
from openwire.errors import InvalidExtension, PayloadTooBig, ProtocolError
from openwire.websocket.engine import Close, EngineConnection, Message, Ping
from openwire.websocket.frames import Opcode
from openwire_aiohttp import AiohttpConnection, AiohttpEngine, connection

from tests.engines.codec_cases import EngineCodecCases, MiB, frame, parse_client_frame


class TestAiohttpEngine(EngineCodecCases):
    engine = AiohttpEngine()

    def test_capabilities_and_extensions(self) -> None:
        # aiohttp is asyncio-only; the core refuses trio before connecting.
        assert self.engine.capabilities.backends == ("asyncio",)
        assert self.engine.capabilities.extensions == ()
        assert self.engine.extension_offers(None) == []
        assert self.engine.extension_offers("deflate") == []
        assert self.engine.accept_extensions([]) == []
        with pytest.raises(InvalidExtension):
            self.engine.accept_extensions(["permessage-deflate"])
        assert isinstance(self.connect(), EngineConnection)

    def test_invalid_utf8_in_unfragmented_text_fails_when_it_completes(self) -> None:
        # aiohttp decodes a whole message at once (documented difference).
        conn = self.connect()
        data = frame(1, b"ab\xff" + b"x" * 1000)
        assert conn.receive_data(data[:8]) == []
        self.assert_fails(data[8:], 1007, conn)

    def test_invalid_utf8_in_a_fragment_fails_before_the_fragment_completes(self) -> None:
        conn = self.connect()
        assert conn.receive_data(frame(1, b"ok", fin=False)) == []
        data = frame(0, b"\xff" + b"x" * 1000, fin=False)
        self.assert_fails(data[:6], 1007, conn)

    def test_fragment_validation_ends_with_the_message(self) -> None:
        # After a fragmented text message, binary payloads are not UTF-8 checked.
        conn = self.connect()
        last = frame(0, "€".encode())
        stream = frame(1, b"a", fin=False) + last[:3]
        assert conn.receive_data(stream) == []
        assert conn.receive_data(last[3:] + frame(2, b"\xff")) == [
            Message("a€", Opcode.TEXT),
            Message(b"\xff", Opcode.BINARY),
        ]

    def test_text_fragment_straddling_chunks_is_validated_across_them(self) -> None:
        conn = self.connect()
        fragment = frame(1, "é".encode() * 10, fin=False)
        assert conn.receive_data(fragment[:5]) == []  # splits a 2-byte code point
        assert conn.receive_data(fragment[5:] + frame(0, b"!")) == [
            Message("é" * 10 + "!", Opcode.TEXT)
        ]

    def test_limits_enforced_before_buffering_the_announced_payload(self) -> None:
        conn = self.connect(max_frame_size=MiB, max_message_size=None)
        with pytest.raises(PayloadTooBig) as info:
            conn.receive_data(frame(2, length=2**62)[:10])
        assert info.value.close_code == 1009
        assert isinstance(conn, AiohttpConnection)
        assert conn._held == b""
        assert not conn._items

    def test_frame_limit_below_message_limit(self) -> None:
        conn = self.connect(max_frame_size=4, max_message_size=10)
        stream = frame(2, b"1234", fin=False) + frame(0, b"5678", fin=False) + frame(0, b"90")
        assert conn.receive_data(stream) == [Message(b"1234567890", Opcode.BINARY)]
        with pytest.raises(PayloadTooBig):
            conn.receive_data(frame(2, b"12345")[:2])

    def test_error_precedence_within_a_header_matches_native(self) -> None:
        # RSV bits are reported before the oversize length, as by the native codec.
        conn = self.connect(max_frame_size=10, max_message_size=10)
        error = self.assert_fails(frame(2, length=2**40, rsv=4)[:10], 1002, conn)
        assert not isinstance(error, PayloadTooBig)

    def test_masked_frame_is_rejected_even_when_aiohttp_could_unmask_it(self) -> None:
        error = self.assert_fails(frame(1, b"hi", mask=b"abcd"), 1002)
        assert "masked" in str(error)

    def test_close_is_cut_out_with_its_raw_payload_between_messages(self) -> None:
        # aiohttp would reject this Close (1005 is not a wire code); the core decides.
        stream = frame(1, b"before") + frame(8, b"\x03\xed\xff") + frame(2, b"after")
        assert self.feed(stream) == [
            Message("before", Opcode.TEXT),
            Close(b"\x03\xed\xff"),
            Message(b"after", Opcode.BINARY),
        ]

    def test_close_split_across_chunks_is_held_back(self) -> None:
        conn = self.connect()
        data = frame(9, b"p") + frame(8, b"\x03\xe8bye")
        assert conn.receive_data(data[:5]) == [Ping(b"p")]
        assert conn.receive_data(data[5:8]) == []
        assert conn.receive_data(data[8:]) == [Close(b"\x03\xe8bye")]

    def test_many_messages_in_one_chunk(self) -> None:
        stream = b"".join(frame(1 + i % 2, b"x" * (i % 200)) for i in range(1000))
        events = self.feed(stream)
        assert len(events) == 1000
        assert events[999] == Message(b"x" * 199, Opcode.BINARY)

    def test_queue_byte_count_is_reset(self) -> None:
        conn = self.connect(max_frame_size=None, max_message_size=None)
        assert isinstance(conn, AiohttpConnection)
        payload = b"x" * 65536
        data = frame(2, payload) * 200  # ~13 MiB per feed
        for _ in range(100):
            assert len(conn.receive_data(data)) == 200
        assert conn._queue._size <= 2**30 + len(data) * 2

    def test_reader_stalled_by_its_queue_is_resumed(self, monkeypatch: pytest.MonkeyPatch) -> None:
        # With a small queue limit the reader stalls mid-chunk, as it could
        # (once in 4 GiB) with the real one; every message must still come out.
        monkeypatch.setattr(connection, "_QUEUE_LIMIT", 1000)
        conn = self.connect(max_frame_size=None, max_message_size=None)
        stream = b"".join(frame(2, bytes([i]) * 100) for i in range(50))
        events = conn.receive_data(stream)
        assert events == [Message(bytes([i]) * 100, Opcode.BINARY) for i in range(50)]

    def test_masking_keys_are_fresh_across_pool_refills(self) -> None:
        conn = self.connect()
        keys = [parse_client_frame(conn.encode_message(b"k"))[1] for _ in range(1000)]
        assert len(set(keys)) > 990  # 32-bit random keys: collisions are improbable

    def test_reader_failure_is_mapped(self, monkeypatch: pytest.MonkeyPatch) -> None:
        conn = self.connect()
        assert isinstance(conn, AiohttpConnection)
        queue = conn._queue

        class Broken:
            def feed_data(self, data: bytes) -> tuple[bool, bytes]:
                queue.set_exception(RuntimeError("boom"))
                return True, b""

        monkeypatch.setattr(conn, "_reader", Broken())
        with pytest.raises(ProtocolError) as info:
            conn.receive_data(frame(2, b"x"))
        assert info.value.close_code == 1011
