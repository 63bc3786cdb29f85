"""The transport side of the WebSocket contract: 101 hands over the stream.

And the head limits of ``openwire/protocol/http11.py`` on the other paths a head takes:
plain calls (read by httpcore, checked by the transport) and proxy answers
to ``CONNECT`` (read by our own reader).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable

import anyio
import pytest
from openwire import (
    Client,
    HandshakeError,
    HeadTooLarge,
    HTTPProtocolError,
    InvalidHandshakeHead,
    ProxyError,
    Request,
)

from tests.http_peers import Handler, RawServer, Recorder, read_request_head

pytestmark = pytest.mark.anyio


class Handshake:
    def headers(self) -> list[tuple[str, str]]:
        return [
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ("Sec-WebSocket-Version", "13"),
        ]


def upgrading(heads: list[bytes]) -> Handler:
    async def handler(
        index: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        heads.append(await read_request_head(reader))
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\n\r\nearly"
        )
        await writer.drain()
        while data := await reader.read(1024):
            writer.write(data)
            await writer.drain()

    return handler


async def test_101_hands_over_the_connection_and_the_bytes_after_it(
    raw_server: Callable[[Handler], RawServer],
    recorder_factory: Callable[[], Recorder],
    recorders: list[Recorder],
) -> None:
    heads: list[bytes] = []
    server = raw_server(upgrading(heads))
    request = Request(
        "GET",
        f"{server.url}/ws",
        headers={"Connection": "keep-alive"},
        websocket=Handshake(),
    )
    async with Client(http2=True, event_listener_factory=recorder_factory) as client:
        call = client.start_call(request)
        response = await call.send()
        assert response.status == 101
        assert response.http_version == "HTTP/1.1"
        assert response.upgraded is not None
        await response.aclose()  # must not close the upgraded connection
        detached = response.upgraded.detach()
        stream = detached.stream
        early = detached.leading
        while len(early) < len(b"early"):
            early += await stream.read(1024)
        assert early == b"early"
        await stream.write(b"ping")
        assert await stream.read(1024) == b"ping"
        await stream.aclose()
        with pytest.raises(RuntimeError, match="already detached"):
            response.upgraded.detach()
    head = heads[0].decode().lower()
    assert "connection: upgrade" in head
    assert "keep-alive" not in head
    assert "accept-encoding" not in head
    assert "user-agent: openwire/" in head
    names = recorders[0].names
    assert names[0] == "call_start"
    assert "call_end" not in names  # the caller of start_call ends the call
    assert names[-2:] == ["response_headers_end", "connection_released"]


# --------------------------------------------------------------- head limits

LONG_LINE = [b"X-Big: " + b"a" * 9 * 1024]
MANY_FIELDS = [b"X-%d: v" % n for n in range(129)]


def answering(status: bytes, fields: list[bytes], body: bytes = b"") -> Handler:
    async def handler(
        index: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await read_request_head(reader)
        head = [b"HTTP/1.1 " + status, *fields, b"Content-Length: %d" % len(body)]
        writer.write(b"\r\n".join(head) + b"\r\n\r\n" + body)
        await writer.drain()
        await reader.read(1)

    return handler


@pytest.mark.parametrize(
    ("fields", "limit"), [(LONG_LINE, "line"), (MANY_FIELDS, "fields")], ids=["9-kib", "129"]
)
async def test_a_plain_call_answered_with_a_head_over_a_limit_is_head_too_large(
    raw_server: Callable[[Handler], RawServer], fields: list[bytes], limit: str
) -> None:
    server = raw_server(answering(b"200 OK", fields, b"body"))
    async with Client() as client:
        with pytest.raises(HeadTooLarge) as info:
            await client.get(f"{server.url}/")
    assert info.value.limit == limit
    assert isinstance(info.value, HTTPProtocolError)
    assert not isinstance(info.value, HandshakeError)
    assert info.value.request is not None
    assert "the server broke the HTTP protocol answering GET" in str(info.value)


async def test_a_plain_call_at_the_limits_is_read(
    raw_server: Callable[[Handler], RawServer],
) -> None:
    fields = [b"X-%d: v" % n for n in range(126)] + [b"X-Long: " + b"a" * (8192 - 8)]
    server = raw_server(answering(b"200 OK", fields, b"body"))
    async with Client() as client:
        response = await client.get(f"{server.url}/")
    assert (response.status, len(response.headers)) == (200, 128)  # with Content-Length


async def test_a_rejected_upgrade_over_a_limit_is_an_invalid_handshake_head(
    raw_server: Callable[[Handler], RawServer],
) -> None:
    server = raw_server(answering(b"403 Forbidden", LONG_LINE, b"no"))
    request = Request("GET", f"{server.url}/ws", websocket=Handshake())
    async with Client() as client:
        with pytest.raises(InvalidHandshakeHead) as info:
            await client.start_call(request).send()
    assert info.value.limit == "line"


def connect_answered_with(status: bytes, fields: list[bytes]) -> Handler:
    """A proxy that answers CONNECT with this head (and a body a refusal may carry)."""
    return answering(status, fields, b"" if status.startswith(b"2") else b"refused")


@pytest.mark.parametrize(
    ("fields", "limit"), [(LONG_LINE, "line"), (MANY_FIELDS, "fields")], ids=["9-kib", "129"]
)
@pytest.mark.parametrize("status", [b"200 Connection established", b"407 Who are you"])
@pytest.mark.parametrize("path", ["https", "ws"])
async def test_a_connect_answer_over_a_limit_is_head_too_large(
    raw_server: Callable[[Handler], RawServer],
    fields: list[bytes],
    limit: str,
    status: bytes,
    path: str,
) -> None:
    proxy = raw_server(connect_answered_with(status, fields))
    async with Client(proxy=proxy.url) as client:
        attempt = (
            client.get("https://origin.invalid/")
            if path == "https"
            else client.new_websocket("ws://origin.invalid/").execute()
        )
        with anyio.fail_after(5), pytest.raises(HeadTooLarge) as info:
            await attempt
    assert info.value.limit == limit
    assert info.value.request is not None
    assert f"the proxy 127.0.0.1:{proxy.url.rsplit(':', 1)[1]}" in str(info.value)


async def test_a_malformed_connect_answer_is_a_proxy_error(
    raw_server: Callable[[Handler], RawServer], client_ssl: ssl.SSLContext
) -> None:
    proxy = raw_server(connect_answered_with(b"2OO OK", []))
    async with Client(proxy=proxy.url, verify=client_ssl) as client:
        with anyio.fail_after(5), pytest.raises(ProxyError, match="malformed head"):
            await client.get("https://origin.invalid/")
