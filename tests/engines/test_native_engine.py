"""The native engine's codec, sans I/O: bytes in, events out; messages in, frames out."""

from __future__ import annotations

import os
import tracemalloc
import zlib

import pytest
from openwire.engines.contract import EngineSettings, Message, Ping
from openwire.engines.native import NativeEngine
from openwire.errors import InvalidExtension, PayloadTooBig, ProtocolError
from openwire.protocol import deflate
from openwire.protocol.codec import FrameCodec
from openwire.protocol.deflate import DeflateParameters, PerMessageDeflate
from openwire.protocol.masking import IMPLEMENTATION, apply_mask
from openwire.testing.frames import compress

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


# ------------------------------------------------------- permessage-deflate


def _deflate_codec(
    max_message_size: int | None = 1 << 20, extension: str = "permessage-deflate"
) -> FrameCodec:
    conn = NativeEngine().connect(
        EngineSettings(max_message_size, max_message_size, extensions=(extension,))
    )
    assert isinstance(conn, FrameCodec)
    return conn


def test_no_extension_means_no_deflate_state() -> None:
    conn = NativeEngine().connect(EngineSettings(None, None))
    assert isinstance(conn, FrameCodec)
    assert conn._deflate is None
    assert conn.encode_message(b"x" * 1000)[0] == 0x82


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("permessage-deflate", DeflateParameters()),
        (
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
            DeflateParameters(server_no_context_takeover=True, client_no_context_takeover=True),
        ),
        (
            'permessage-deflate; server_max_window_bits=9; client_max_window_bits="12"',
            DeflateParameters(server_max_window_bits=9, client_max_window_bits=12),
        ),
    ],
)
def test_negotiate_reads_the_rfc_parameters(answer: str, expected: DeflateParameters) -> None:
    assert deflate.negotiate([answer]) == expected


@pytest.mark.parametrize(
    "answer",
    [
        "permessage-deflate; foo=1",
        "permessage-deflate; client_max_window_bits=7",
        "permessage-deflate; client_max_window_bits",
        "permessage-deflate; server_max_window_bits=1a",
        "permessage-deflate; client_no_context_takeover=yes",
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "permessage-deflate; server_max_window_bits=9; server_max_window_bits=10",
        "permessage-deflate, x-other",
        "permessage-deflate; ",
        'permessage-deflate; client_max_window_bits="10',
    ],
)
def test_negotiate_refuses_what_rfc_7692_refuses(answer: str) -> None:
    with pytest.raises(InvalidExtension):
        deflate.negotiate([answer])


def test_compressed_text_and_binary_are_inflated() -> None:
    conn = _deflate_codec()
    c = zlib.compressobj(wbits=-15)
    text = "héllo " * 100
    data = (
        frame(1, compress(text.encode(), c), rsv=4)
        + frame(2, compress(b"\x00" * 5000, c), rsv=4)
        + frame(1, b"plain")
    )
    assert [e.data for e in conn.receive_data(data)] == [text, b"\x00" * 5000, "plain"]


def test_compressed_fragments_arriving_in_small_chunks() -> None:
    conn = _deflate_codec()
    text = "a€𝄞é" * 3000
    wire = compress(text.encode())
    data = (
        frame(1, wire[:100], fin=False, rsv=4)
        + frame(9, b"ping")
        + frame(0, wire[100:1000], fin=False)
        + frame(0, wire[1000:])
    )
    events = []
    for i in range(0, len(data), 7):
        events += conn.receive_data(data[i : i + 7])
    assert events == [Ping(b"ping"), Message(text, events[1].opcode)]
    assert conn._pending == [] and conn._asm.opcode == 0


def test_invalid_utf8_inside_compressed_fragments_fails_early() -> None:
    conn = _deflate_codec()
    wire = compress(b"ok \xff" + os.urandom(5000).hex().encode())
    first = frame(1, wire[: len(wire) // 2], fin=False, rsv=4)
    with pytest.raises(ProtocolError) as info:
        conn.receive_data(first)
    assert info.value.close_code == 1007


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (frame(0, b"x", rsv=4), 1002),
        (frame(1, b"x", fin=False) + frame(0, b"x", rsv=4), 1002),
        (frame(9, b"x", rsv=4), 1002),
        (frame(1, b"x", rsv=6), 1002),
        (frame(2, b"\xff\xff", rsv=4), 1007),
    ],
)
def test_deflate_framing_errors(data: bytes, code: int) -> None:
    with pytest.raises(ProtocolError) as info:
        _deflate_codec().receive_data(data)
    assert info.value.close_code == code


def test_decompression_bomb_stops_at_the_limit() -> None:
    bomb = frame(2, compress(bytes(64 << 20)), rsv=4)  # 64 MiB of zeros, ~64 KiB
    conn = _deflate_codec(max_message_size=1 << 20)
    tracemalloc.start()
    try:
        with pytest.raises(PayloadTooBig):
            conn.receive_data(bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20, f"inflating a bomb allocated {peak} bytes"


def test_limit_counts_inflated_bytes_across_fragments() -> None:
    wire = compress(bytes(3000))
    data = frame(2, wire[:5], fin=False, rsv=4) + frame(0, wire[5:])
    with pytest.raises(PayloadTooBig):
        _deflate_codec(max_message_size=2999).receive_data(data)
    assert _deflate_codec(max_message_size=3000).receive_data(data)[0].data == bytes(3000)


def test_server_no_context_takeover_resets_the_inflater() -> None:
    pmd = PerMessageDeflate(DeflateParameters(server_no_context_takeover=True), None)
    assert pmd.decompress(compress(b"abc" * 100), True) == b"abc" * 100
    assert pmd._decoder is None


def test_an_8_bit_client_window_means_no_compression() -> None:
    conn = _deflate_codec(extension="permessage-deflate; client_max_window_bits=8")
    assert parse_client_frame(conn.encode_message(b"x" * 1000))[0] == 0x82


def test_messages_never_share_buffers_across_connections() -> None:
    # The assembler's between-message placeholders are shared by every
    # connection: a message must always collect into lists of its own.
    from openwire.protocol import assembler

    first, second = FrameCodec(None, None), FrameCodec(None, None)
    text = frame(0x1, b"he", fin=False) + frame(0x0, b"llo")
    binary = frame(0x2, b"\x01", fin=False) + frame(0x0, b"\x02")
    assert first.receive_data(text[:5]) == []
    assert second.receive_data(binary) == [Message(b"\x01\x02", 0x2)]
    assert first.receive_data(text[5:]) == [Message("hello", 0x1)]
    assert second.receive_data(text) == [Message("hello", 0x1)]
    assert assembler._NOT_BEGUN_TEXT == [] and assembler._NOT_BEGUN_PARTS == []
