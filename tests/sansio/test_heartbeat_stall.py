"""The heartbeat's clock and stalled writes, decided by the session on a fake clock and channel.

``FakeChannel.flushed_bytes`` says how much of what the session wrote has
left its buffer; ``flush()`` lets bytes go and calls the marks they passed.
The same behaviours run against real peers in the conformance suite
(``test_heartbeat``).
"""

from __future__ import annotations

from openwire.errors import PongTimeout, WriteStalled
from openwire.protocol.frames import CloseCode, Opcode
from openwire.websocket.session import State

from tests.sansio.fakes import Harness, Step, close_payload, harness, server


def _stuck_behind(h: Harness, size: int = 1000) -> None:
    """The application queued a large message that the peer has not taken yet."""
    stuck = h.channel.flushed()
    assert Step(h.session.send(b"\x00" * size)).done
    h.channel.flushed_bytes = stuck


def test_pong_deadline_starts_when_the_ping_leaves_the_buffer() -> None:
    h = harness(ping_interval=10.0, pong_timeout=5.0)
    _stuck_behind(h)
    h.runtime.advance(10.0)  # the ping is queued behind the message
    assert [op for op, _ in h.channel.frames()[-1:]] == [Opcode.PING]
    for _ in range(6):  # the peer reads slowly: 8 s for what is ahead of the ping
        h.runtime.advance(1.0)
        h.channel.flush(upto=h.channel.flushed() + 100)
    h.runtime.advance(2.0)
    assert h.channel.marks, "the ping is still in our buffer"
    h.channel.flush()  # the ping leaves at t=18
    h.runtime.advance(4.9)
    h.feed(server(Opcode.PONG, b"openwire-heartbeat"))
    h.runtime.advance(1.0)
    assert h.session.state is State.OPEN
    assert h.recorder.ends() == []


def test_a_ping_that_left_and_got_no_answer_is_a_pong_timeout() -> None:
    h = harness(ping_interval=10.0, pong_timeout=5.0)
    _stuck_behind(h)
    h.runtime.advance(10.0)
    h.runtime.advance(3.0)
    h.channel.flush()  # left at t=13: the deadline is t=18, not t=15
    h.runtime.advance(4.9)
    assert h.session.state is State.OPEN
    h.runtime.advance(0.1)
    failure = h.recorder.events[-1][1][0]
    assert isinstance(failure, PongTimeout)
    assert failure.code == CloseCode.INTERNAL_ERROR


def test_a_buffer_that_does_not_move_for_pong_timeout_is_a_write_stall() -> None:
    h = harness(ping_interval=10.0, pong_timeout=4.0)
    _stuck_behind(h)
    h.runtime.advance(10.0)
    frames_before = len(h.channel.written)
    h.runtime.advance(3.9)
    assert h.session.state is State.OPEN
    h.runtime.advance(0.1)
    assert h.session.state is State.CLOSED
    assert h.recorder.ends() == ["websocket_failed"]
    failure = h.recorder.events[-1][1][0]
    assert isinstance(failure, WriteStalled) and not isinstance(failure, PongTimeout)
    assert (failure.code, failure.by_peer) == (CloseCode.ABNORMAL_CLOSURE, None)
    assert h.session.close_code == CloseCode.ABNORMAL_CLOSURE
    # No Close queued behind bytes that will never leave; the socket is dropped.
    assert len(h.channel.written) == frames_before
    assert h.channel.aborted


def test_a_slow_but_moving_buffer_is_not_a_write_stall() -> None:
    h = harness(ping_interval=10.0, pong_timeout=4.0)
    _stuck_behind(h, size=100_000)
    h.runtime.advance(10.0)
    for _ in range(30):  # a few bytes every 2 s: slow, alive
        h.runtime.advance(2.0)
        h.channel.flush(upto=h.channel.flushed() + 10)
    assert h.session.state is State.OPEN


def test_no_second_heartbeat_ping_queues_behind_the_first() -> None:
    h = harness(ping_interval=1.0, pong_timeout=10.0)
    _stuck_behind(h, size=100_000)
    for _ in range(5):
        h.runtime.advance(1.0)
        h.channel.flush(upto=h.channel.flushed() + 10)
    pings = [op for op, _ in h.channel.frames() if op is Opcode.PING]
    assert len(pings) == 1


def test_a_full_receive_buffer_suspends_the_stall_watch() -> None:
    # Our application does not read: a peer blocked writing to us may not
    # read either, and that is not its fault (as for the pong deadline).
    h = harness(ping_interval=10.0, pong_timeout=4.0, receive_queue_size=1)
    _stuck_behind(h)
    h.feed(server(Opcode.TEXT, b"unread"))
    h.runtime.advance(30.0)
    assert h.session.state is State.OPEN


def test_bytes_stuck_since_the_ping_left_are_a_write_stall_at_the_deadline() -> None:
    h = harness(ping_interval=10.0, pong_timeout=5.0)
    h.runtime.advance(10.0)  # the ping leaves at once
    _stuck_behind(h)  # then a message that the peer never takes
    h.runtime.advance(5.0)
    # Queued after the ping left: one sampling period more to show no progress.
    assert h.session.state is State.OPEN
    h.runtime.advance(5.0 / 4)
    assert isinstance(h.recorder.events[-1][1][0], WriteStalled)


def test_close_that_cannot_leave_the_buffer_is_a_write_stall_at_close_timeout() -> None:
    h = harness(close_timeout=2.0)
    _stuck_behind(h)
    closing = Step(h.session.close())
    assert h.channel.close_codes() == [CloseCode.NORMAL_CLOSURE]  # queued, not sent
    h.runtime.advance(2.0)
    assert closing.resume().done
    assert h.channel.aborted
    failure = h.recorder.events[-1][1][0]
    assert isinstance(failure, WriteStalled)
    assert "our Close frame could not be sent" in str(failure)
    assert h.recorder.names()[-2:] == ["websocket_closing", "websocket_failed"]


def test_close_that_left_but_got_no_answer_is_still_a_plain_1006() -> None:
    h = harness(close_timeout=2.0)
    closing = Step(h.session.close())  # kept: a dropped close() aborts the connection
    h.runtime.advance(2.0)
    failure = h.recorder.events[-1][1][0]
    assert not isinstance(failure, WriteStalled)
    assert failure.code == CloseCode.ABNORMAL_CLOSURE
    assert "did not answer our Close" in str(failure)
    assert closing.resume().done


def test_closing_reads_on_even_when_unread_pongs_had_paused_reading() -> None:
    h = harness()
    h.channel.writable = False  # the peer does not read our pongs
    h.feed(server(Opcode.PING, b"1"))
    assert not h.channel.reading
    closing = Step(h.session.close())  # kept: a dropped close() aborts the connection
    assert h.channel.reading, "the peer's Close must be read to complete the handshake"
    h.feed(server(Opcode.CLOSE, close_payload(1000)))
    assert h.recorder.ends() == ["websocket_closed"]
    assert closing.resume().done


def test_close_still_queued_behind_a_slow_reader_is_a_plain_1006_that_says_so() -> None:
    h = harness(close_timeout=2.0)
    _stuck_behind(h, size=100_000)
    closing = Step(h.session.close())  # kept: a dropped close() aborts the connection
    h.runtime.advance(1.0)
    h.channel.flush(upto=h.channel.flushed() + 10)  # it moves, slowly
    h.runtime.advance(1.0)
    failure = h.recorder.events[-1][1][0]
    assert not isinstance(failure, WriteStalled)
    assert failure.code == CloseCode.ABNORMAL_CLOSURE
    assert "still queued behind" in str(failure)
    assert closing.resume().done
