"""permessage-deflate at the codec level, for every engine that offers it.

The same cases for each engine: what users see must not depend on which
library inflates.
"""

from __future__ import annotations

import os
import tracemalloc
import zlib

import pytest
from openwire.engines.connection import open_engine_connection
from openwire.engines.contract import (
    EngineSettings,
    Message,
    MessageCodec,
    Ping,
    WebSocketEngine,
)
from openwire.engines.native import NativeEngine
from openwire.errors import InvalidExtension, PayloadTooBig, ProtocolError
from openwire.protocol import deflate
from openwire.protocol.frames import Opcode
from openwire.testing.frames import TAIL, compress
from openwire_aiohttp.plugin import AiohttpEngine
from openwire_websockets import WebsocketsEngine
from openwire_wsproto import WsprotoEngine

from tests.engines.codec_cases import frame, parse_client_frame


@pytest.fixture(
    params=[NativeEngine(), WebsocketsEngine(), WsprotoEngine(), AiohttpEngine()],
    ids=lambda engine: engine.name,
)
def deflate_engine(request: pytest.FixtureRequest) -> WebSocketEngine:
    engine: WebSocketEngine = request.param
    return engine


MiB = 1 << 20


def _deflate_conn(
    deflate_engine: WebSocketEngine,
    max_message_size: int | None = MiB,
    extension: str = "permessage-deflate",
) -> MessageCodec:
    settings = EngineSettings(max_message_size, max_message_size, extensions=(extension,))
    return open_engine_connection(deflate_engine, settings)


def _fails(conn: MessageCodec, data: bytes, code: int) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        conn.receive_data(data)
    assert info.value.close_code == code, info.value
    return info.value


@pytest.mark.parametrize(
    "answer",
    [
        "permessage-deflate",
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
        'permessage-deflate; server_max_window_bits=8; client_max_window_bits="9"',
    ],
)
def test_acceptable_answers_are_passed_back(deflate_engine: WebSocketEngine, answer: str) -> None:
    assert deflate_engine.accept_extensions([answer]) == [answer]
    assert isinstance(_deflate_conn(deflate_engine, extension=answer), MessageCodec)


@pytest.mark.parametrize(
    "answer",
    [
        "permessage-deflate; unknown",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
        "permessage-deflate, permessage-deflate",
        "x-webkit-deflate-frame",
    ],
)
def test_unacceptable_answers_raise_invalid_extension(
    deflate_engine: WebSocketEngine, answer: str
) -> None:
    # The §7.1 rules are the core's, so every engine refuses the same answers.
    with pytest.raises(InvalidExtension):
        deflate_engine.accept_extensions([answer])


def test_compressed_messages_round_trip_with_context_takeover(
    deflate_engine: WebSocketEngine,
) -> None:
    conn = _deflate_conn(
        deflate_engine,
    )
    c = zlib.compressobj(wbits=-15)
    text = "héllo, again and again " * 20
    binary = os.urandom(50) * 40
    data = (
        frame(1, compress(text.encode(), c), rsv=4)
        + frame(2, b"plain")
        + frame(1, compress(text.encode(), c), rsv=4)
    )
    compressed = compress(binary, c)
    data += frame(2, compressed[:7], fin=False, rsv=4) + frame(9, b"p")
    data += frame(0, compressed[7:])
    events = conn.receive_data(data)
    assert events == [
        Message(text, Opcode.TEXT),
        Message(b"plain", Opcode.BINARY),
        Message(text, Opcode.TEXT),
        Ping(b"p"),
        Message(binary, Opcode.BINARY),
    ]


def test_compressed_message_byte_by_byte(deflate_engine: WebSocketEngine) -> None:
    conn = _deflate_conn(
        deflate_engine,
    )
    text = "incremental " * 100
    data = frame(1, compress(text.encode()), rsv=4)
    events = [e for i in range(len(data)) for e in conn.receive_data(data[i : i + 1])]
    assert events == [Message(text, Opcode.TEXT)]


