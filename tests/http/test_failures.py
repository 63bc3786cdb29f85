"""Errors are chosen by type, never by the wording of a message (``http/failures.py``).

A server that closes the connection before sending a response is a
connection failure (``ReadError``, which the follow-ups retry once), on both
paths a request takes: httpcore's pool and the upgrade connector.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import httpcore
import pytest
from openwire import Client, HTTPProtocolError, ReadError, Request
from openwire.http.failures import ServerDisconnected, translate

from tests.http_peers import Handler, RawServer, Server, read_request_head

pytestmark = pytest.mark.anyio


class Handshake:
    def headers(self) -> list[tuple[str, str]]:
        return [
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ("Sec-WebSocket-Version", "13"),
        ]


async def hang_up(index: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request_head(reader)
    writer.close()


async def test_pool_server_closing_before_a_response_is_a_read_error_and_retried(
    raw_server: Callable[[Handler], RawServer],
) -> None:
    server = raw_server(hang_up)
    async with Client() as client:
        with pytest.raises(ReadError, match="closed the connection before responding"):
            await client.get(f"{server.url}/")
    assert len(server.connections) == 2  # the idempotent GET was retried once


async def test_upgrade_server_closing_before_a_response_is_a_read_error(
    raw_server: Callable[[Handler], RawServer],
) -> None:
    server = raw_server(hang_up)
    request = Request("GET", f"{server.url}/ws", websocket=Handshake())
    async with Client() as client:
        call = client.start_call(request)
        with pytest.raises(ReadError, match="closed the connection before responding"):
            await call.send()
        call.end()


def test_the_wording_of_a_protocol_error_does_not_choose_its_type() -> None:
    request = Request("GET", "http://example.com/")
    # httpcore's own words, raised from somewhere else: still bad HTTP.
    words = httpcore.RemoteProtocolError("Server disconnected without sending a response.")
    assert type(translate(words, request)) is HTTPProtocolError
    assert type(translate(ServerDisconnected(), request)) is ReadError


@pytest.mark.parametrize("declared", [10, 2])  # more than the body holds, and less
async def test_a_streamed_body_unlike_its_content_length_is_an_http_protocol_error(
    http_server: Server, declared: int
) -> None:
    async def five_bytes() -> AsyncIterator[bytes]:
        yield b"hello"

    async with Client() as client:
        with pytest.raises(HTTPProtocolError, match="matches its Content-Length"):
            await client.post(
                f"{http_server.url}/echo",
                content=five_bytes(),
                headers={"Content-Length": str(declared)},
            )
