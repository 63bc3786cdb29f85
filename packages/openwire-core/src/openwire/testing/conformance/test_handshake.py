"""RFC 6455 §4: the opening handshake, validated in order, through the client stack."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import anyio
import pytest
from openwire.errors import (
    HandshakeTimeout,
    HTTPProtocolError,
    InvalidAccept,
    InvalidConnection,
    InvalidExtension,
    InvalidSubprotocol,
    InvalidUpgrade,
    ReadError,
    UnexpectedStatus,
)
from openwire.testing.frames import frame
from openwire.testing.servers import RawPeer

pytestmark = [pytest.mark.anyio, pytest.mark.rfc("4")]


async def test_handshake_request_carries_rfc_headers(
    engine: str, connect: Any, scripted: Any
) -> None:
    seen: dict[str, Any] = {}

    async def script(peer: RawPeer) -> None:
        await peer.handshake()
        seen.update(peer.request_headers, request_line=peer.request_head.split(b"\r\n")[0])
        await peer.read_until_close()

    server = scripted(script)
    async with connect(server.url + "chat?room=1", subprotocols=["chat", "superchat"]) as ws:
        await ws.close()
    await server.wait()
    assert seen["request_line"] == b"GET /chat?room=1 HTTP/1.1"
    assert seen["upgrade"].lower() == "websocket"
    assert "upgrade" in seen["connection"].lower()
    assert seen["sec-websocket-version"] == "13"
    assert len(base64.b64decode(seen["sec-websocket-key"])) == 16
    assert seen["sec-websocket-protocol"] == "chat, superchat"
    assert seen["host"] == f"127.0.0.1:{server.port}"
    assert seen["user-agent"].startswith("openwire/")


async def test_subprotocol_negotiated_with_real_server(
    engine: str, connect: Any, echo_server: Any
) -> None:
    async with connect(echo_server.url, subprotocols=["nope", "superchat"]) as ws:
        assert ws.subprotocol == "superchat"
        assert ws.response.status == 101
        await ws.close()


async def test_non_101_raises_unexpected_status_with_body(
    engine: str, connect: Any, scripted: Any
) -> None:
    async def script(peer: RawPeer) -> None:
        await peer.handshake(status="403 Forbidden", headers=[("X-Why", "tokens")], body=b"go away")

    server = scripted(script)
    with pytest.raises(UnexpectedStatus) as info:
        async with connect(server.url):
            pass
    assert info.value.status == 403
    assert info.value.body == b"go away"
    assert ("X-Why", "tokens") in info.value.headers or ("x-why", "tokens") in [
        (k.lower(), v) for k, v in info.value.headers
    ]
    assert "403" in str(info.value)
    await server.wait()


async def test_unexpected_status_body_is_capped_at_64_kib(
    engine: str, connect: Any, scripted: Any
) -> None:
    async def script(peer: RawPeer) -> None:
        await peer.handshake(status="500 Internal Server Error", body=b"x" * 200_000)

    server = scripted(script)
    with pytest.raises(UnexpectedStatus) as info:
        async with connect(server.url):
            pass
    assert len(info.value.body) == 64 * 1024


async def test_redirect_is_reported_not_followed(engine: str, connect: Any, scripted: Any) -> None:
    async def script(peer: RawPeer) -> None:
        await peer.handshake(status="302 Found", headers=[("Location", "/elsewhere")])

    server = scripted(script)
    with pytest.raises(UnexpectedStatus) as info:
        async with connect(server.url):
            pass
    assert info.value.status == 302
    assert len(server.peers) == 1, "a WebSocket handshake must not follow redirects"


@pytest.mark.parametrize(
    ("headers", "error"),
    [
        ([("Upgrade", "h2c"), ("Connection", "Upgrade")], InvalidUpgrade),
        ([("Connection", "Upgrade")], InvalidUpgrade),
        ([("Upgrade", "websocket"), ("Connection", "keep-alive")], InvalidConnection),
    ],
    ids=["wrong-upgrade", "no-upgrade", "no-connection-upgrade"],
)
async def test_invalid_upgrade_headers_are_rejected(
    engine: str, connect: Any, scripted: Any, headers: list[tuple[str, str]], error: type
) -> None:
    async def script(peer: RawPeer) -> None:
        await peer.handshake(headers=[*headers, ("Sec-WebSocket-Accept", "x")])

    server = scripted(script)
    with pytest.raises(error):
        async with connect(server.url):
            pass


async def test_wrong_accept_raises_invalid_accept(engine: str, connect: Any, scripted: Any) -> None:
    async def script(peer: RawPeer) -> None:
        await peer.handshake(
            headers=[
                ("Upgrade", "websocket"),
                ("Connection", "Upgrade"),
                ("Sec-WebSocket-Accept", base64.b64encode(b"0" * 20).decode()),
            ]
        )

    server = scripted(script)
    with pytest.raises(InvalidAccept, match="Sec-WebSocket-Accept"):
        async with connect(server.url):
            pass


async def test_unoffered_subprotocol_raises_invalid_subprotocol(
    engine: str, connect: Any, scripted: Any
) -> None:
    async def script(peer: RawPeer) -> None:
        await peer.handshake(extra_headers=[("Sec-WebSocket-Protocol", "mqtt")])

    server = scripted(script)
    with pytest.raises(InvalidSubprotocol, match="mqtt"):
        async with connect(server.url, subprotocols=["chat"]):
            pass


async def test_unoffered_extension_raises_invalid_extension(
    engine: str, connect: Any, scripted: Any
) -> None:
    async def script(peer: RawPeer) -> None:
        await peer.handshake(extra_headers=[("Sec-WebSocket-Extensions", "x-unknown")])

    server = scripted(script)
    with pytest.raises(InvalidExtension, match="x-unknown"):
        async with connect(server.url):
            pass


async def test_bytes_right_after_101_are_not_lost(engine: str, connect: Any, scripted: Any) -> None:
    async def script(peer: RawPeer) -> None:
        await peer.handshake(trailing=frame(0x1, b"first") + frame(0x2, b"second"))
        await peer.read_until_close()

    server = scripted(script)
    async with connect(server.url) as ws:
        assert (await ws.receive()).data == "first"
        assert (await ws.receive()).data == b"second"
        await ws.close()
    await server.wait()


async def test_handshake_timeout_against_silent_server(
    engine: str, connect: Any, scripted: Any
) -> None:
    async def script(peer: RawPeer) -> None:
        await peer.read_request()
        await asyncio.sleep(3)

    server = scripted(script)
    with anyio.fail_after(2), pytest.raises(HandshakeTimeout, match="handshake_timeout"):
        async with connect(server.url, handshake_timeout=0.3):
            pass


async def test_interim_1xx_before_the_101_is_skipped(
    engine: str, connect: Any, scripted: Any
) -> None:
    async def script(peer: RawPeer) -> None:
        await peer.read_request()
        await peer.send(b"HTTP/1.1 100 Continue\r\n\r\n")
        accept = peer.accept_value().encode()
        # Bare LF line ends, split across writes, with a frame right behind.
        await peer.send(b"HTTP/1.1 101 Switching Protocols\nUpgrade: websocket\n")
        await peer.send(b"Connection: Upgrade\nSec-WebSocket-Accept: " + accept + b"\n\n")
        await peer.send(frame(0x1, b"hello"))
        await peer.read_until_close()

    server = scripted(script)
    async with connect(server.url) as ws:
        assert ws.response.status == 101
        assert (await ws.receive()).data == "hello"
        await ws.close()
    await server.wait()


async def test_a_head_arriving_byte_by_byte_is_read(
    engine: str, connect: Any, scripted: Any
) -> None:
    async def script(peer: RawPeer) -> None:
        await peer.read_request()
        head = (
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + peer.accept_value().encode() + b"\r\n\r\n"
        )
        for byte in head:
            await peer.send(bytes([byte]))
            await asyncio.sleep(0.001)
        await peer.send_frame(0x1, b"after a slow head")
        await peer.read_until_close()

    server = scripted(script)
    async with connect(server.url) as ws:
        assert (await ws.receive()).data == "after a slow head"
        await ws.close()


async def test_folded_header_lines_are_unfolded(engine: str, connect: Any, scripted: Any) -> None:
    # RFC 9112 §5.2: a client replaces obs-fold with a space before reading the field.
    async def script(peer: RawPeer) -> None:
        await peer.read_request()
        accept = peer.accept_value().encode()
        await peer.send(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: keep-alive,\r\n\t Upgrade\r\nSec-WebSocket-Accept: "
            + accept
            + b"\r\n\r\n"
        )
        await peer.read_until_close()

    server = scripted(script)
    async with connect(server.url) as ws:
        assert ws.response.headers["connection"] == "keep-alive, Upgrade"
        await ws.close()


async def test_chunked_rejection_body_is_decoded(engine: str, connect: Any, scripted: Any) -> None:
    async def script(peer: RawPeer) -> None:
        await peer.read_request()
        await peer.send(
            b"HTTP/1.1 401 Unauthorized\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5\r\nlog i\r\n4\r\nn fi\r\n3\r\nrst\r\n0\r\n\r\n"
        )

    server = scripted(script)
    with pytest.raises(UnexpectedStatus) as info:
        async with connect(server.url):
            pass
    assert info.value.status == 401
    assert info.value.body == b"log in first"


@pytest.mark.parametrize(
    "head",
    [
        b"HTTP/1.1 101 Switching Protocols\r\n continued: value\r\nUpgrade: websocket\r\n\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade websocket\r\n\r\n",
        b"HTTP/1.1 1O1 Switching Protocols\r\n\r\n",
        b"ICY 200 OK\r\n\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n",
    ],
    ids=["continuation-first", "no-colon", "bad-status", "not-http", "head-over-100k"],
)
async def test_malformed_response_head_is_an_http_protocol_error(
    engine: str, connect: Any, scripted: Any, head: bytes
) -> None:
    async def script(peer: RawPeer) -> None:
        await peer.read_request()
        await peer.send(head)
        await peer.read_until_close()

    server = scripted(script)
    with pytest.raises(HTTPProtocolError, match="the server broke the HTTP protocol"):
        async with connect(server.url, handshake_timeout=5):
            pass


async def test_server_closing_before_answering_is_a_read_error(
    engine: str, connect: Any, scripted: Any
) -> None:
    async def script(peer: RawPeer) -> None:
        await peer.read_request()
        peer.close()

    server = scripted(script)
    with pytest.raises(ReadError, match="closed the connection before responding"):
        async with connect(server.url, handshake_timeout=5):
            pass
