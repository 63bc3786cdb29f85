"""The aiohttp engine at the codec level (frames in, events out; messages in, frames out)."""

from __future__ import annotations

import os
import tracemalloc
import zlib

import pytest
from openwire.engines.connection import open_engine_connection
from openwire.engines.contract import Close, EngineSettings, Message, Ping, Pong
from openwire.errors import PayloadTooBig, ProtocolError
from openwire.protocol.frames import Frame, Opcode
from openwire.protocol.reader import DeflateFrameReader, FrameReader
from openwire.testing.frames import compress
from openwire_aiohttp import AiohttpConnection, AiohttpEngine, _compat

from tests.engines.codec_cases import EngineCodecCases, MiB, frame, parse_client_frame


class TestAiohttpEngine(EngineCodecCases):
    engine = AiohttpEngine()
    backends = ("asyncio",)  # aiohttp is asyncio-only; trio is refused before connecting

    def test_without_deflate_the_plain_connection_is_used(self) -> None:
        assert type(self.engine.connect(EngineSettings(None, None))) is AiohttpConnection
        assert type(self.connect()) is FrameReader

    def test_invalid_utf8_in_unfragmented_text_fails_before_it_completes(self) -> None:
        # aiohttp's reader yields whole frames; the core checks the payload as it arrives.
        conn = self.connect()
        data = frame(1, b"ab\xff" + b"x" * 1000)
        self.assert_fails(data[:8], 1007, conn)

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
        fed: list[bytes] = []
        frames = AiohttpConnection()
        parse = frames.receive_frames

        class Spy:
            encode_frame = frames.encode_frame

            def receive_frames(self, data: bytes, /) -> list[Frame]:
                fed.append(data)
                return parse(data)

        conn = FrameReader(Spy(), MiB, None)
        with pytest.raises(PayloadTooBig) as info:
            conn.receive_data(frame(2, b"ok") + frame(2, length=2**62)[:10])
        assert info.value.close_code == 1009
        assert info.value.events == [Message(b"ok", Opcode.BINARY)]
        # aiohttp's reader never saw a byte of the oversize header.
        assert fed == [frame(2, b"ok")]
        assert frames._reader.frames == []

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

    @pytest.mark.parametrize("length_bytes", [2, 8])
    def test_ping_and_pong_with_a_non_minimal_length_are_delivered(self, length_bytes: int) -> None:
        # §5.2 asks the sender for the minimal length form; aiohttp's reader
        # refused a control frame using a longer one as "over 125 bytes".
        data = (
            frame(2, b"a", fin=False)
            + frame(9, b"pi", length_bytes=length_bytes)
            + frame(10, b"", length_bytes=length_bytes)
            + frame(0, b"b")
        )
        expected = [Ping(b"pi"), Pong(b""), Message(b"ab", Opcode.BINARY)]
        assert self.feed(data) == expected
        conn = self.connect()
        got = [event for i in range(len(data)) for event in conn.receive_data(data[i : i + 1])]
        assert got == expected

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

    def test_queue_byte_count_never_grows(self) -> None:
        # Frames leave through _handle_frame, never through aiohttp's queue,
        # so its byte count (and the stall it can cause) stays at zero.
        frames = AiohttpConnection()
        conn = FrameReader(frames, None, None)
        payload = b"x" * 65536
        data = frame(2, payload) * 200  # ~13 MiB per feed
        for _ in range(100):
            assert len(conn.receive_data(data)) == 200
        assert frames._reader.queue_._size == 0

    def test_reader_with_a_small_queue_limit_does_not_stall(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # With a small queue limit the reader would stall mid-chunk if frames
        # went through the queue; every message must still come out.
        monkeypatch.setattr(_compat, "_QUEUE_LIMIT", 1000)
        conn = self.connect(max_frame_size=None, max_message_size=None)
        stream = b"".join(frame(2, bytes([i]) * 100) for i in range(50))
        events = conn.receive_data(stream)
        assert events == [Message(bytes([i]) * 100, Opcode.BINARY) for i in range(50)]

    def test_masking_keys_are_fresh_across_pool_refills(self) -> None:
        conn = self.connect()
        keys = [parse_client_frame(conn.encode_message(b"k"))[1] for _ in range(1000)]
        assert len(set(keys)) > 990  # 32-bit random keys: collisions are improbable

    def test_reader_failure_is_not_disguised(self, monkeypatch: pytest.MonkeyPatch) -> None:
        # A library bug is not the peer's fault: it reaches the session, which
        # fails the connection with 1011 and names the engine.
        frames = AiohttpConnection()
        queue = frames._reader.queue_

        class Broken:
            queue_ = queue

            def feed_data(self, data: bytes) -> tuple[bool, bytes]:
                queue.set_exception(RuntimeError("boom"))
                return True, b""

        monkeypatch.setattr(frames, "_reader", Broken())
        with pytest.raises(RuntimeError, match="boom"):
            frames.receive_frames(frame(2, b"x"))

    def test_reader_refusal_is_a_protocol_error(self) -> None:
        # What aiohttp's reader refuses on its own carries its close code.
        frames = AiohttpConnection()
        with pytest.raises(ProtocolError) as info:
            frames.receive_frames(frame(3, b"x"))
        assert info.value.close_code == 1002


# ------------------------------------------------------- permessage-deflate


def _deflate_conn(
    max_message_size: int | None = 1 << 20, extension: str = "permessage-deflate"
) -> DeflateFrameReader:
    settings = EngineSettings(max_message_size, max_message_size, extensions=(extension,))
    conn = open_engine_connection(AiohttpEngine(), settings)
    assert isinstance(conn, DeflateFrameReader)
    return conn


def test_no_extension_means_uncompressed_sends() -> None:
    conn = open_engine_connection(AiohttpEngine(), EngineSettings(None, None))
    assert conn.encode_message(b"x" * 1000)[0] == 0x82


def test_compressed_and_plain_messages_interleave_with_context_takeover() -> None:
    conn = _deflate_conn()
    c = zlib.compressobj(wbits=-15)
    text = "héllo " * 100
    data = (
        frame(1, compress(text.encode(), c), rsv=4)
        + frame(1, b"plain")
        + frame(2, compress(b"\x00" * 5000, c), rsv=4)
        + frame(9, b"p")
        + frame(2, compress(text.encode(), c), rsv=4)
    )
    assert conn.receive_data(data) == [
        Message(text, Opcode.TEXT),
        Message("plain", Opcode.TEXT),
        Message(b"\x00" * 5000, Opcode.BINARY),
        Ping(b"p"),
        Message(text.encode(), Opcode.BINARY),
    ]


@pytest.mark.parametrize("step", [1, 7, 1000])
def test_compressed_fragments_arriving_in_chunks(step: int) -> None:
    conn = _deflate_conn()
    text = "a€𝄞é" * 3000
    wire = compress(text.encode())
    data = (
        frame(1, wire[:100], fin=False, rsv=4)
        + frame(9, b"ping")
        + frame(0, wire[100:1000], fin=False)
        + frame(8, b"\x03\xe8")
        + frame(0, wire[1000:])
        + frame(2, b"after")
    )
    events = []
    for i in range(0, len(data), step):
        events += conn.receive_data(data[i : i + step])
    assert events == [
        Ping(b"ping"),
        Close(b"\x03\xe8"),
        Message(text, Opcode.TEXT),
        Message(b"after", Opcode.BINARY),
    ]
    assert conn._asm.opcode == 0  # no message left half-assembled


def test_invalid_utf8_inside_compressed_fragments_fails_early() -> None:
    conn = _deflate_conn()
    wire = compress(b"ok \xff" + os.urandom(5000).hex().encode())
    with pytest.raises(ProtocolError) as info:
        conn.receive_data(frame(1, wire[: len(wire) // 2], fin=False, rsv=4))
    assert info.value.close_code == 1007


@pytest.mark.parametrize(
    ("data", "code"),
    [
        pytest.param(frame(0, b"x", rsv=4), 1002, id="rsv1-continuation-alone"),
        pytest.param(
            frame(1, b"x", fin=False) + frame(0, b"x", rsv=4), 1002, id="rsv1-continuation"
        ),
        pytest.param(frame(9, b"x", rsv=4), 1002, id="rsv1-control"),
        pytest.param(frame(1, b"x", rsv=6), 1002, id="rsv2"),
        pytest.param(frame(2, b"\xff\xff", rsv=4), 1007, id="invalid-deflate"),
        pytest.param(frame(1, compress(b"\xff"), rsv=4), 1007, id="invalid-utf8"),
    ],
)
def test_deflate_framing_errors_match_native(data: bytes, code: int) -> None:
    with pytest.raises(ProtocolError) as info:
        _deflate_conn().receive_data(data)
    assert info.value.close_code == code


def test_rsv1_without_deflate_is_1002() -> None:
    with pytest.raises(ProtocolError) as info:
        open_engine_connection(AiohttpEngine(), EngineSettings(None, None)).receive_data(
            frame(2, compress(b"x" * 200), rsv=4)
        )
    assert info.value.close_code == 1002


@pytest.mark.parametrize("step", [None, 4096])
def test_decompression_bomb_stops_at_the_limit(step: int | None) -> None:
    bomb = frame(2, compress(bytes(64 << 20)), rsv=4)  # 64 MiB of zeros, ~64 KiB
    conn = _deflate_conn(max_message_size=1 << 20)
    chunks = [bomb] if step is None else [bomb[i : i + step] for i in range(0, len(bomb), step)]

    def feed_all() -> None:
        for chunk in chunks:
            conn.receive_data(chunk)

    tracemalloc.start()
    try:
        with pytest.raises(PayloadTooBig) as info:
            feed_all()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.value.close_code == 1009
    assert peak < 4 << 20, f"inflating a bomb allocated {peak} bytes"


def test_limit_counts_inflated_bytes_across_fragments() -> None:
    wire = compress(bytes(3000))
    data = frame(2, wire[:5], fin=False, rsv=4) + frame(0, wire[5:])
    with pytest.raises(PayloadTooBig):
        _deflate_conn(max_message_size=2999).receive_data(data)
    assert _deflate_conn(max_message_size=3000).receive_data(data) == [
        Message(bytes(3000), Opcode.BINARY)
    ]


def test_server_no_context_takeover_with_final_blocks() -> None:
    # A server without context takeover may end each message's stream with
    # BFINAL; the inflater must start afresh for the next one.
    conn = _deflate_conn(extension="permessage-deflate; server_no_context_takeover")
    for _ in range(3):
        c = zlib.compressobj(wbits=-15)
        wire = c.compress(b"abc" * 100) + c.flush(zlib.Z_FINISH)
        assert conn.receive_data(frame(1, wire, rsv=4)) == [Message("abc" * 100, Opcode.TEXT)]
