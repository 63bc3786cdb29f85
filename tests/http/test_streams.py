"""The network stream under every HTTP exchange: flow control and timeouts, both ways.

On asyncio this is openwire's own protocol stream, on trio anyio's; the
behaviour must be the same.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable

import anyio
import pytest
from openwire import Client, Request, Timeouts, WriteTimeout

from tests.http_peers import Handler, RawServer, Server, read_request_head

pytestmark = pytest.mark.anyio


async def test_a_slow_reader_gets_a_large_body_whole_and_in_order(http_server: Server) -> None:
    size = 8 * 1024 * 1024
    async with Client() as client:
        response = await client.execute(Request("GET", f"{http_server.url}/big?size={size}"))
        digest = hashlib.sha256()
        received = 0
        async for chunk in response.aiter_bytes():
            if received == 0:
                await anyio.sleep(0.3)  # the server fills every buffer meanwhile
            digest.update(chunk)
            received += len(chunk)
    assert received == size
    assert digest.hexdigest() == hashlib.sha256(b"b" * size).hexdigest()


def never_reading(heads: list[bytes]) -> Handler:
    async def handler(
        index: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        heads.append(await read_request_head(reader))
        await asyncio.sleep(5)  # reads nothing more: the client's sends back up

    return handler


async def test_a_peer_that_stops_reading_is_a_write_timeout(
    raw_server: Callable[[Handler], RawServer],
) -> None:
    heads: list[bytes] = []
    server = raw_server(never_reading(heads))
    body = b"x" * (64 * 1024 * 1024)
    async with Client(timeouts=Timeouts(write=0.5), retry_on_connection_failure=False) as c:
        with anyio.fail_after(10), pytest.raises(WriteTimeout, match=r"Timeouts\.write"):
            await c.post(f"{server.url}/upload", content=body)
    assert heads and heads[0].startswith(b"POST /upload")
