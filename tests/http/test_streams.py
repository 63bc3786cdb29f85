"""The network stream under every HTTP exchange: flow control and timeouts, both ways.

On asyncio this is openwire's own protocol stream, on trio anyio's; the
behaviour must be the same.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import ssl
import warnings
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import httpcore
import pytest
import trustme
from openwire import Client, HTTPProtocolError, ReadError, Request, Timeouts, WriteTimeout
from openwire.http.tracing import ReportingBackend
from openwire.testing.servers import BackgroundLoop

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


async def released(sock: Any) -> None:
    """Wait (2 s at most) for the stream's socket to be closed."""
    for _ in range(200):
        if sock.fileno() == -1:
            return
        await anyio.sleep(0.01)
    raise AssertionError(f"the socket is still open: {sock!r}")


async def test_closing_a_stream_whose_peer_stopped_reading_releases_the_socket(
    raw_server: Callable[[Handler], RawServer],
) -> None:
    # A write timeout leaves megabytes unsent; closing must not wait for a peer
    # that will never read them, or the socket stays open until the loop closes.
    server = raw_server(never_reading([]))
    port = int(server.url.rsplit(":", 1)[1])
    stream = await ReportingBackend().connect_tcp("127.0.0.1", port, timeout=5)
    sock = stream.get_extra_info("socket")
    head = b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 67108864\r\n\r\n"
    with anyio.fail_after(10), pytest.raises(httpcore.WriteTimeout):
        await stream.write(head + b"x" * (64 * 1024 * 1024), timeout=0.3)
    await stream.aclose()
    await released(sock)


def silent_after_hello() -> Handler:
    async def handler(
        index: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await reader.read(1024)  # a TLS ClientHello; answer nothing
        await asyncio.sleep(5)

    return handler


@pytest.mark.parametrize("ending", ["timeout", "cancelled"])
async def test_a_failed_tls_handshake_releases_the_socket(
    raw_server: Callable[[Handler], RawServer], client_ssl: ssl.SSLContext, ending: str
) -> None:
    # httpcore drops a stream whose start_tls failed without closing it: the
    # stream must release its socket itself, however the handshake ended.
    server = raw_server(silent_after_hello())
    port = int(server.url.rsplit(":", 1)[1])
    stream = await ReportingBackend().connect_tcp("127.0.0.1", port, timeout=5)
    sock = stream.get_extra_info("socket")
    if ending == "timeout":
        with pytest.raises(httpcore.ConnectTimeout):
            await stream.start_tls(client_ssl, "127.0.0.1", timeout=0.2)
    else:
        with anyio.move_on_after(0.2) as scope:
            await stream.start_tls(client_ssl, "127.0.0.1", timeout=None)
        assert scope.cancelled_caught
    await released(sock)


@pytest.mark.parametrize("streamed", [False, True], ids=["bytes", "streamed"])
async def test_a_body_left_unsent_by_a_write_timeout_is_closed_at_once(
    raw_server: Callable[[Handler], RawServer], streamed: bool
) -> None:
    # httpcore stops iterating the body without closing it; the transport must
    # close it (and the application's source), not leave it to the garbage
    # collector, which trio reports as an abandoned async generator.
    server = raw_server(never_reading([]))
    closed: list[bool] = []

    async def chunks() -> AsyncIterator[bytes]:
        try:
            while True:
                yield b"x" * 65536
        finally:
            closed.append(True)

    content: bytes | AsyncIterator[bytes] = chunks() if streamed else b"x" * (64 * 1024 * 1024)
    async with Client(timeouts=Timeouts(write=0.5), retry_on_connection_failure=False) as c:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ResourceWarning)
            with anyio.fail_after(10), pytest.raises(WriteTimeout):
                await c.post(f"{server.url}/upload", content=content)
            assert closed == ([True] if streamed else [])
            del content
            gc.collect()
    assert [str(w.message) for w in caught if w.category is ResourceWarning] == []


async def test_closing_a_tls_stream_does_not_wait_for_the_peers_close_notify(
    server_loop: BackgroundLoop, ca: trustme.CA, client_ssl: ssl.SSLContext
) -> None:
    # Closing TLS sends our close_notify; a peer that never answers it must not
    # keep the socket open (asyncio would wait 30 s, or until the loop closes).
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)

    async def deaf(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.transport.pause_reading()  # so no close_notify goes back
        await asyncio.sleep(5)
        writer.transport.abort()

    async def start() -> asyncio.base_events.Server:
        return await asyncio.start_server(deaf, "127.0.0.1", 0, ssl=context)

    server = server_loop.run(start())
    try:
        port = server.sockets[0].getsockname()[1]
        raw = await ReportingBackend().connect_tcp("127.0.0.1", port, timeout=5)
        sock = raw.get_extra_info("socket")
        stream = await raw.start_tls(client_ssl, "127.0.0.1", timeout=5)
        await stream.aclose()
        await released(sock)
    finally:

        async def stop() -> None:
            server.close()

        server_loop.run(stop())


async def test_reading_a_body_after_the_client_closed_is_a_read_error_not_the_servers_fault(
    http_server: Server,
) -> None:
    client = Client()
    response = await client.execute(Request("GET", f"{http_server.url}/big?size=300000"))
    await client.aclose()
    with pytest.raises(ReadError) as info:
        await response.aread()
    assert not isinstance(info.value, HTTPProtocolError)
