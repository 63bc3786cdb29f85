"""Codec-level cases every adapter engine must pass, byte for byte.

Each engine's test module subclasses :class:`EngineCodecCases` and names its
engine; the cases build server frames by hand, feed them to the engine's
connection as the session drives it (the engine's frame codec behind the
core's reader, ``open_engine_connection``) and check events, errors and close
codes against RFC 6455 and the native engine. End-to-end behaviour over sockets is the conformance
suite's job.
"""

from __future__ import annotations

import os
import random
import struct
from typing import ClassVar

import pytest
from openwire.engines import registry
from openwire.engines.connection import open_engine_connection
from openwire.engines.contract import (
    ENGINE_API_VERSION,
    Close,
    EngineConnection,
    EngineEvent,
    EngineSettings,
    Message,
    MessageCodec,
    Ping,
    Pong,
    WebSocketEngine,
)
from openwire.errors import InvalidExtension, PayloadTooBig, ProtocolError
from openwire.protocol.codec import FrameCodec
from openwire.protocol.frames import Opcode
from openwire.protocol.masking import apply_mask
from openwire.testing.frames import frame

MiB = 1024 * 1024


def parse_client_frame(data: bytes) -> tuple[int, bytes, bytes]:
    """(first byte, masking key, unmasked payload) of one client frame."""
    assert data[1] & 0x80, "client frames must be masked"
    n = data[1] & 0x7F
    pos = 2
    if n == 126:
        (n,) = struct.unpack_from("!H", data, 2)
        pos = 4
    elif n == 127:
        (n,) = struct.unpack_from("!Q", data, 2)
        pos = 10
    key = data[pos : pos + 4]
    payload = data[pos + 4 :]
    assert len(payload) == n
    return data[0], key, apply_mask(payload, key)


