"""The session's decisions, driven by hand: no socket, no event loop, a clock moved by the test.

Each test feeds server frames to :class:`~openwire.websocket.session.Session`
through ``data_received`` (as a channel would), moves the fake clock, and
checks the frames the session wrote and the events it emitted. The same
behaviours are covered end to end, against real peers, by the conformance
suite; these pin the decision itself.
"""

from __future__ import annotations

import pytest
from openwire.errors import ConnectionClosedError, ConnectionClosedOK, PongTimeout
from openwire.protocol.frames import CloseCode, Opcode
from openwire.testing.frames import frame
from openwire.websocket.session import State

from tests.sansio.fakes import Step, close_payload, harness, server

# ------------------------------------------------------------- control frames


def test_ping_is_answered_with_a_pong_echoing_its_payload_rfc6455_5_5_2() -> None:
    h = harness()
    h.feed(server(Opcode.PING, b"are you there"))
    assert h.channel.frames() == [(Opcode.PONG, b"are you there")]
    assert h.session.state is State.OPEN


def test_peer_that_does_not_read_our_pongs_pauses_our_reading_rfc6455_5_5_3() -> None:
    h = harness()
    h.channel.writable = False  # our pongs pile up unread
    h.feed(server(Opcode.PING, b"1"))
    assert not h.channel.reading
    h.channel.writable = True
    h.session.writable()
    assert h.channel.reading


def test_ping_returns_the_round_trip_time_when_its_pong_arrives() -> None:
    h = harness()
    ping = Step(h.session.ping(b"probe"))
    assert h.channel.frames() == [(Opcode.PING, b"probe")]
    h.runtime.advance(0.25)
    h.feed(server(Opcode.PONG, b"probe"))
    assert ping.resume().done
    assert ping.result == pytest.approx(0.25)


def test_a_pong_answers_every_earlier_ping_too_rfc6455_5_5_3() -> None:
    h = harness()
    first, second = Step(h.session.ping(b"a")), Step(h.session.ping(b"b"))
    h.feed(server(Opcode.PONG, b"b"))
    assert first.resume().done and second.resume().done


# ------------------------------------------------------------------ heartbeat


def test_heartbeat_sends_a_ping_every_ping_interval() -> None:
    h = harness(ping_interval=10.0, pong_timeout=None)
    h.runtime.advance(9.9)
    assert h.channel.frames() == []
    h.runtime.advance(0.1)
    h.runtime.advance(10.0)
    assert [op for op, _ in h.channel.frames()] == [Opcode.PING, Opcode.PING]


def test_no_frame_within_pong_timeout_fails_with_1011() -> None:
    h = harness(ping_interval=10.0, pong_timeout=5.0)
    h.runtime.advance(15.0)
    assert h.channel.close_codes() == [CloseCode.INTERNAL_ERROR]
    assert h.recorder.ends() == ["websocket_failed"]
    failure = h.recorder.events[-1][1][0]
    assert isinstance(failure, PongTimeout)
    assert failure.code == CloseCode.INTERNAL_ERROR


def test_any_frame_after_the_heartbeat_proves_the_peer_alive() -> None:
    h = harness(ping_interval=10.0, pong_timeout=5.0)
    h.runtime.advance(12.0)
    h.feed(server(Opcode.TEXT, b"busy, not dead"))
    h.runtime.advance(3.0)
    assert h.session.state is State.OPEN
    assert h.channel.close_codes() == []


def test_a_full_receive_buffer_is_our_slowness_not_a_pong_timeout() -> None:
    h = harness(ping_interval=10.0, pong_timeout=5.0, receive_queue_size=1)
    h.feed(server(Opcode.TEXT, b"unread"))
    assert not h.channel.reading
    h.runtime.advance(15.0)
    assert h.session.state is State.OPEN


# -------------------------------------------------------------- close handshake


def test_peer_close_is_echoed_with_its_code_and_ends_cleanly_rfc6455_5_5_1() -> None:
    h = harness()
    h.feed(server(Opcode.CLOSE, close_payload(CloseCode.GOING_AWAY, "bye")))
    assert h.channel.close_codes() == [CloseCode.GOING_AWAY]
    assert h.session.state is State.CLOSED
    assert h.recorder.names() == ["websocket_closing", "websocket_closed"]
    assert h.recorder.events[0][1] == (CloseCode.GOING_AWAY, "bye", True)
    # The server closes TCP first (§7.1.1): we linger for close_timeout.
    assert h.channel.closed_linger == 5.0


def test_empty_peer_close_is_answered_with_an_empty_close_rfc6455_7_1_5() -> None:
    h = harness()
    h.feed(server(Opcode.CLOSE))
    assert h.channel.frames() == [(Opcode.CLOSE, b"")]
    assert h.session.close_code == CloseCode.NO_STATUS_RCVD
    assert h.recorder.ends() == ["websocket_closed"]


def test_our_close_completes_when_the_peer_answers() -> None:
    h = harness()
    closing = Step(h.session.close(CloseCode.NORMAL_CLOSURE, "done"))
    assert h.channel.frames() == [(Opcode.CLOSE, close_payload(1000, "done"))]
    assert h.session.state is State.CLOSING and not closing.done
    h.feed(server(Opcode.CLOSE, close_payload(1000)))
    assert closing.resume().done and closing.error is None
    assert h.recorder.ends() == ["websocket_closed"]
    assert h.channel.close_codes() == [1000]  # no second Close


