"""RFC 6455 §5.5: control frames; §5.8: extensibility (RSV bits, opcodes)."""

from __future__ import annotations

from typing import Any

import pytest
from openwire.testing.conformance.scenarios import assert_fails_with
from openwire.testing.frames import frame
from openwire.testing.servers import RawPeer

pytestmark = [pytest.mark.anyio]


@pytest.mark.rfc("5.5")
async def test_ping_is_answered_with_a_pong_echoing_its_payload(
    engine: str, connect: Any, scripted: Any
) -> None:
    got: list[Any] = []

    async def script(peer: RawPeer) -> None:
        await peer.handshake()
        await peer.send(frame(0x9, b"are you there") + frame(0x9, b""))
        got.append(await peer.read_frame())
        got.append(await peer.read_frame())
        await peer.send(frame(0x1, b"done"))
        await peer.read_until_close()

    server = scripted(script)
    async with connect(server.url) as ws:
        assert (await ws.receive()).data == "done"
        await ws.close()
    await server.wait()
    assert [(f.opcode, f.payload) for f in got] == [(0xA, b"are you there"), (0xA, b"")]


@pytest.mark.rfc("5.5")
async def test_unsolicited_pong_is_ignored(engine: str, connect: Any, scripted: Any) -> None:
    async def script(peer: RawPeer) -> None:
        await peer.handshake()
        await peer.send(frame(0xA, b"unasked") + frame(0x1, b"after"))
        await peer.read_until_close()

    server = scripted(script)
    async with connect(server.url) as ws:
        assert (await ws.receive()).data == "after"
        await ws.close()
    await server.wait()


@pytest.mark.rfc("5.5")
async def test_ping_resolves_with_latency_against_real_server(
    engine: str, connect: Any, echo_server: Any
) -> None:
    async with connect(echo_server.url) as ws:
        latency = await ws.ping(b"hello")
        assert 0 <= latency < 5
        assert await ws.ping() >= 0
        await ws.close()


async def test_a_bad_argument_is_the_callers_error_and_the_connection_stays_open(
    engine: str, connect: Any, echo_server: Any
) -> None:
    # Nothing reached the wire: no reason to fail the connection (or to blame the engine).
    async with connect(echo_server.url) as ws:
        with pytest.raises(UnicodeEncodeError):
            await ws.send("a\ud800b")  # a lone surrogate has no UTF-8 form
        with pytest.raises(TypeError, match="not str"):
            await ws.ping("text")
        assert await ws.ping(bytearray(b"bytes-like")) >= 0
        await ws.send("still open")
        assert (await ws.receive()).data == "still open"
        await ws.close()
    assert ws.close_code == 1000


@pytest.mark.rfc("5.5")
async def test_control_frames_delivered_when_asked(
    engine: str, connect: Any, scripted: Any
) -> None:
    async def script(peer: RawPeer) -> None:
        await peer.handshake()
        await peer.send(frame(0x9, b"p") + frame(0x1, b"t"))
        await peer.read_until_close()

    server = scripted(script)
    async with connect(server.url, deliver_control_frames=True) as ws:
        first = await ws.receive()
        assert (int(first.opcode), first.data) == (0x9, b"p")
        assert (await ws.receive()).data == "t"
        await ws.close()


@pytest.mark.rfc("5.5")
@pytest.mark.parametrize("opcode", [0x8, 0x9, 0xA])
async def test_control_frame_over_125_bytes_fails_with_1002(
    engine: str, connect: Any, scripted: Any, opcode: int
) -> None:
    await assert_fails_with(connect, scripted, frame(opcode, b"x" * 126), 1002)


@pytest.mark.rfc("5.5")
@pytest.mark.parametrize("opcode", [0x8, 0x9, 0xA])
async def test_fragmented_control_frame_fails_with_1002(
    engine: str, connect: Any, scripted: Any, opcode: int
) -> None:
    await assert_fails_with(connect, scripted, frame(opcode, b"ab", fin=False), 1002)


@pytest.mark.rfc("5.8")
@pytest.mark.parametrize("rsv", [1, 2, 4])
async def test_rsv_bits_without_extension_fail_with_1002(
    engine: str, connect: Any, scripted: Any, rsv: int
) -> None:
    await assert_fails_with(connect, scripted, frame(0x1, b"x", rsv=rsv), 1002)


@pytest.mark.rfc("5.8")
@pytest.mark.parametrize("opcode", [0x3, 0x7, 0xB, 0xF])
async def test_reserved_opcode_fails_with_1002(
    engine: str, connect: Any, scripted: Any, opcode: int
) -> None:
    await assert_fails_with(connect, scripted, frame(opcode, b""), 1002)
