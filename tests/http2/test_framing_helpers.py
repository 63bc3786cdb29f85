"""The two places the HTTP/2 connection looks at bytes itself: Close detection, GOAWAY cuts."""

from __future__ import annotations

import h2.connection
import h2.events
import pytest
from openwire.http2.connection import H2Connection, _last_frame_is_close
from openwire.testing.frames import frame


def _masked(opcode: int, payload: bytes) -> bytes:
    return frame(opcode, payload, mask=b"abcd")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (_masked(0x8, b"\x03\xe8"), True),
        (_masked(0x1, b"hi") + _masked(0x8, b"\x03\xe8bye"), True),
        (_masked(0x8, b"\x03\xe8") + _masked(0x1, b"late"), False),
        (_masked(0x2, b"x" * 300), False),
        (_masked(0x2, b"x" * 70000) + _masked(0x8, b""), True),
        (_masked(0x9, b""), False),
        (_masked(0x8, b"\x03\xe8")[:-1], False),  # not whole frames: never guess
    ],
)
def test_last_frame_is_close(data: bytes, expected: bool) -> None:
    assert _last_frame_is_close(data) is expected


def test_frames_after_a_goaway_are_fed_separately() -> None:
    server = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
    server.initiate_connection()
    server.close_connection(last_stream_id=0)
    wire = server.data_to_send() + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"  # SETTINGS after
    conn = H2Connection.__new__(H2Connection)
    conn._frame_head, conn._frame_left, conn._in_goaway = b"", 0, False
    # Split anywhere, across reads: the cut lands right after the GOAWAY frame.
    for split in range(1, len(wire)):
        conn._frame_head, conn._frame_left, conn._in_goaway = b"", 0, False
        pieces = conn._cut_after_goaway(wire[:split]) + conn._cut_after_goaway(wire[split:])
        joined = b"".join(pieces)
        assert joined == wire
        ends = [len(b"".join(pieces[: i + 1])) for i in range(len(pieces))]
        assert len(wire) - 9 in ends