class EngineCodecCases:
    engine: ClassVar[WebSocketEngine]
    backends: ClassVar[tuple[str, ...]] = ("asyncio", "trio")

    def connect(
        self, max_frame_size: int | None = MiB, max_message_size: int | None = MiB
    ) -> MessageCodec:
        settings = EngineSettings(max_frame_size, max_message_size)
        return open_engine_connection(self.engine, settings)

    def feed(self, data: bytes, conn: MessageCodec | None = None) -> list[EngineEvent]:
        return (conn or self.connect()).receive_data(data)

    def assert_fails(
        self, data: bytes, code: int, conn: MessageCodec | None = None
    ) -> ProtocolError:
        with pytest.raises(ProtocolError) as info:
            self.feed(data, conn)
        assert info.value.close_code == code, info.value
        return info.value

    # ------------------------------------------------------------ registration

    def test_registered_by_name(self) -> None:
        names = [info.name for info in registry.engines()]
        assert self.engine.name in names

    def test_capabilities_and_extensions(self) -> None:
        assert self.engine.capabilities.backends == self.backends
        assert self.engine.capabilities.extensions == ("permessage-deflate",)
        assert self.engine.extension_offers(None) == []
        assert self.engine.extension_offers("deflate") == [
            "permessage-deflate; client_max_window_bits"
        ]
        assert self.engine.accept_extensions([]) == []
        answer = ["permessage-deflate; server_max_window_bits=12"]
        assert self.engine.accept_extensions(answer) == answer
        with pytest.raises(InvalidExtension):
            self.engine.accept_extensions(["x-unknown"])
        with pytest.raises(InvalidExtension):
            self.engine.accept_extensions(["x-webkit-deflate-frame"])
        with pytest.raises(InvalidExtension):
            self.engine.accept_extensions(["permessage-deflate; client_max_window_bits"])
        assert self.engine.api_version == ENGINE_API_VERSION
        # A frame codec, or the core's own fused codec (the native engine's).
        frames = self.engine.connect(EngineSettings(MiB, MiB))
        assert isinstance(frames, EngineConnection | FrameCodec)
        assert isinstance(self.connect(), MessageCodec)

    # ----------------------------------------------------------------- messages

    def test_text_and_binary(self) -> None:
        events = self.feed(frame(1, "héllo".encode()) + frame(2, b"\x00\xff") + frame(1))
        assert events == [
            Message("héllo", Opcode.TEXT),
            Message(b"\x00\xff", Opcode.BINARY),
            Message("", Opcode.TEXT),
        ]
        assert isinstance(events[1].data, bytes)

    def test_large_frames_use_extended_lengths(self) -> None:
        conn = self.connect()
        medium = os.urandom(300)
        big = os.urandom(70_000)
        assert self.feed(frame(2, medium) + frame(2, big), conn) == [
            Message(medium, Opcode.BINARY),
            Message(big, Opcode.BINARY),
        ]

    def test_fragmented_text_split_mid_code_point(self) -> None:
        data = "a€b".encode()  # € is e2 82 ac
        conn = self.connect()
        assert self.feed(frame(1, data[:2], fin=False), conn) == []
        assert self.feed(frame(0, data[2:3], fin=False), conn) == []
        assert self.feed(frame(0, data[3:]), conn) == [Message("a€b", Opcode.TEXT)]

    def test_control_frames_interleaved_in_fragmented_message(self) -> None:
        stream = (
            frame(2, b"ab", fin=False)
            + frame(9, b"p1")
            + frame(0, b"cd", fin=False)
            + frame(10, b"p2")
            + frame(0, b"ef")
        )
        assert self.feed(stream) == [
            Ping(b"p1"),
            Pong(b"p2"),
            Message(b"abcdef", Opcode.BINARY),
        ]

    def test_close_inside_fragmented_message_is_reported(self) -> None:
        stream = frame(1, b"partial", fin=False) + frame(8, b"\x03\xe8")
        assert self.feed(stream) == [Close(b"\x03\xe8")]

    def test_byte_by_byte(self) -> None:
        stream = (
            frame(1, "ü".encode() * 100, fin=False)
            + frame(9, b"x")
            + frame(0, b"!")
            + frame(2, os.urandom(70_000))
            + frame(8, b"\x03\xe8bye")
        )
        expected = FrameCodec(MiB, MiB).receive_data(stream)
        conn = self.connect()
        events: list[EngineEvent] = []
        for i in range(len(stream)):
            events += conn.receive_data(stream[i : i + 1])
        assert events == expected

    def test_random_chunking_matches_native(self) -> None:
        rng = random.Random(6455)
        for _ in range(30):
            stream = b""
            for _ in range(rng.randrange(1, 8)):
                kind = rng.randrange(4)
                size = rng.choice([0, 1, 125, 126, 300, 65535, 65536, 70_000])
                if kind == 0:
                    text = "".join(rng.choice("aé€😀") for _ in range(size // 4))
                    raw = text.encode()
                    cut = rng.randrange(len(raw) + 1)
                    stream += frame(1, raw[:cut], fin=False) + frame(0, raw[cut:])
                elif kind == 1:
                    stream += frame(2, rng.randbytes(size))
                elif kind == 2:
                    stream += frame(9, rng.randbytes(min(size, 125)))
                else:
                    stream += frame(1, b"x" * size)
            expected = FrameCodec(MiB, MiB).receive_data(stream)
            conn = self.connect()
            events: list[EngineEvent] = []
            pos = 0
            while pos < len(stream):
                step = rng.randrange(1, 5000)
                events += conn.receive_data(stream[pos : pos + step])
                pos += step
            assert events == expected

    # ------------------------------------------------------------------- close

    @pytest.mark.parametrize(
        "payload",
        [
            b"",
            b"\x03\xe8",
            b"\x03\xe8bye",
            b"\x0f\xa0" + "é".encode() * 10,
            b"\x03",  # 1 byte: invalid, but the core decides that
            b"\x03\xed",  # 1005 may not be on the wire: the core decides that too
            b"\x03\xf6",  # 1014 Bad Gateway
            b"\x03\xe8\xff",  # reason not UTF-8
        ],
    )
    def test_close_payload_is_raw(self, payload: bytes) -> None:
        assert self.feed(frame(8, payload)) == [Close(payload)]

    # -------------------------------------------------------------- violations

    @pytest.mark.parametrize(
        "data",
        [
            pytest.param(frame(1, b"x", rsv=4), id="rsv1"),
            pytest.param(frame(2, b"x", rsv=2), id="rsv2"),
            pytest.param(frame(9, b"", rsv=1), id="rsv3-control"),
            pytest.param(frame(3, b"x"), id="opcode-3"),
            pytest.param(frame(0xB, b""), id="opcode-b"),
            pytest.param(frame(2, b"abc", mask=b"\x01\x02\x03\x04"), id="masked"),
            pytest.param(frame(9, b"x", fin=False), id="fragmented-ping"),
            pytest.param(frame(8, b"", fin=False), id="fragmented-close"),
            pytest.param(frame(9, b"x" * 126), id="ping-126"),
            pytest.param(frame(10, b"x" * 200), id="pong-200"),
            pytest.param(frame(0, b"x"), id="continuation-without-start"),
            pytest.param(frame(1, b"a", fin=False) + frame(1, b"b"), id="text-inside-fragmented"),
            pytest.param(frame(2, b"a", fin=False) + frame(2, b"b"), id="binary-inside-fragmented"),
        ],
    )
    def test_protocol_violation_is_1002(self, data: bytes) -> None:
        error = self.assert_fails(data, 1002)
        assert not isinstance(error, PayloadTooBig)

    @pytest.mark.parametrize(
        "data",
        [
            pytest.param(frame(9, length=2**40)[:10], id="huge-ping"),
            pytest.param(frame(8, length=126)[:4], id="close-126"),
            pytest.param(frame(3, length=2**40)[:10], id="huge-reserved-opcode"),
            pytest.param(frame(2, length=2**40, rsv=4)[:10], id="huge-rsv"),
        ],
    )
    def test_violation_detected_from_header_alone(self, data: bytes) -> None:
        self.assert_fails(data, 1002)

    def test_error_is_sticky(self) -> None:
        conn = self.connect()
        self.assert_fails(frame(1, b"ok") + frame(3), 1002, conn)
        again = self.assert_fails(frame(1, b"ok"), 1002, conn)
        assert again.events == []

    @pytest.mark.parametrize(
        ("bad", "code"),
        [
            pytest.param(frame(3), 1002, id="reserved-opcode"),
            pytest.param(frame(1, b"\xff"), 1007, id="invalid-utf8"),
            pytest.param(frame(2, length=2**40)[:10], 1009, id="too-big"),
        ],
    )
    def test_events_before_a_violation_ride_on_the_error(self, bad: bytes, code: int) -> None:
        conn = self.connect()
        assert self.feed(frame(1, b"one", fin=False), conn) == []
        stream = frame(0, b"!") + frame(9, b"p") + frame(2, b"two") + bad
        error = self.assert_fails(stream, code, conn)
        assert error.events == [
            Message("one!", Opcode.TEXT),
            Ping(b"p"),
            Message(b"two", Opcode.BINARY),
        ]

    # ------------------------------------------------------------------ UTF-8

    @pytest.mark.parametrize(
        "data",
        [
            pytest.param(frame(1, b"\xff"), id="invalid-byte"),
            pytest.param(frame(1, b"ab\xe2\x82"), id="truncated-at-fin"),
            pytest.param(frame(1, b"\xed\xa0\x80"), id="surrogate"),
            pytest.param(frame(1, b"ok", fin=False) + frame(0, b"\xc0\xaf"), id="in-fragment"),
            pytest.param(
                frame(1, b"\xe2\x82", fin=False) + frame(0, b""), id="truncated-fragments"
            ),
        ],
    )
    def test_invalid_utf8_is_1007(self, data: bytes) -> None:
        self.assert_fails(data, 1007)

    def test_invalid_utf8_fails_at_its_fragment(self) -> None:
        conn = self.connect()
        assert self.feed(frame(1, b"fine", fin=False), conn) == []
        self.assert_fails(frame(0, b"\xff", fin=False), 1007, conn)

    def test_invalid_utf8_fails_while_a_single_frame_is_still_arriving(self) -> None:
        # The core sees the partial payload from the header: every engine fails early.
        conn = self.connect()
        partial = frame(1, b"ab\xff" + b"x" * 1000)[:8]
        self.assert_fails(partial, 1007, conn)

    def test_invalid_utf8_fails_while_a_continuation_is_still_arriving(self) -> None:
        conn = self.connect()
        assert self.feed(frame(1, b"ok", fin=False), conn) == []
        self.assert_fails(frame(0, b"\xff" + b"x" * 1000, fin=False)[:6], 1007, conn)

    def test_valid_text_split_inside_one_frame_is_delivered_whole(self) -> None:
        conn = self.connect()
        data = frame(1, "é".encode() * 500)
        events: list[EngineEvent] = []
        for i in range(0, len(data), 7):
            events += conn.receive_data(data[i : i + 7])
        assert events == [Message("é" * 500, Opcode.TEXT)]

    def test_earlier_frame_error_wins_over_later_header(self) -> None:
        self.assert_fails(frame(1, b"\xff") + frame(3), 1007)

    def test_binary_is_not_decoded(self) -> None:
        assert self.feed(frame(2, b"\xff")) == [Message(b"\xff", Opcode.BINARY)]

    # ----------------------------------------------------------------- limits

    def test_frame_limit_from_header_alone(self) -> None:
        conn = self.connect(max_frame_size=1000, max_message_size=None)
        header = frame(2, length=2**40)[:10]
        with pytest.raises(PayloadTooBig) as info:
            conn.receive_data(header)
        assert info.value.close_code == 1009

    def test_frame_limit_with_medium_length(self) -> None:
        conn = self.connect(max_frame_size=1000, max_message_size=None)
        with pytest.raises(PayloadTooBig):
            conn.receive_data(frame(2, length=1001)[:4])
        assert self.feed(frame(2, b"x" * 1000), self.connect(1000, None)) == [
            Message(b"x" * 1000, Opcode.BINARY)
        ]

    def test_message_limit_across_fragments_from_header(self) -> None:
        conn = self.connect(max_frame_size=None, max_message_size=10)
        assert self.feed(frame(1, b"123456", fin=False), conn) == []
        with pytest.raises(PayloadTooBig):
            conn.receive_data(frame(0, length=5)[:2])

    def test_message_limit_exact_fit(self) -> None:
        conn = self.connect(max_frame_size=None, max_message_size=10)
        stream = frame(2, b"123456", fin=False) + frame(0, b"7890")
        assert self.feed(stream, conn) == [Message(b"1234567890", Opcode.BINARY)]

    def test_message_limit_applies_to_single_frame(self) -> None:
        conn = self.connect(max_frame_size=None, max_message_size=10)
        with pytest.raises(PayloadTooBig):
            conn.receive_data(frame(2, length=11)[:2])

    def test_control_frames_do_not_count_toward_message(self) -> None:
        conn = self.connect(max_frame_size=None, max_message_size=10)
        stream = frame(2, b"12345678", fin=False) + frame(9, b"x" * 100) + frame(0, b"90")
        assert self.feed(stream, conn) == [
            Ping(b"x" * 100),
            Message(b"1234567890", Opcode.BINARY),
        ]

    def test_limits_reset_between_messages(self) -> None:
        conn = self.connect(max_frame_size=None, max_message_size=10)
        for _ in range(5):
            stream = frame(1, b"12345", fin=False) + frame(0, b"67890")
            assert self.feed(stream, conn) == [Message("1234567890", Opcode.TEXT)]

    def test_no_limits(self) -> None:
        conn = self.connect(max_frame_size=None, max_message_size=None)
        payload = os.urandom(2 * MiB)
        assert self.feed(frame(2, payload), conn) == [Message(payload, Opcode.BINARY)]

    # --------------------------------------------------------------- encoding

    def test_encode_text_and_binary(self) -> None:
        conn = self.connect()
        first, _, payload = parse_client_frame(conn.encode_message("héllo"))
        assert (first, payload) == (0x81, "héllo".encode())
        first, _, payload = parse_client_frame(conn.encode_message(b"\x00\x01"))
        assert (first, payload) == (0x82, b"\x00\x01")
        for size in (125, 126, 65535, 65536):
            data = os.urandom(size)
            assert parse_client_frame(conn.encode_message(data))[2] == data

    def test_encode_control_frames(self) -> None:
        conn = self.connect()
        assert parse_client_frame(conn.encode_ping(b"hi"))[::2] == (0x89, b"hi")
        assert parse_client_frame(conn.encode_pong(b"yo"))[::2] == (0x8A, b"yo")
        assert parse_client_frame(conn.encode_close(1000, "bye"))[::2] == (0x88, b"\x03\xe8bye")
        assert parse_client_frame(conn.encode_close(None, ""))[::2] == (0x88, b"")
        assert parse_client_frame(conn.encode_close(4000, "é"))[::2] == (
            0x88,
            b"\x0f\xa0" + "é".encode(),
        )

    def test_encode_close_after_receiving_close(self) -> None:
        conn = self.connect()
        assert conn.receive_data(frame(8, b"\x03\xe8")) == [Close(b"\x03\xe8")]
        assert parse_client_frame(conn.encode_close(1000, ""))[::2] == (0x88, b"\x03\xe8")
        assert parse_client_frame(conn.encode_pong(b"late"))[::2] == (0x8A, b"late")

    def test_encode_close_rejects_long_reason(self) -> None:
        with pytest.raises(ValueError):
            self.connect().encode_close(1000, "x" * 124)

    def test_every_frame_gets_a_fresh_key(self) -> None:
        conn = self.connect()
        keys = {parse_client_frame(conn.encode_message(b"same"))[1] for _ in range(50)}
        keys |= {parse_client_frame(conn.encode_ping(b""))[1] for _ in range(50)}
        assert len(keys) == 100
        frames = {conn.encode_message(b"same payload") for _ in range(10)}
        assert len(frames) == 10

    def test_encoded_frames_parse_with_native(self) -> None:
        # A peer reading our frames as a server would: unmask and re-frame.
        conn = self.connect()
        for data in ("text", b"bytes", "€" * 50_000):
            first, _, payload = parse_client_frame(conn.encode_message(data))
            events = FrameCodec(None, None).receive_data(frame(first & 0x0F, payload))
            assert events == [
                Message(data, Opcode.TEXT if isinstance(data, str) else Opcode.BINARY)
            ]
