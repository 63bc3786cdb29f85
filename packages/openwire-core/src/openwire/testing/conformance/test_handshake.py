"""RFC 6455 §4: the opening handshake, validated in order, through the client stack."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import anyio
import pytest
from openwire.errors import (
    HandshakeError,
    HandshakeTimeout,
    HTTPProtocolError,
    InvalidAccept,
    InvalidConnection,
    InvalidExtension,
    InvalidHandshakeHead,
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


async def test_redirect_is_followed_with_a_fresh_key(
    engine: str, connect: Any, scripted: Any
) -> None:
    async def script(peer: RawPeer) -> None:
        await peer.read_request()
        if peer.path == "/":
            await peer.send(b"HTTP/1.1 302 Found\r\nLocation: /landed\r\nContent-Length: 0\r\n\r\n")
            return
        await peer.send(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + peer.accept_value().encode() + b"\r\n\r\n"
        )
        await peer.read_until_close()

    server = scripted(script)
    async with connect(server.url) as ws:
        assert ws.response.request.url.path == "/landed"
    assert [peer.path for peer in server.peers] == ["/", "/landed"]
    keys = {peer.request_headers["sec-websocket-key"] for peer in server.peers}
    assert len(keys) == 2, "each hop must send a key of its own"


async def test_redirect_is_reported_when_not_followed(
    engine: str, connect: Any, scripted: Any
) -> None:
    async def script(peer: RawPeer) -> None:
        await peer.handshake(status="302 Found", headers=[("Location", "/elsewhere")])

    server = scripted(script)
    with pytest.raises(UnexpectedStatus) as info:
        async with connect(server.url, follow_redirects=False):
            pass
    assert info.value.status == 302
    assert "/elsewhere" in str(info.value)
    assert len(server.peers) == 1, "follow_redirects=False must not follow the redirect"


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
        b"HTTP/1.1 101 Switching Protocols\r\nX-Bell: \x07\r\nUpgrade: websocket\r\n\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\r\nUpgrade: websocket\r\n\r\n",
    ],
    ids=[
        "continuation-first",
        "no-colon",
        "bad-status",
        "not-http",
        "one-200k-line",
        "control-character",
        "cr-cr-lf",
    ],
)
async def test_malformed_response_head_is_an_invalid_handshake_head(
    engine: str, connect: Any, scripted: Any, head: bytes
) -> None:
    async def script(peer: RawPeer) -> None:
        await peer.read_request()
        await peer.send(head)
        await peer.read_until_close()

    server = scripted(script)
    with pytest.raises(InvalidHandshakeHead, match="the server broke the HTTP protocol") as info:
        async with connect(server.url, handshake_timeout=5):
            pass
    # Both a handshake failure and bad HTTP, so either kind of handler catches it.
    assert isinstance(info.value, HandshakeError)
    assert isinstance(info.value, HTTPProtocolError)
    assert info.value.request is not None


def _head(status: bytes, fields: list[bytes], accept: str) -> bytes:
    lines = [
        b"HTTP/1.1 " + status,
        b"Upgrade: websocket",
        b"Connection: Upgrade",
        b"Sec-WebSocket-Accept: " + accept.encode(),
        *fields,
    ]
    return b"\r\n".join(lines) + b"\r\n\r\n"


@pytest.mark.parametrize("status", [b"101 Switching Protocols", b"403 Forbidden"])
@pytest.mark.parametrize(
    ("fields", "limit", "words"),
    [
        ([b"X-Big: " + b"a" * 9 * 1024], "line", "over 8192 bytes"),
        ([b"X-%d: v" % n for n in range(126)], "fields", "more than 128 header lines"),
        ([b"X-%d: " % n + b"a" * 8000 for n in range(9)], "head", "over 65536 bytes"),
    ],
    ids=["9-kib-line", "129-fields", "72-kib-head"],
)
async def test_a_head_over_a_limit_is_refused_naming_the_limit(
    engine: str,
    connect: Any,
    scripted: Any,
    status: bytes,
    fields: list[bytes],
    limit: str,
    words: str,
) -> None:
    async def script(peer: RawPeer) -> None:
        await peer.read_request()
        await peer.send(_head(status, fields, peer.accept_value()))
        await peer.read_until_close()

    server = scripted(script)
    with pytest.raises(InvalidHandshakeHead, match=words) as info:
        async with connect(server.url, handshake_timeout=5):
            pass
    assert (info.value.limit, info.value.request is not None) == (limit, True)


async def test_a_long_line_is_refused_while_it_arrives(
    engine: str, connect: Any, scripted: Any
) -> None:
    # The line never ends: refusing only at its end would wait for the timeout.
    async def script(peer: RawPeer) -> None:
        await peer.read_request()
        await peer.send(b"HTTP/1.1 101 Switching Protocols\r\nX-Endless: " + b"a" * 9000)
        await asyncio.sleep(5)

    server = scripted(script)
    with anyio.fail_after(4), pytest.raises(InvalidHandshakeHead) as info:
        async with connect(server.url, handshake_timeout=3):
            pass
    assert info.value.limit == "line"


async def test_more_than_8_interim_heads_are_refused(
    engine: str, connect: Any, scripted: Any
) -> None:
    async def script(peer: RawPeer) -> None:
        await peer.read_request()
        await peer.send(b"HTTP/1.1 102 Processing\r\n\r\n" * 9)
        await peer.send(_head(b"101 Switching Protocols", [], peer.accept_value()))
        await peer.read_until_close()

    server = scripted(script)
    with pytest.raises(InvalidHandshakeHead, match="more than 8 interim 1xx heads") as info:
        async with connect(server.url, handshake_timeout=5):
            pass
    assert info.value.limit == "interim"


async def test_8_interim_heads_and_128_fields_are_still_read(
    engine: str, connect: Any, scripted: Any
) -> None:
    async def script(peer: RawPeer) -> None:
        await peer.read_request()
        await peer.send(b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" * 8)
        fields = [b"X-%d: " % n + b"a" * 400 for n in range(125)]
        await peer.send(_head(b"101 Switching Protocols", fields, peer.accept_value()))
        await peer.read_until_close()

    server = scripted(script)
    async with connect(server.url, handshake_timeout=5) as ws:
        assert len(ws.response.headers) == 128
        await ws.close()


async def test_http_1_0_101_is_refused(engine: str, connect: Any, scripted: Any) -> None:
    # RFC 9110 §7.8 / RFC 6455 §4.1: Upgrade and 101 exist only from HTTP/1.1 on.
    async def script(peer: RawPeer) -> None:
        await peer.read_request()
        head = _head(b"101 Switching Protocols", [], peer.accept_value())
        await peer.send(head.replace(b"HTTP/1.1", b"HTTP/1.0", 1))
        await peer.read_until_close()

    server = scripted(script)
    with pytest.raises(InvalidHandshakeHead, match=r"HTTP/1\.0 101") as info:
        async with connect(server.url, handshake_timeout=5):
            pass
    assert info.value.limit is None


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