def test_unanswered_close_times_out_with_1006_and_drops_the_connection() -> None:
    h = harness(close_timeout=5.0)
    closing = Step(h.session.close())
    h.runtime.advance(4.9)
    assert h.session.state is State.CLOSING
    h.runtime.advance(0.1)
    assert closing.resume().done
    assert h.channel.aborted
    assert h.session.close_code == CloseCode.ABNORMAL_CLOSURE
    assert h.recorder.ends() == ["websocket_failed"]


def test_messages_before_the_close_are_delivered_then_receive_ends_ok() -> None:
    h = harness()
    h.feed(server(Opcode.TEXT, b"last words"), server(Opcode.CLOSE, close_payload(1000)))
    first = Step(h.session.receive())
    assert first.done and first.result.data == "last words"
    after = Step(h.session.receive())
    assert isinstance(after.error, ConnectionClosedOK)


# ---------------------------------------------------------------- flow control


def test_full_receive_buffer_pauses_reading_and_half_empty_resumes() -> None:
    h = harness(receive_queue_size=4)
    h.feed(*(server(Opcode.BINARY, b"m%d" % i) for i in range(4)))
    assert not h.channel.reading
    Step(h.session.receive())
    assert not h.channel.reading  # 3 left: over half
    Step(h.session.receive())
    assert h.channel.reading


def test_send_waits_while_the_channel_is_over_its_bounds() -> None:
    h = harness()
    h.channel.writable = False
    send = Step(h.session.send("queued"))
    assert not send.done and h.channel.written == []
    h.channel.drained()
    assert send.resume().done and send.error is None
    assert h.channel.frames() == [(Opcode.TEXT, b"queued")]


def test_send_waiting_for_room_fails_once_the_connection_closes() -> None:
    h = harness()
    h.channel.writable = False
    send = Step(h.session.send("never"))
    h.session.connection_lost(None)
    h.channel.drained()
    assert isinstance(send.resume().error, ConnectionClosedError)
    assert [op for op, _ in h.channel.frames()] == []


# --------------------------------------------------------------- failure paths


def test_masked_server_frame_fails_with_1002_rfc6455_5_1() -> None:
    h = harness()
    h.feed(frame(Opcode.TEXT, b"hi", mask=b"abcd"))
    assert h.channel.close_codes() == [CloseCode.PROTOCOL_ERROR]
    assert h.recorder.ends() == ["websocket_failed"]
    receive = Step(h.session.receive())
    assert isinstance(receive.error, ConnectionClosedError)
    assert receive.error.code == CloseCode.PROTOCOL_ERROR


def test_invalid_utf8_in_a_text_message_fails_with_1007_rfc6455_8_1() -> None:
    h = harness()
    h.feed(server(Opcode.TEXT, b"\xff\xfe"))
    assert h.channel.close_codes() == [CloseCode.INVALID_FRAME_PAYLOAD_DATA]


def test_close_with_a_reserved_code_fails_with_1002_rfc6455_7_4_1() -> None:
    h = harness()
    h.feed(server(Opcode.CLOSE, close_payload(1005)))
    assert h.channel.close_codes() == [CloseCode.PROTOCOL_ERROR]
    assert h.recorder.ends() == ["websocket_failed"]


def test_engine_bug_fails_with_1011_and_names_the_engine() -> None:
    class Broken:
        def receive_data(self, data: bytes) -> list[object]:
            raise RuntimeError("boom")

        def encode_close(self, code: int | None, reason: str) -> bytes:
            return frame(Opcode.CLOSE, close_payload(code or 1000), mask=b"\0\0\0\0")

    h = harness(conn=Broken())
    h.feed(b"\x81\x00")
    assert h.channel.close_codes() == [CloseCode.INTERNAL_ERROR]
    failure = h.recorder.events[-1][1][0]
    assert "engine 'native' raised RuntimeError('boom')" in str(failure)


def test_connection_dropped_without_close_fails_with_1006_rfc6455_7_1_5() -> None:
    h = harness()
    h.session.connection_lost(ConnectionResetError("reset by peer"))
    assert h.session.close_code == CloseCode.ABNORMAL_CLOSURE
    assert h.channel.written == []  # nobody left to send a Close to
    assert h.channel.closed_linger is None
    assert h.recorder.ends() == ["websocket_failed"]


def test_exactly_one_end_event_whatever_happens_after_closed() -> None:
    h = harness(ping_interval=1.0, pong_timeout=1.0)
    h.feed(server(Opcode.CLOSE, close_payload(1000)))
    h.feed(server(Opcode.CLOSE, close_payload(1000)), server(Opcode.TEXT, b"late"))
    h.session.connection_lost(None)
    h.runtime.advance(60.0)
    assert h.recorder.ends() == ["websocket_closed"]
    assert h.channel.close_codes() == [1000]
    assert h.runtime.pending() == []  # heartbeat and abort timers released