def test_server_no_context_takeover_and_small_window(deflate_engine: WebSocketEngine) -> None:
    conn = _deflate_conn(
        deflate_engine,
        extension="permessage-deflate; server_no_context_takeover; server_max_window_bits=10",
    )
    messages = [b"z" * 5000, os.urandom(100) * 30]
    data = b"".join(frame(2, compress(m, zlib.compressobj(wbits=-10)), rsv=4) for m in messages)
    assert conn.receive_data(data) == [Message(m, Opcode.BINARY) for m in messages]


def test_inflated_message_at_the_limit_is_accepted(deflate_engine: WebSocketEngine) -> None:
    conn = _deflate_conn(deflate_engine, max_message_size=1000)
    assert conn.receive_data(frame(2, compress(bytes(1000)), rsv=4)) == [
        Message(bytes(1000), Opcode.BINARY)
    ]
    _fails(conn, frame(2, compress(bytes(1001)), rsv=4), 1009)


@pytest.mark.parametrize("fragmented", [False, True], ids=["one-frame", "fragments"])
def test_decompression_bomb_stops_at_the_limit(
    deflate_engine: WebSocketEngine, fragmented: bool
) -> None:
    # 64 MiB of zeros deflate to about 64 KiB; inflating them all would
    # cost 64 MiB, stopping at max_message_size costs about 1 MiB.
    bomb = compress(bytes(64 * MiB))
    if fragmented:
        parts = [bomb[i : i + 4096] for i in range(0, len(bomb), 4096)]
        data = frame(2, parts[0], fin=False, rsv=4)
        data += b"".join(frame(0, p, fin=False) for p in parts[1:-1]) + frame(0, parts[-1])
    else:
        data = frame(2, bomb, rsv=4)
    conn = _deflate_conn(deflate_engine, max_message_size=MiB)
    tracemalloc.start()
    try:
        error = _fails(conn, data, 1009)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert isinstance(error, PayloadTooBig)
    assert peak < 8 * MiB


def test_invalid_deflate_data_is_1007(deflate_engine: WebSocketEngine) -> None:
    conn = _deflate_conn(
        deflate_engine,
    )
    error = _fails(conn, frame(2, b"ok") + frame(2, b"\xff\xff\xff\xff", rsv=4), 1007)
    assert error.events == [Message(b"ok", Opcode.BINARY)]


def test_compressed_invalid_utf8_is_1007(deflate_engine: WebSocketEngine) -> None:
    _fails(
        _deflate_conn(
            deflate_engine,
        ),
        frame(1, compress(b"valid, then \xff"), rsv=4),
        1007,
    )


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(
            frame(1, compress(b"a" * 200)[:5], fin=False, rsv=4)
            + frame(0, compress(b"a" * 200)[5:], rsv=4),
            id="continuation",
        ),
        pytest.param(frame(9, b"ping", rsv=4), id="ping"),
        pytest.param(frame(8, b"\x03\xe8", rsv=4), id="close"),
        pytest.param(frame(1, compress(b"hello"), rsv=6), id="rsv2"),
        pytest.param(frame(2, b"\x00", rsv=1), id="rsv3"),
    ],
)
def test_misplaced_reserved_bits_are_1002(deflate_engine: WebSocketEngine, data: bytes) -> None:
    # RFC 7692 §6: RSV1 marks the first frame of a data message only.
    _fails(
        _deflate_conn(
            deflate_engine,
        ),
        data,
        1002,
    )


def test_rsv1_without_deflate_is_1002(deflate_engine: WebSocketEngine) -> None:
    conn = open_engine_connection(deflate_engine, EngineSettings(MiB, MiB))
    _fails(conn, frame(1, compress(b"hello"), rsv=4), 1002)


