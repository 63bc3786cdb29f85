"""RFC 6455 §5.1-5.4: framing, masking, length encodings, fragmentation."""

from __future__ import annotations

import os
import struct
from typing import Any

import anyio
import pytest
from openwire.testing.conformance.scenarios import assert_fails_with
from openwire.testing.frames import frame
from openwire.testing.servers import RawPeer

pytestmark = [pytest.mark.anyio]

SIZES = [0, 125, 126, 127, 65535, 65536, 1024 * 1024 + 1]


@pytest.mark.rfc("5.2")
@pytest.mark.parametrize("size", SIZES)
async def test_echo_every_length_encoding_both_directions(
    engine: str, connect: Any, echo_server: Any, size: int
) -> None:
    payload = os.urandom(size)
    text = "é" * (size // 2) + "a" * (size % 2)
    async with connect(echo_server.url) as ws:
        await ws.send(payload)
        assert (await ws.receive()).data == payload
        await ws.send(text)
        assert (await ws.receive()).data == text
        await ws.close()


@pytest.mark.rfc("5.2")
async def test_server_frames_of_every_length_encoding_are_parsed(
    engine: str, connect: Any, scripted: Any
) -> None:
    sizes = [0, 125, 126, 65535, 65536, 70000]

    async def script(peer: RawPeer) -> None:
        await peer.handshake()
        await peer.send(b"".join(frame(0x2, bytes([n % 251]) * n) for n in sizes))
        await peer.read_until_close()

    server = scripted(script)
    async with connect(server.url) as ws:
        for n in sizes:
            message = await ws.receive()
            assert message.data == bytes([n % 251]) * n
        await ws.close()
    await server.wait()


@pytest.mark.rfc("5.2")
@pytest.mark.parametrize("deflate", [False, True])
async def test_lengths_in_a_longer_form_than_needed_are_accepted(
    engine: str, connect: Any, scripted: Any, deflate: bool
) -> None:
    # "The minimal number of bytes MUST be used" binds the sender; a receiver
    # loses nothing by reading the length it is given, and every engine does.
    # With permessage-deflate negotiated too: frames without RSV1 are plain messages.
    accept = [("Sec-WebSocket-Extensions", "permessage-deflate")] if deflate else []

    async def script(peer: RawPeer) -> None:
        await peer.handshake(extra_headers=accept)
        await peer.send(
            frame(0x2, b"a" * 10, length_bytes=2)
            + frame(0x1, b"b" * 10, length_bytes=8)
            + frame(0x2, b"c" * 300, length_bytes=8)
            + frame(0x9, b"ping", length_bytes=2)
            + frame(0x2, b"d" * 5, fin=False, length_bytes=8)
            + frame(0x0, b"e" * 5, length_bytes=2)
        )
        pong = await peer.read_frame()
        assert pong is not None
        assert (pong.opcode, pong.payload) == (0xA, b"ping")
        await peer.read_until_close()

    server = scripted(script)
    options: dict[str, Any] = {} if deflate else {"compression": None}
    async with connect(server.url, **options) as ws:
        assert ("permessage-deflate" in ws.extensions) is deflate
        received = [(await ws.receive()).data for _ in range(4)]
        await ws.close()
    await server.wait()
    assert received == [b"a" * 10, "b" * 10, b"c" * 300, b"d" * 5 + b"e" * 5]


@pytest.mark.rfc("5.3")
async def test_every_client_frame_is_masked_with_a_fresh_key(
    engine: str, connect: Any, scripted: Any
) -> None:
    frames: list[Any] = []

    async def script(peer: RawPeer) -> None:
        await peer.handshake()
        for _ in range(4):
            got = await peer.read_frame()
            frames.append(got)
        frames.append(await peer.read_until_close())

    server = scripted(script)
    async with connect(server.url) as ws:
        await ws.send("text")
        await ws.send(b"\x00" * 200)
        await ws.send(b"\x00" * 70000)
        await ws.send(b"")
        await ws.close()
    await server.wait()
    assert [f.payload for f in frames[:4]] == [b"text", b"\x00" * 200, b"\x00" * 70000, b""]
    assert all(f.masked for f in frames)
    assert len({f.key for f in frames}) == len(frames), "mask keys must not repeat"
    assert [f.opcode for f in frames] == [0x1, 0x2, 0x2, 0x2, 0x8]


@pytest.mark.rfc("5.1")
async def test_masked_server_frame_fails_with_1002(
    engine: str, connect: Any, scripted: Any
) -> None:
    await assert_fails_with(connect, scripted, frame(0x1, b"hi", mask=b"abcd"), 1002)


@pytest.mark.rfc("5.2")
@pytest.mark.parametrize("length", [1 << 63, (1 << 64) - 1])
@pytest.mark.parametrize("streaming", [False, True])
async def test_length_with_the_top_bit_set_fails_with_1002_even_without_limits(
    engine: str, connect: Any, scripted: Any, length: int, streaming: bool
) -> None:
    # "No limit" must not let a length the RFC forbids through: 2**63 is the
    # smallest such length, and only its header is ever sent.
    header = struct.pack("!BBQ", 0x82, 127, length)
    limits: dict[str, Any] = {"max_frame_size": None, "max_message_size": None}
    if streaming:
        limits |= {"streaming": True, "max_stream_size": None}
    await assert_fails_with(connect, scripted, header, 1002, **limits)


@pytest.mark.rfc("5.4")
async def test_fragmented_messages_are_reassembled(
    engine: str, connect: Any, scripted: Any
) -> None:
    async def script(peer: RawPeer) -> None:
        await peer.handshake()
        await peer.send(
            frame(0x1, b"hel", fin=False)
            + frame(0x0, b"lo ", fin=False)
            + frame(0x0, b"you")
            + frame(0x2, b"\x01", fin=False)
            + frame(0x0, b"\x02")
        )
        await peer.read_until_close()

    server = scripted(script)
    async with connect(server.url) as ws:
        assert (await ws.receive()).data == "hello you"
        assert (await ws.receive()).data == b"\x01\x02"
        await ws.close()
    await server.wait()


@pytest.mark.rfc("5.4")
async def test_control_frames_inside_a_fragmented_message(
    engine: str, connect: Any, scripted: Any
) -> None:
    pongs: list[bytes] = []

    async def script(peer: RawPeer) -> None:
        await peer.handshake()
        await peer.send(
            frame(0x1, b"frag", fin=False)
            + frame(0x9, b"mid")
            + frame(0xA, b"unasked")
            + frame(0x0, b"ment")
        )
        pong = await peer.read_frame()
        assert pong is not None
        pongs.append(pong.payload)
        await peer.read_until_close()

    server = scripted(script)
    async with connect(server.url) as ws:
        assert (await ws.receive()).data == "fragment"
        await ws.close()
    await server.wait()
    assert pongs == [b"mid"]


@pytest.mark.rfc("5.4")
async def test_many_tiny_fragments(engine: str, connect: Any, scripted: Any) -> None:
    async def script(peer: RawPeer) -> None:
        await peer.handshake()
        parts = [frame(0x2, b"a", fin=False)]
        parts += [frame(0x0, b"a", fin=False) for _ in range(2998)]
        parts.append(frame(0x0, b"a"))
        await peer.send(b"".join(parts))
        await peer.read_until_close()

    server = scripted(script)
    async with connect(server.url) as ws:
        assert (await ws.receive()).data == b"a" * 3000
        await ws.close()
    await server.wait()


@pytest.mark.rfc("5.4")
async def test_continuation_without_start_fails_with_1002(
    engine: str, connect: Any, scripted: Any
) -> None:
    await assert_fails_with(connect, scripted, frame(0x0, b"orphan"), 1002)


@pytest.mark.rfc("5.4")
async def test_new_data_frame_inside_fragmented_message_fails_with_1002(
    engine: str, connect: Any, scripted: Any
) -> None:
    data = frame(0x1, b"start", fin=False) + frame(0x1, b"again")
    await assert_fails_with(connect, scripted, data, 1002)


@pytest.mark.rfc("5.2")
async def test_messages_before_a_violation_are_still_delivered(
    engine: str, connect: Any, scripted: Any
) -> None:
    data = frame(0x1, b"ok") + frame(0x3, b"")
    received = await assert_fails_with(connect, scripted, data, 1002)
    assert [m.data for m in received] == ["ok"]


@pytest.mark.rfc("5.2")
async def test_bytes_arriving_one_at_a_time(engine: str, connect: Any, scripted: Any) -> None:
    async def script(peer: RawPeer) -> None:
        await peer.handshake()
        data = frame(0x1, "€uro".encode() * 50) + frame(0x2, b"\xff" * 300)
        for i in range(len(data)):
            await peer.send(data[i : i + 1])
        await peer.read_until_close()

    server = scripted(script)
    async with connect(server.url) as ws:
        with anyio.fail_after(10):
            assert (await ws.receive()).data == "€uro" * 50
            assert (await ws.receive()).data == b"\xff" * 300
        await ws.close()
    await server.wait()
