"""RFC 6455 §7: the closing handshake, close codes, and abnormal closure."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import anyio
import pytest
from openwire.errors import ConnectionClosed, ConnectionClosedError, ConnectionClosedOK
from openwire.testing.conformance.scenarios import assert_fails_with
from openwire.testing.frames import close_payload, frame
from openwire.testing.servers import RawPeer
from openwire.websocket import State

pytestmark = [pytest.mark.anyio, pytest.mark.rfc("7")]


@pytest.mark.parametrize(
    "code", [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999]
)
async def test_server_close_is_answered_echoing_its_code(
    engine: str, connect: Any, scripted: Any, code: int
) -> None:
    answer: list[Any] = []

    async def script(peer: RawPeer) -> None:
        await peer.handshake()
        await peer.send(frame(0x1, b"last") + frame(0x8, close_payload(code, "bye")))
        answer.append(await peer.read_until_close())

    server = scripted(script)
    async with connect(server.url) as ws:
        assert (await ws.receive()).data == "last"
        expected = ConnectionClosedOK if code in (1000, 1001) else ConnectionClosedError
        with pytest.raises(expected) as info:
            await ws.receive()
        assert (info.value.code, info.value.reason, info.value.by_peer) == (code, "bye", True)
        assert ws.state is State.CLOSED
        assert (ws.close_code, ws.close_reason) == (code, "bye")
    await server.wait()
    assert answer[0] is not None and answer[0].close_code == code


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535])
async def test_close_code_not_allowed_on_the_wire_fails_with_1002(
    engine: str, connect: Any, scripted: Any, code: int
) -> None:
    await assert_fails_with(connect, scripted, frame(0x8, close_payload(code)), 1002)


async def test_one_byte_close_payload_fails_with_1002(
    engine: str, connect: Any, scripted: Any
) -> None:
    await assert_fails_with(connect, scripted, frame(0x8, b"\x03"), 1002)


async def test_empty_close_is_reported_as_1005_and_answered_empty(
    engine: str, connect: Any, scripted: Any
) -> None:
    answer: list[Any] = []

    async def script(peer: RawPeer) -> None:
        await peer.handshake()
        await peer.send(frame(0x8, b""))
        answer.append(await peer.read_until_close())

    server = scripted(script)
    async with connect(server.url) as ws:
        with pytest.raises(ConnectionClosedOK) as info:
            await ws.receive()
        assert info.value.code == 1005
    await server.wait()
    assert answer[0] is not None and answer[0].payload == b""


async def test_client_close_sends_code_and_reason_and_waits_for_the_answer(
    engine: str, connect: Any, scripted: Any
) -> None:
    got: list[Any] = []

    async def script(peer: RawPeer) -> None:
        await peer.handshake()
        close = await peer.read_until_close()
        got.append(close)
        await asyncio.sleep(0.2)
        await peer.send(frame(0x8, close_payload(1000, "ok")))
        peer.close()  # RFC 6455 §7.1.1: the server closes TCP first

    server = scripted(script)
    async with connect(server.url) as ws:
        with anyio.fail_after(5):
            start = anyio.current_time()
            await ws.close(1000, "done")
            assert anyio.current_time() - start >= 0.15, "close() must wait for the answer"
        assert ws.state is State.CLOSED
        assert (ws.close_code, ws.close_reason) == (1000, "ok")
        await ws.close()  # idempotent
        with pytest.raises(ConnectionClosed):
            await ws.send("too late")
        async for _ in ws:
            pytest.fail("no messages after a normal close")
    await server.wait()
    assert got[0].close_code == 1000
    assert got[0].payload[2:] == b"done"


async def test_client_closes_tcp_when_the_server_does_not(
    engine: str, connect: Any, scripted: Any
) -> None:
    seen: dict[str, Any] = {}

    async def script(peer: RawPeer) -> None:
        await peer.handshake()
        close = await peer.read_until_close()
        assert close is not None
        await peer.send(frame(0x8, close.payload))
        answered = asyncio.get_running_loop().time()
        seen["eof"] = await peer.wait_eof(timeout=5)
        seen["lingered"] = asyncio.get_running_loop().time() - answered

    server = scripted(script)
    async with connect(server.url, close_timeout=0.4) as ws:
        with anyio.fail_after(5):
            await ws.close()
        assert ws.close_code == 1000
    await server.wait()
    assert seen["eof"] is True, "the client must close TCP in the end"
    # It waited for the server to close first (§7.1.1), then gave up.
    assert 0.2 <= seen["lingered"] < 3


async def test_close_times_out_against_a_peer_that_never_answers(
    engine: str, connect: Any, scripted: Any
) -> None:
    eof: list[bool] = []

    async def script(peer: RawPeer) -> None:
        await peer.handshake()
        await peer.read_until_close()
        eof.append(await peer.wait_eof(timeout=5))

    server = scripted(script)
    async with connect(server.url, close_timeout=0.3) as ws:
        with anyio.fail_after(3):
            await ws.close()
        assert ws.state is State.CLOSED
        assert ws.close_code == 1006
    await server.wait()
    assert eof == [True]


async def test_tcp_drop_without_close_raises_1006(engine: str, connect: Any, scripted: Any) -> None:
    async def script(peer: RawPeer) -> None:
        await peer.handshake()
        await peer.send(frame(0x1, b"bye"))
        peer.close()

    server = scripted(script)
    async with connect(server.url) as ws:
        assert (await ws.receive()).data == "bye"
        with anyio.fail_after(5), pytest.raises(ConnectionClosedError) as info:
            await ws.receive()
        assert info.value.code == 1006
        assert info.value.by_peer is None
        with pytest.raises(ConnectionClosedError):
            async for _ in ws:
                pass
    await server.wait()


async def test_close_during_a_fragmented_message(engine: str, connect: Any, scripted: Any) -> None:
    async def script(peer: RawPeer) -> None:
        await peer.handshake()
        await peer.send(frame(0x1, b"half", fin=False) + frame(0x8, close_payload(1001)))
        await peer.read_until_close()

    server = scripted(script)
    async with connect(server.url) as ws:
        with pytest.raises(ConnectionClosedOK) as info:
            await ws.receive()
        assert info.value.code == 1001
    await server.wait()


async def test_queued_messages_are_sent_before_close(
    engine: str, connect: Any, scripted: Any
) -> None:
    frames: list[Any] = []

    async def script(peer: RawPeer) -> None:
        await peer.handshake()
        while True:
            got = await peer.read_frame()
            assert got is not None
            frames.append(got)
            if got.opcode == 0x8:
                await peer.send(frame(0x8, got.payload))
                return

    server = scripted(script)
    async with connect(server.url) as ws:
        for i in range(50):
            await ws.send(f"m{i}")
        await ws.close()
    await server.wait()
    assert [f.payload for f in frames[:-1]] == [f"m{i}".encode() for i in range(50)]
    assert frames[-1].close_code == 1000


@pytest.mark.parametrize("code", [999, 1004, 1005, 1006, 1015, 2000, 5000])
async def test_close_with_a_code_that_may_not_be_sent_raises_value_error(
    engine: str, connect: Any, echo_server: Any, code: int
) -> None:
    async with connect(echo_server.url) as ws:
        with pytest.raises(ValueError, match=str(code)):
            await ws.close(code)
        assert ws.state is State.OPEN
        await ws.close()


async def test_server_initiated_close_with_real_server(
    engine: str, connect: Any, echo_server: Any
) -> None:
    async with connect(echo_server.url + "/close?code=4001&reason=bye") as ws:
        with pytest.raises(ConnectionClosedError) as info:
            await ws.receive()
        assert (info.value.code, info.value.reason) == (4001, "bye")


# A server that sends its last frame and at once shuts down its sending side
# (TCP FIN) still gets our Close: the client's half of the connection stays
# open until the frame it owes is written (§5.5.1 for an answer, §7.1.7 for a
# failure). "with-101" sends everything in one burst with the 101, so the FIN
# arrives before the WebSocket owns the connection.
_HALF_CLOSE_CASES = {
    "close-1000": (frame(0x8, close_payload(1000, "bye")), 1000),
    "rsv1-without-extension": (frame(0x1, b"x", rsv=4), 1002),
    "invalid-utf8": (frame(0x1, b"\xff"), 1007),
    "over-max-message-size": (frame(0x2, b"x" * 2048), 1009),
}


@pytest.mark.parametrize("burst", ["with-101", "after-101"])
@pytest.mark.parametrize("case", list(_HALF_CLOSE_CASES))
async def test_close_is_sent_when_the_server_half_closes_right_after_its_last_frame(
    engine: str, connect: Any, scripted: Any, case: str, burst: str
) -> None:
    data, code = _HALF_CLOSE_CASES[case]
    answer: list[Any] = []

    async def script(peer: RawPeer) -> None:
        if burst == "with-101":
            await peer.handshake(trailing=data)
        else:
            await peer.handshake()
            await asyncio.sleep(0.05)
            await peer.send(data)
        peer.writer.write_eof()
        answer.append(await peer.read_until_close())

    server = scripted(script)
    async with connect(server.url, max_message_size=1024) as ws:
        with pytest.raises(ConnectionClosed) as info:
            with anyio.fail_after(5):
                await ws.receive()
        assert info.value.code == code, str(info.value)
    await server.wait()
    assert answer[0] is not None, "the client closed TCP without sending its Close frame"
    assert answer[0].close_code == code


async def test_failure_close_reaches_a_server_that_keeps_sending(
    engine: str, connect: Any, scripted: Any
) -> None:
    # After failing (§7.1.7) the client keeps reading, and discarding, until
    # the server closes: a socket closed with unread bytes is reset by the
    # kernel, which can destroy the Close before the server reads it.
    seen: dict[str, Any] = {}
    flood = frame(0x2, b"\x00" * 65000) * 16

    async def script(peer: RawPeer) -> None:
        await peer.handshake()
        with contextlib.suppress(ConnectionError):
            await peer.send(frame(0x1, b"x", rsv=4) + flood)
        await asyncio.sleep(0.2)  # the client has failed and closed by now
        seen["close"] = await peer.read_until_close()

    server = scripted(script)
    async with connect(server.url) as ws:
        with pytest.raises(ConnectionClosedError) as info:
            with anyio.fail_after(5):
                await ws.receive()
        assert info.value.code == 1002
    await server.wait()
    assert seen["close"] is not None, "the Close was lost: the client reset the connection"
    assert seen["close"].close_code == 1002
