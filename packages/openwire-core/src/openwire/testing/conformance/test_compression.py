"""RFC 7692: permessage-deflate, negotiated with real servers and checked byte by byte.

Tests marked ``deflate`` need an engine that lists ``"permessage-deflate"``
in ``capabilities.extensions``; for any other engine they are expected
failures that do not run. The rest hold for every engine (no offer when
``compression=None``, RSV1 refused when nothing was negotiated).

Server frames are compressed here with ``zlib`` directly and client frames
inflated with it, so an engine is checked against the RFC, not against itself.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Sequence
from typing import Any

import anyio
import pytest
from openwire.client import Client
from openwire.compression import Deflate
from openwire.errors import InvalidExtension
from openwire.events import EventListener
from openwire.testing.conformance.scenarios import assert_fails_with
from openwire.testing.frames import ClientFrame, compress, frame, inflate
from openwire.testing.servers import RawPeer

pytestmark = [pytest.mark.anyio, pytest.mark.rfc("7692")]

deflate = pytest.mark.requires_extension("permessage-deflate")

MiB = 1024 * 1024
ACCEPT = [("Sec-WebSocket-Extensions", "permessage-deflate")]
RSV1 = 4  # the rsv argument of frame() is the three bits RSV1-RSV3 as a number


def _payloads() -> dict[str, str | bytes]:
    json_like = b'{"id": 12345, "user": "someone", "tags": ["a", "b", "c"], "ok": true}'
    return {
        "empty-text": "",
        "tiny-binary": b"\x00\x01\x02",
        "127-text": "x" * 127,
        "128-binary": b"y" * 128,
        "4k-json": json_like * 60,
        "70k-text": "é€𝄞" * 8000,
        "1MiB-zeros": bytes(MiB),
        "1MiB-random": os.urandom(MiB),
        "1MiB-text": "compressible text " * (MiB // 18),
    }


PAYLOADS = _payloads()


# -------------------------------------------------------------- real servers


@deflate
async def test_negotiated_with_real_servers(
    engine: str, connect: Any, deflate_echo_server: Any
) -> None:
    async with connect(deflate_echo_server.url) as ws:
        assert len(ws.extensions) == 1
        assert ws.extensions[0].split(";")[0] == "permessage-deflate"
        await ws.close()


@deflate
@pytest.mark.parametrize("name", list(PAYLOADS))
async def test_echo_through_a_compressing_server(
    engine: str, connect: Any, deflate_echo_server: Any, name: str
) -> None:
    payload = PAYLOADS[name]
    async with connect(deflate_echo_server.url, max_message_size=2 * MiB) as ws:
        assert ws.extensions
        with anyio.fail_after(20):
            await ws.send(payload)
            assert (await ws.receive()).data == payload
        await ws.close()


@deflate
async def test_context_takeover_across_messages(
    engine: str, connect: Any, deflate_echo_server: Any
) -> None:
    # Repeated and growing messages make both sides refer back into the
    # shared history; any desynchronised window corrupts a later message.
    base = os.urandom(2000)
    messages: list[str | bytes] = [base * (i % 3 + 1) for i in range(15)]
    messages += [base.hex()[: 500 + 100 * i] for i in range(15)]
    async with connect(deflate_echo_server.url) as ws:
        with anyio.fail_after(20):
            for message in messages:
                await ws.send(message)
                assert (await ws.receive()).data == message
        await ws.close()


# ----------------------------------------------------------- scripted server


async def _receive_all(
    connect: Any, scripted: Any, data: bytes, count: int, *, extension: str = "permessage-deflate"
) -> list[Any]:
    """The server accepts ``extension``, sends ``data``; return ``count`` messages."""

    async def script(peer: RawPeer) -> None:
        await peer.handshake(extra_headers=[("Sec-WebSocket-Extensions", extension)])
        await peer.send(data)
        await peer.read_until_close()

    server = scripted(script)
    async with connect(server.url) as ws:
        with anyio.fail_after(5):
            received = [await ws.receive() for _ in range(count)]
        await ws.close()
    await server.wait()
    return received


@deflate
async def test_fragmented_compressed_messages_with_a_ping_inside(
    engine: str, connect: Any, scripted: Any
) -> None:
    text = "fragmented é€ text " * 200
    wire = compress(text.encode())
    third = len(wire) // 3
    binary = os.urandom(300) * 4
    packed = compress(binary)
    data = (
        frame(0x1, wire[:third], fin=False, rsv=RSV1)
        + frame(0x9, b"mid")
        + frame(0x0, wire[third : 2 * third], fin=False)
        + frame(0x0, wire[2 * third :])
        + frame(0x2, packed[:10], fin=False, rsv=RSV1)
        + frame(0x0, packed[10:])
    )
    received = await _receive_all(connect, scripted, data, 2)
    assert [m.data for m in received] == [text, binary]


@deflate
async def test_server_context_takeover_and_uncompressed_messages(
    engine: str, connect: Any, scripted: Any
) -> None:
    # §7.1.1: without server_no_context_takeover the server may refer back to
    # earlier messages; §6: a message with RSV1 clear is not compressed.
    c = zlib.compressobj(wbits=-15)
    first = b"the same sentence, again and again. " * 20
    data = (
        frame(0x2, compress(first, c), rsv=RSV1)
        + frame(0x1, b"plain")
        + frame(0x2, compress(first, c), rsv=RSV1)
        + frame(0x1, compress(b"", c), rsv=RSV1)
    )
    received = await _receive_all(connect, scripted, data, 4)
    assert [m.data for m in received] == [first, "plain", first, ""]


@deflate
async def test_server_window_and_no_context_takeover(
    engine: str, connect: Any, scripted: Any
) -> None:
    messages = [os.urandom(100) * 30, b"z" * 5000]
    data = b"".join(frame(0x2, compress(m, wbits=10), rsv=RSV1) for m in messages)
    extension = "permessage-deflate; server_no_context_takeover; server_max_window_bits=10"
    received = await _receive_all(connect, scripted, data, 2, extension=extension)
    assert [m.data for m in received] == messages


@deflate
@pytest.mark.parametrize(
    "data",
    [
        pytest.param(
            frame(0x1, compress(b"a" * 200)[:5], fin=False, rsv=RSV1)
            + frame(0x0, compress(b"a" * 200)[5:], rsv=RSV1),
            id="continuation",
        ),
        pytest.param(frame(0x9, b"ping", rsv=RSV1), id="ping"),
        pytest.param(frame(0x8, b"\x03\xe8", rsv=RSV1), id="close"),
        pytest.param(frame(0x1, compress(b"hello"), rsv=RSV1 | 2), id="rsv2"),
        pytest.param(frame(0x2, b"\x00", rsv=1), id="rsv3"),
    ],
)
async def test_misplaced_reserved_bits_fail_with_1002(
    engine: str, connect: Any, scripted: Any, data: bytes
) -> None:
    # §6: RSV1 marks the first frame of a data message only; RSV2/RSV3 stay
    # undefined (RFC 6455 §5.2).
    await assert_fails_with(connect, scripted, data, 1002, extra_headers=ACCEPT)


async def test_rsv1_fails_with_1002_when_the_server_declined(
    engine: str, connect: Any, scripted: Any
) -> None:
    # Offered (if the engine can) but not accepted: RSV1 means nothing.
    data = frame(0x1, compress(b"hello"), rsv=RSV1)
    await assert_fails_with(connect, scripted, data, 1002)


@deflate
async def test_invalid_deflate_data_fails_with_1007(
    engine: str, connect: Any, scripted: Any
) -> None:
    # 0xff starts a final block of the reserved type 3: not deflate.
    data = frame(0x2, b"ok") + frame(0x2, b"\xff\xff\xff\xff", rsv=RSV1)
    received = await assert_fails_with(connect, scripted, data, 1007, extra_headers=ACCEPT)
    assert [m.data for m in received] == [b"ok"]


@deflate
async def test_compressed_invalid_utf8_fails_with_1007(
    engine: str, connect: Any, scripted: Any
) -> None:
    data = frame(0x1, compress(b"valid, then \xff"), rsv=RSV1)
    await assert_fails_with(connect, scripted, data, 1007, extra_headers=ACCEPT)


@deflate
@pytest.mark.parametrize("fragmented", [False, True], ids=["one-frame", "fragments"])
async def test_decompression_bomb_fails_with_1009(
    engine: str, connect: Any, scripted: Any, fragmented: bool
) -> None:
    # 10 MiB of zeros deflate to about 10 KiB; max_message_size bounds the
    # inflated message, not the bytes on the wire.
    bomb = compress(bytes(10 * MiB))
    assert len(bomb) < 20_000
    if fragmented:
        half = len(bomb) // 2
        data = frame(0x2, bomb[:half], fin=False, rsv=RSV1) + frame(0x0, bomb[half:])
    else:
        data = frame(0x2, bomb, rsv=RSV1)
    await assert_fails_with(
        connect, scripted, data, 1009, extra_headers=ACCEPT, max_message_size=MiB
    )


@deflate
async def test_inflated_message_at_the_limit_is_accepted(
    engine: str, connect: Any, scripted: Any
) -> None:
    async def script(peer: RawPeer) -> None:
        await peer.handshake(extra_headers=ACCEPT)
        await peer.send(frame(0x2, compress(bytes(1000)), rsv=RSV1))
        await peer.read_until_close()

    server = scripted(script)
    async with connect(server.url, max_message_size=1000) as ws:
        assert (await ws.receive()).data == bytes(1000)
        await ws.close()
    await server.wait()


# ------------------------------------------------------------------ handshake


@deflate
@pytest.mark.parametrize(
    "answer",
    [
        "permessage-deflate; unknown_param",
        "permessage-deflate; client_max_window_bits=7",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_max_window_bits=010",
        "permessage-deflate; server_max_window_bits",
        "permessage-deflate; server_no_context_takeover=1",
        "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
        "permessage-deflate, permessage-deflate",
        "permessage-deflate; =broken",
    ],
)
async def test_unacceptable_server_parameters_raise_invalid_extension(
    engine: str, connect: Any, scripted: Any, answer: str
) -> None:
    # §7.1: the client fails the connection on an undefined parameter, an
    # invalid value, or a repeated one.
    async def script(peer: RawPeer) -> None:
        await peer.handshake(extra_headers=[("Sec-WebSocket-Extensions", answer)])

    server = scripted(script)
    with pytest.raises(InvalidExtension):
        async with connect(server.url):
            pass
    await server.wait()


@deflate
@pytest.mark.parametrize(
    "answer",
    [
        'permessage-deflate; client_max_window_bits="10"',
        "permessage-deflate ;server_max_window_bits=8; client_no_context_takeover",
    ],
)
async def test_acceptable_server_parameters(
    engine: str, connect: Any, scripted: Any, answer: str
) -> None:
    async def script(peer: RawPeer) -> None:
        await peer.handshake(extra_headers=[("Sec-WebSocket-Extensions", answer)])
        await peer.read_until_close()

    server = scripted(script)
    async with connect(server.url) as ws:
        assert ws.extensions == [answer]
        await ws.close()
    await server.wait()


async def _request_headers(connect: Any, scripted: Any, **options: Any) -> dict[str, str]:
    async def script(peer: RawPeer) -> None:
        await peer.handshake()
        await peer.read_until_close()

    server = scripted(script)
    async with connect(server.url, **options) as ws:
        assert ws.extensions == []
        await ws.close()
    await server.wait()
    return server.peers[0].request_headers  # type: ignore[no-any-return]


async def test_compression_none_offers_nothing(engine: str, connect: Any, scripted: Any) -> None:
    headers = await _request_headers(connect, scripted, compression=None)
    assert "sec-websocket-extensions" not in headers


@deflate
async def test_deflate_is_offered_by_default(engine: str, connect: Any, scripted: Any) -> None:
    headers = await _request_headers(connect, scripted)
    offer = headers["sec-websocket-extensions"]
    assert offer.split(";")[0].strip() == "permessage-deflate"


# ------------------------------------------------------------- client frames


@deflate
@pytest.mark.parametrize(
    ("answer", "takeover", "wbits"),
    [
        ("permessage-deflate", True, 15),
        ("permessage-deflate; client_no_context_takeover", False, 15),
        ("permessage-deflate; client_max_window_bits=9", True, 9),
    ],
)
async def test_client_messages_are_compressed_as_negotiated(
    engine: str, connect: Any, scripted: Any, answer: str, takeover: bool, wbits: int
) -> None:
    frames: list[ClientFrame] = []
    block = os.urandom(1000)
    messages: list[str | bytes] = [block * 3, block * 3, "text " * 100, b"\x00" * 70000]

    async def script(peer: RawPeer) -> None:
        await peer.handshake(extra_headers=[("Sec-WebSocket-Extensions", answer)])
        for _ in messages:
            got = await peer.read_frame()
            assert got is not None
            frames.append(got)
        await peer.read_until_close()

    server = scripted(script)
    async with connect(server.url) as ws:
        for message in messages:
            await ws.send(message)
        await ws.close()
    await server.wait()
    # The 1000-byte blocks repeat 1000 bytes apart: out of reach of a 9-bit
    # window, so inflating with one proves the client kept to it (§7.1.2.2).
    shared = zlib.decompressobj(wbits=-wbits)
    for message, got in zip(messages, frames, strict=True):
        assert (got.opcode, got.fin, got.rsv) == (1 if isinstance(message, str) else 2, True, RSV1)
        plain = inflate(got.payload, shared if takeover else None, wbits)
        assert plain == (message.encode() if isinstance(message, str) else message)
    assert len(frames[3].payload) < 1000
    if takeover and wbits == 15:
        assert len(frames[1].payload) < len(frames[0].payload) // 10


@deflate
async def test_control_frames_are_never_compressed(
    engine: str, connect: Any, scripted: Any
) -> None:
    control: list[ClientFrame] = []

    async def script(peer: RawPeer) -> None:
        await peer.handshake(extra_headers=ACCEPT)
        await peer.send(frame(0x9, b"p" * 125))
        while (got := await peer.read_frame()) is not None:
            if got.opcode >= 8:
                control.append(got)
            if got.opcode == 0x9:
                await peer.send_frame(0xA, got.payload)
            if got.opcode == 0x8:
                await peer.send_frame(0x8, got.payload)
                break

    server = scripted(script)
    async with connect(server.url) as ws:
        await ws.ping(b"q" * 125)
        await ws.close(1000, "r" * 100)
    await server.wait()
    assert {f.opcode for f in control} == {0x8, 0x9, 0xA}
    assert all(f.rsv == 0 for f in control)


# ------------------------------------------------------------ the policy


@deflate
@pytest.mark.parametrize(
    ("policy", "offer"),
    [
        (Deflate(), "permessage-deflate; client_max_window_bits"),
        (Deflate(client_max_window_bits=10), "permessage-deflate; client_max_window_bits=10"),
        (
            Deflate(server_max_window_bits=9),
            "permessage-deflate; server_max_window_bits=9; client_max_window_bits",
        ),
        (
            Deflate(client_no_context_takeover=True),
            "permessage-deflate; client_no_context_takeover; client_max_window_bits",
        ),
        (
            Deflate(server_no_context_takeover=True),
            "permessage-deflate; server_no_context_takeover; client_max_window_bits",
        ),
        (
            Deflate(
                client_max_window_bits=12,
                server_max_window_bits=11,
                client_no_context_takeover=True,
                server_no_context_takeover=True,
            ),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
            "server_max_window_bits=11; client_max_window_bits=12",
        ),
    ],
    ids=["default", "client-bits", "server-bits", "client-nct", "server-nct", "all"],
)
async def test_each_policy_knob_is_offered(
    engine: str, connect: Any, scripted: Any, policy: Deflate, offer: str
) -> None:
    # RFC 7692 §7.1: each parameter as the client offers it.
    headers = await _request_headers(connect, scripted, compression=policy)
    assert headers["sec-websocket-extensions"] == offer


async def _client_frames(
    connect: Any,
    scripted: Any,
    answer: str,
    messages: Sequence[tuple[str | bytes, bool | None]],
    **options: Any,
) -> list[ClientFrame]:
    """The server accepts with ``answer``; the client sends each ``(message, compress)``."""
    frames: list[ClientFrame] = []

    async def script(peer: RawPeer) -> None:
        await peer.handshake(extra_headers=[("Sec-WebSocket-Extensions", answer)])
        for _ in messages:
            got = await peer.read_frame()
            assert got is not None
            frames.append(got)
        await peer.read_until_close()

    server = scripted(script)
    async with connect(server.url, **options) as ws:
        for message, compress in messages:
            await ws.send(message, compress=compress)
        await ws.close()
    await server.wait()
    return frames


def _plain(message: str | bytes) -> bytes:
    return message.encode() if isinstance(message, str) else message


@deflate
async def test_our_window_limit_is_kept_when_the_server_does_not_lower_it(
    engine: str, connect: Any, scripted: Any
) -> None:
    # §7.1.2.2: offering client_max_window_bits=10 is a promise; the server's
    # bare answer leaves it in force. 2000-byte blocks repeat 2000 bytes apart,
    # beyond a 10-bit window: a frame using a larger window cannot inflate.
    block = os.urandom(2000)
    messages: list[tuple[str | bytes, bool | None]] = [(block * 3, None), (block, None)]
    frames = await _client_frames(
        connect,
        scripted,
        "permessage-deflate",
        messages,
        compression=Deflate(client_max_window_bits=10),
    )
    shared = zlib.decompressobj(wbits=-10)
    for (message, _), got in zip(messages, frames, strict=True):
        assert got.rsv == RSV1
        assert inflate(got.payload, shared, 10) == message


@deflate
async def test_client_no_context_takeover_from_our_policy_alone(
    engine: str, connect: Any, scripted: Any
) -> None:
    # §7.1.1.2: our hint binds us even when the server's answer leaves it out:
    # each frame must inflate with a fresh zlib context.
    text = "the same sentence, again and again. " * 20
    messages: list[tuple[str | bytes, bool | None]] = [(text, None)] * 3
    frames = await _client_frames(
        connect,
        scripted,
        "permessage-deflate",
        messages,
        compression=Deflate(client_no_context_takeover=True),
    )
    for got in frames:
        assert got.rsv == RSV1
        assert inflate(got.payload) == text.encode()
    # The same payload compressed alone each time: identical frames.
    assert len({got.payload for got in frames}) == 1


@deflate
async def test_server_no_context_takeover_offered_and_honoured(
    engine: str, connect: Any, scripted: Any
) -> None:
    # §7.1.1.1: asked for and accepted, the server compresses each message
    # with a fresh context; each must decode on its own.
    messages = [b"repeat me, please. " * 40] * 3 + [os.urandom(500) * 4]
    answer = "permessage-deflate; server_no_context_takeover"

    async def script(peer: RawPeer) -> None:
        await peer.handshake(extra_headers=[("Sec-WebSocket-Extensions", answer)])
        offer = peer.request_headers["sec-websocket-extensions"]
        assert "server_no_context_takeover" in offer
        for message in messages:
            await peer.send(frame(0x2, compress(message), rsv=RSV1))
        await peer.read_until_close()

    server = scripted(script)
    policy = Deflate(server_no_context_takeover=True)
    async with connect(server.url, compression=policy) as ws:
        with anyio.fail_after(5):
            assert [(await ws.receive()).data for _ in messages] == messages
        await ws.close()
    await server.wait()


@deflate
@pytest.mark.parametrize("bits", [9, 10, 12])
async def test_server_window_we_asked_for_is_decoded(
    engine: str, connect: Any, scripted: Any, bits: int
) -> None:
    # §7.1.2.1: asked for at most 12 bits, the server answers ``bits`` (≤ 12)
    # and compresses with that window, keeping its context across messages.
    c = zlib.compressobj(wbits=-bits)
    messages = [os.urandom(300) * 10, os.urandom(300) * 10]
    messages.append(messages[0])
    answer = f"permessage-deflate; server_max_window_bits={bits}"

    async def script(peer: RawPeer) -> None:
        await peer.handshake(extra_headers=[("Sec-WebSocket-Extensions", answer)])
        for message in messages:
            await peer.send(frame(0x2, compress(message, c), rsv=RSV1))
        await peer.read_until_close()

    server = scripted(script)
    async with connect(server.url, compression=Deflate(server_max_window_bits=12)) as ws:
        with anyio.fail_after(5):
            assert [(await ws.receive()).data for _ in messages] == messages
        await ws.close()
    await server.wait()
    assert server.peers[0].request_headers["sec-websocket-extensions"].count("=12") == 1


@deflate
@pytest.mark.parametrize(
    ("policy", "answer"),
    [
        (Deflate(server_max_window_bits=10), "permessage-deflate; server_max_window_bits=11"),
        (Deflate(server_max_window_bits=10), "permessage-deflate"),
        (Deflate(server_no_context_takeover=True), "permessage-deflate"),
        (Deflate(client_max_window_bits=10), "permessage-deflate; client_max_window_bits=11"),
    ],
    ids=["server-bits-larger", "server-bits-missing", "server-nct-missing", "client-bits-larger"],
)
async def test_answers_that_break_the_policy_raise_invalid_extension(
    engine: str, connect: Any, scripted: Any, policy: Deflate, answer: str
) -> None:
    async def script(peer: RawPeer) -> None:
        await peer.handshake(extra_headers=[("Sec-WebSocket-Extensions", answer)])

    server = scripted(script)
    with pytest.raises(InvalidExtension, match="RFC 7692"):
        async with connect(server.url, compression=policy):
            pass
    await server.wait()


async def test_an_extension_accepted_unoffered_raises_invalid_extension(
    engine: str, connect: Any, scripted: Any
) -> None:
    # RFC 6455 §9.1: with compression=None nothing was offered, so nothing may
    # be accepted; using it would misread every RSV1 frame.
    async def script(peer: RawPeer) -> None:
        await peer.handshake(extra_headers=ACCEPT)

    server = scripted(script)
    with pytest.raises(InvalidExtension):
        async with connect(server.url, compression=None):
            pass
    await server.wait()


@deflate
async def test_min_size_threshold_counts_encoded_bytes(
    engine: str, connect: Any, scripted: Any
) -> None:
    # §6 lets a sender leave any message uncompressed: below min_size we do.
    # "é" is two UTF-8 bytes, so 64 of them reach a 128-byte threshold.
    messages: list[tuple[str | bytes, bool | None]] = [
        (b"x" * 127, None),
        (b"x" * 128, None),
        ("é" * 63 + "e", None),
        ("é" * 64, None),
    ]
    frames = await _client_frames(connect, scripted, "permessage-deflate", messages)
    assert [got.rsv for got in frames] == [0, RSV1, 0, RSV1]
    shared = zlib.decompressobj(wbits=-15)
    for (message, _), got in zip(messages, frames, strict=True):
        data = inflate(got.payload, shared) if got.rsv else got.payload
        assert data == _plain(message)


@deflate
async def test_min_size_from_the_policy(engine: str, connect: Any, scripted: Any) -> None:
    messages: list[tuple[str | bytes, bool | None]] = [("a" * 999, None), ("a" * 1000, None)]
    frames = await _client_frames(
        connect, scripted, "permessage-deflate", messages, compression=Deflate(min_size=1000)
    )
    assert [got.rsv for got in frames] == [0, RSV1]
    assert inflate(frames[1].payload) == b"a" * 1000


@deflate
async def test_per_message_compress_overrides_the_threshold(
    engine: str, connect: Any, scripted: Any
) -> None:
    big = b"compressible " * 1000
    messages: list[tuple[str | bytes, bool | None]] = [
        (big, False),  # never compressed, however large
        ("hi", True),  # compressed, however small
        (b"", True),
        (big, None),
        ("hi", None),
    ]
    frames = await _client_frames(connect, scripted, "permessage-deflate", messages)
    assert [(got.opcode, got.rsv) for got in frames] == [
        (2, 0),
        (1, RSV1),
        (2, RSV1),
        (2, RSV1),
        (1, 0),
    ]
    shared = zlib.decompressobj(wbits=-15)
    for (message, _), got in zip(messages, frames, strict=True):
        data = inflate(got.payload, shared) if got.rsv else got.payload
        assert data == _plain(message)


async def test_compress_true_without_the_extension_sends_plain(
    engine: str, connect: Any, scripted: Any
) -> None:
    # Not negotiated (the server declined): RSV1 would be a protocol error.
    messages: list[tuple[str | bytes, bool | None]] = [("hi", True), (b"z" * 5000, True)]
    frames: list[ClientFrame] = []

    async def script(peer: RawPeer) -> None:
        await peer.handshake()
        for _ in messages:
            got = await peer.read_frame()
            assert got is not None
            frames.append(got)
        await peer.read_until_close()

    server = scripted(script)
    async with connect(server.url) as ws:
        assert ws.extensions == []
        for message, flag in messages:
            await ws.send(message, compress=flag)
        await ws.close()
    await server.wait()
    assert [(got.rsv, got.payload) for got in frames] == [(0, b"hi"), (0, b"z" * 5000)]


@deflate
async def test_an_8_bit_client_window_sends_plain_even_when_asked(
    engine: str, connect: Any, scripted: Any
) -> None:
    # zlib cannot deflate raw with a 256-byte window; plain is always allowed (§6).
    messages: list[tuple[str | bytes, bool | None]] = [(b"a" * 5000, None), (b"a" * 50, True)]
    frames = await _client_frames(
        connect, scripted, "permessage-deflate; client_max_window_bits=8", messages
    )
    assert [got.rsv for got in frames] == [0, 0]


@deflate
@pytest.mark.parametrize(
    ("client_default", "per_call", "offered"),
    [
        (None, "<unset>", None),
        (None, "deflate", "permessage-deflate; client_max_window_bits"),
        (Deflate(client_max_window_bits=9), None, None),
        (
            Deflate(client_max_window_bits=9),
            "<unset>",
            "permessage-deflate; client_max_window_bits=9",
        ),
        (
            "<unset>",
            Deflate(client_max_window_bits=11),
            "permessage-deflate; client_max_window_bits=11",
        ),
        (
            Deflate(client_max_window_bits=9),
            Deflate(server_max_window_bits=10),
            "permessage-deflate; server_max_window_bits=10; client_max_window_bits",
        ),
    ],
    ids=["client-off", "call-on", "call-off", "client-policy", "call-policy", "call-wins"],
)
async def test_client_wide_default_and_per_call_override(
    engine: str,
    connect: Any,
    scripted: Any,
    client_default: Any,
    per_call: Any,
    offered: str | None,
) -> None:
    async def script(peer: RawPeer) -> None:
        await peer.handshake()
        await peer.read_until_close()

    server = scripted(script)
    client_options = (
        {} if client_default == "<unset>" else {"websocket_compression": client_default}
    )
    options = {} if per_call == "<unset>" else {"compression": per_call}
    async with connect(server.url, client_options, **options) as ws:
        await ws.close()
    await server.wait()
    assert server.peers[0].request_headers.get("sec-websocket-extensions") == offered


# --------------------------------------------------- the policy, real servers


POLICIES = {
    "server-bits-10": Deflate(server_max_window_bits=10),
    "server-nct": Deflate(server_no_context_takeover=True),
    "client-nct": Deflate(client_no_context_takeover=True),
    "client-bits-10": Deflate(client_max_window_bits=10),
    "all": Deflate(
        client_max_window_bits=11,
        server_max_window_bits=10,
        client_no_context_takeover=True,
        server_no_context_takeover=True,
        min_size=0,
    ),
}


@deflate
@pytest.mark.parametrize("name", list(POLICIES))
async def test_policy_with_real_servers(
    engine: str, connect: Any, deflate_echo_server: Any, name: str
) -> None:
    # websockets' and aiohttp's servers honour (or decline) each knob their
    # own way; whatever they answer, both directions must keep decoding,
    # across messages that refer back to earlier ones.
    policy = POLICIES[name]
    block = os.urandom(1500)
    messages: list[str | bytes] = [block * 3, block * 2, "text é " * 300, "tiny", b""]
    async with connect(deflate_echo_server.url, compression=policy) as ws:
        assert ws.extensions, "the server declined the offer"
        answer = ws.extensions[0]
        if policy.server_no_context_takeover:
            assert "server_no_context_takeover" in answer
        if policy.server_max_window_bits is not None:
            assert "server_max_window_bits=" in answer
        with anyio.fail_after(20):
            for message in messages:
                await ws.send(message)
                assert (await ws.receive()).data == message
        await ws.close()


# ------------------------------------------------------------------- events


class _Negotiated(EventListener):
    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    def websocket_open(self, response: Any) -> None:
        self.events.append(("open",))

    def websocket_compression(
        self,
        client_max_window_bits: int,
        server_max_window_bits: int,
        client_no_context_takeover: bool,
        server_no_context_takeover: bool,
    ) -> None:
        self.events.append(
            (
                client_max_window_bits,
                server_max_window_bits,
                client_no_context_takeover,
                server_no_context_takeover,
            )
        )


@pytest.mark.parametrize(
    ("answer", "policy", "expected"),
    [
        pytest.param(None, Deflate(), [("open",)], id="declined"),
        pytest.param(
            "permessage-deflate",
            Deflate(),
            [("open",), (15, 15, False, False)],
            id="plain",
            marks=deflate,
        ),
        pytest.param(
            "permessage-deflate; client_max_window_bits=9; server_max_window_bits=10; "
            "server_no_context_takeover",
            Deflate(server_no_context_takeover=True),
            [("open",), (9, 10, False, True)],
            id="answered",
            marks=deflate,
        ),
        pytest.param(
            "permessage-deflate",
            Deflate(client_max_window_bits=11, client_no_context_takeover=True),
            [("open",), (11, 15, True, False)],
            id="from-the-offer",
            marks=deflate,
        ),
    ],
)
async def test_websocket_compression_event_reports_what_was_agreed(
    engine: str, scripted: Any, answer: str | None, policy: Deflate, expected: list[Any]
) -> None:
    async def script(peer: RawPeer) -> None:
        extra = [] if answer is None else [("Sec-WebSocket-Extensions", answer)]
        await peer.handshake(extra_headers=extra)
        await peer.read_until_close()

    server = scripted(script)
    listener = _Negotiated()
    async with Client(event_listener_factory=lambda: listener) as client:
        call = client.new_websocket(server.url, engine=engine, compression=policy)
        async with call.connect():
            pass
    await server.wait()
    assert listener.events == expected