def test_sent_messages_are_compressed_unless_short(deflate_engine: WebSocketEngine) -> None:
    conn = _deflate_conn(
        deflate_engine,
    )
    inflater = zlib.decompressobj(wbits=-15)
    long_text = "compress me " * 50
    first, _, payload = parse_client_frame(conn.encode_message(long_text))
    assert first == 0xC1
    assert inflater.decompress(payload + TAIL) == long_text.encode()
    first, _, payload = parse_client_frame(conn.encode_message(b"\x00" * 70000))
    assert first == 0xC2 and len(payload) < 1000
    assert inflater.decompress(payload + TAIL) == b"\x00" * 70000
    short = b"x" * (deflate.MIN_COMPRESS_SIZE - 1)
    assert parse_client_frame(conn.encode_message(short))[::2] == (0x82, short)
    first, _, payload = parse_client_frame(conn.encode_ping(b"p" * 125))
    assert (first, payload) == (0x89, b"p" * 125)


def test_an_8_bit_client_window_sends_uncompressed(deflate_engine: WebSocketEngine) -> None:
    conn = _deflate_conn(deflate_engine, extension="permessage-deflate; client_max_window_bits=8")
    data = b"y" * 1000
    assert parse_client_frame(conn.encode_message(data))[::2] == (0x82, data)


def test_client_no_context_takeover_compresses_each_message_alone(
    deflate_engine: WebSocketEngine,
) -> None:
    conn = _deflate_conn(deflate_engine, extension="permessage-deflate; client_no_context_takeover")
    message = os.urandom(100) * 5
    for _ in range(2):
        first, _, payload = parse_client_frame(conn.encode_message(message))
        assert first == 0xC2
        assert zlib.decompressobj(wbits=-15).decompress(payload + TAIL) == message


def test_a_server_stream_ended_with_bfinal_is_followed_by_a_new_one(
    deflate_engine: WebSocketEngine,
) -> None:
    # RFC 7692 §7.2.3.4: a sender may end a message with a final block; the
    # next message then starts a new deflate stream.
    conn = _deflate_conn(
        deflate_engine,
    )
    messages = [b"first " * 50, b"second " * 50]
    data = b""
    for m in messages:
        c = zlib.compressobj(wbits=-15)
        data += frame(2, c.compress(m) + c.flush(), rsv=4)
    assert conn.receive_data(data) == [Message(m, Opcode.BINARY) for m in messages]


def test_sent_messages_are_compressed_with_context_takeover(
    deflate_engine: WebSocketEngine,
) -> None:
    conn = _deflate_conn(deflate_engine)
    d = zlib.decompressobj(wbits=-15)
    message = os.urandom(500) * 2
    sizes = []
    for _ in range(3):
        first, _, payload = parse_client_frame(conn.encode_message(message))
        assert first == 0xC2  # FIN, RSV1, binary
        assert d.decompress(payload + TAIL) == message
        sizes.append(len(payload))
    assert sizes[1] < sizes[0] // 10


def test_client_no_context_takeover_makes_each_message_self_contained(
    deflate_engine: WebSocketEngine,
) -> None:
    conn = _deflate_conn(deflate_engine, extension="permessage-deflate; client_no_context_takeover")
    for _ in range(2):
        _, _, payload = parse_client_frame(conn.encode_message("text " * 100))
        assert zlib.decompressobj(wbits=-15).decompress(payload + TAIL) == b"text " * 100


def test_short_messages_and_control_frames_are_sent_uncompressed(
    deflate_engine: WebSocketEngine,
) -> None:
    conn = _deflate_conn(deflate_engine)
    short = "x" * (deflate.MIN_COMPRESS_SIZE - 1)
    assert parse_client_frame(conn.encode_message(short))[0] == 0x81
    assert parse_client_frame(conn.encode_message(short + "x"))[0] == 0xC1
    assert parse_client_frame(conn.encode_ping(b"p" * 125))[0] == 0x89
