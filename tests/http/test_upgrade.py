"""The transport side of the WebSocket contract: 101 hands over the stream."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from openwire import Client, Request

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


async def test_101_hands_over_the_stream(
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
        extensions={"openwire.websocket": Handshake()},
    )
    async with Client(http2=True, event_listener_factory=recorder_factory) as client:
        events = client.new_listener()
        response = await client._send(request, events)
        assert response.status == 101
        assert response.http_version == "HTTP/1.1"
        stream = response.extensions["network_stream"]
        await response.aclose()  # must not close the upgraded stream
        assert await stream.read(1024) == b"early"
        await stream.write(b"ping")
        assert await stream.read(1024) == b"ping"
        await stream.aclose()
    head = heads[0].decode().lower()
    assert "connection: upgrade" in head
    assert "keep-alive" not in head
    assert "accept-encoding" not in head
    assert "user-agent: openwire/" in head
    names = recorders[0].names
    assert "call_start" not in names
    assert "call_end" not in names
    assert names[-2:] == ["response_headers_end", "connection_released"]
