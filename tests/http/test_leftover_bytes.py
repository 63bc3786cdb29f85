"""Bytes past the end of a response are never read as the next response (RFC 9112 §6.3)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import anyio
import pytest
from openwire import Client

from tests.http_peers import Handler, RawServer, read_request_head

pytestmark = pytest.mark.anyio


def keep_alive_server(first_answer: bytes, connections: list[int]) -> Handler:
    """Answers ``/first`` with ``first_answer`` as written, anything else with its own path."""

    async def handler(
        index: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        while True:
            try:
                head = await read_request_head(reader)
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            if not head:
                return
            connections.append(index)
            path = head.split(b" ", 2)[1]
            if path == b"/first":
                writer.write(first_answer)
            else:
                body = b"answer to " + path
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            await writer.drain()

    return handler


@pytest.mark.parametrize(
    "extra",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nSMUGGLED",  # a whole response
        b"WORLD",  # junk
    ],
    ids=["a-response", "junk"],
)
async def test_bytes_after_the_body_do_not_answer_the_next_request(
    raw_server: Callable[[Handler], RawServer], extra: bytes
) -> None:
    connections: list[int] = []
    server = raw_server(
        keep_alive_server(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello" + extra, connections)
    )
    async with Client() as client:
        first = await client.get(f"{server.url}/first")
        await anyio.sleep(0.05)  # the extra bytes have arrived
        second = await client.get(f"{server.url}/second")
    assert first.content == b"hello"
    assert (second.status, second.content) == (200, b"answer to /second")
    assert connections == [0, 1]  # the first connection was not reused


async def test_a_clean_response_keeps_its_connection(
    raw_server: Callable[[Handler], RawServer],
) -> None:
    connections: list[int] = []
    server = raw_server(
        keep_alive_server(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", connections)
    )
    async with Client() as client:
        await client.get(f"{server.url}/first")
        await client.get(f"{server.url}/second")
    assert connections == [0, 0]
