"""The WebSocket handshake travels the client's whole stack (issue: handshake through the Client).

Interceptors, the bridge, events, proxies and TLS apply to the upgrade
exactly as to any call; each test talks to a real server on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
import time
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import pytest
import trustme
from openwire import Client, ConnectTimeout, Limits, ProxyError, Request, Response, Timeouts
from openwire.errors import (
    ConnectionClosedError,
    HTTPProtocolError,
    OpenWireError,
    UnexpectedStatus,
)
from openwire.http.chain import Chain
from openwire.protocol.handshake import accept_key
from openwire.testing.frames import frame
from openwire.testing.servers import BackgroundLoop, EchoServer

from tests.http_peers import Handler, Proxy, RawServer, Recorder, read_request_head

pytestmark = pytest.mark.anyio


async def test_interceptors_see_the_upgrade_and_the_101(echo_server: EchoServer) -> None:
    seen: dict[str, Any] = {}

    async def application(request: Request, chain: Chain) -> Response:
        seen["app_request_upgrade"] = request.headers.get("Upgrade")
        request = request.replace(headers=[*request.headers.items(), ("X-Token", "secret")])
        response = await chain.proceed(request)
        seen["app_status"] = response.status
        return response

    async def network(request: Request, chain: Chain) -> Response:
        seen["net_upgrade"] = request.headers.get("Upgrade")
        seen["net_key"] = request.headers.get("Sec-WebSocket-Key")
        response = await chain.proceed(request)
        seen["net_accept"] = response.headers.get("Sec-WebSocket-Accept")
        return response

    async with Client(interceptors=[application], network_interceptors=[network]) as client:
        async with client.websocket(echo_server.url + "/headers") as ws:
            echoed_headers = (await ws.receive()).data
    # Application interceptors run before the bridge adds the handshake headers;
    # network interceptors see exactly what goes on the wire.
    assert seen["app_request_upgrade"] is None
    assert seen["net_upgrade"] == "websocket"
    assert seen["net_key"]
    assert seen["net_accept"]
    assert seen["app_status"] == 101
    assert "X-Token: secret" in echoed_headers
    assert "User-Agent: openwire/" in echoed_headers


async def test_an_interceptor_can_refuse_the_upgrade_without_a_network(
    ow_loop: BackgroundLoop,
) -> None:
    async def refuse(request: Request, chain: Chain) -> Response:
        return Response(403, headers=[("Content-Type", "text/plain")], content=b"not today")

    async with Client(interceptors=[refuse]) as client:
        with pytest.raises(UnexpectedStatus) as info:
            await client.new_websocket("ws://127.0.0.1:9/").execute()
    assert info.value.status == 403
    assert info.value.body == b"not today"


async def test_handshake_fires_the_http_events_then_websocket_open(
    echo_server: EchoServer, recorder_factory: Any, recorders: list[Recorder]
) -> None:
    async with Client(event_listener_factory=recorder_factory) as client:
        async with client.websocket(echo_server.url) as ws:
            await ws.send("x")
            await ws.receive()
    names = recorders[0].names
    expected = [
        "call_start",
        "connect_start",
        "connect_end",
        "connection_acquired",
        "request_headers_start",
        "request_headers_end",
        "response_headers_start",
        "response_headers_end",
        "call_end",
        "websocket_open",
        "websocket_message_sent",
        "websocket_message_received",
        "websocket_closing",
        "websocket_closed",
    ]
    assert [n for n in names if n in expected] == expected
    assert names.count("call_end") == 1
    assert "call_failed" not in names


async def test_websocket_through_a_real_proxy(echo_server: EchoServer, tinyproxy: Proxy) -> None:
    async with Client(proxy=tinyproxy.url) as client, client.websocket(echo_server.url) as ws:
        await ws.send("through the proxy")
        assert (await ws.receive()).data == "through the proxy"
    # The same call through a proxy that is not listening fails: the proxy is in the path.
    async with Client(proxy="http://127.0.0.1:9") as client:
        with pytest.raises(OpenWireError):
            await client.new_websocket(echo_server.url, handshake_timeout=5).execute()


@pytest.fixture(scope="module")
def wss_server(ow_loop: BackgroundLoop, ca: trustme.CA) -> Iterator[EchoServer]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    server = EchoServer(ow_loop, ssl_context=context).start()
    yield server
    server.stop()


async def test_wss_verifies_the_server_certificate(wss_server: EchoServer, ca: trustme.CA) -> None:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    url = wss_server.url.replace("ws://", "wss://")
    async with Client(verify=context) as client, client.websocket(url, engine="native") as ws:
        await ws.send(b"\x00" * 100_000)
        assert (await ws.receive()).data == b"\x00" * 100_000
        assert ws.response.http_version == "HTTP/1.1"
    async with Client() as client:  # certifi does not trust our test CA
        with pytest.raises(Exception, match="certificate"):
            await client.new_websocket(url).execute()


async def test_open_websockets_do_not_hold_pool_slots(echo_server: EchoServer) -> None:
    # After the 101 the socket belongs to the WebSocket, not to the pool:
    # more WebSockets than max_connections may be open at once.
    async with Client(limits=Limits(max_connections=2)) as client:
        sockets = [
            await client.new_websocket(echo_server.url, handshake_timeout=5).execute()
            for _ in range(5)
        ]
        for index, ws in enumerate(sockets):
            await ws.send(f"ws {index}")
            assert (await ws.receive()).data == f"ws {index}"
        for ws in sockets:
            await ws.close()
            assert ws.close_code == 1000


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("X-Token", "a\r\nX-Injected: 1"),
        ("X Token", "a"),
        ("X-Token", "a\x00b"),
        ("X-Token", "a "),
    ],
    ids=["crlf-in-value", "space-in-name", "nul-in-value", "trailing-space"],
)
async def test_headers_that_would_break_the_request_are_refused(
    echo_server: EchoServer, name: str, value: str
) -> None:
    async with Client() as client:
        # A ws:// Request works as well as a URL string.
        call = client.new_websocket(Request("GET", echo_server.url, headers={name: value}))
        with pytest.raises(HTTPProtocolError, match="cannot be sent as valid HTTP"):
            await call.execute()


async def test_wss_through_a_real_proxy_is_tunnelled_then_tls(
    wss_server: EchoServer,
    ca: trustme.CA,
    tinyproxy: Proxy,
    recorder_factory: Any,
    recorders: list[Recorder],
) -> None:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    url = wss_server.url.replace("ws://", "wss://")
    async with (
        Client(proxy=tinyproxy.url, verify=context, event_listener_factory=recorder_factory) as c,
        c.websocket(url) as ws,
    ):
        await ws.send("tunnelled")
        assert (await ws.receive()).data == "tunnelled"
    names = recorders[0].names
    assert recorders[0].args("connect_start") == ("127.0.0.1", tinyproxy.port)
    assert names.index("connect_end") < names.index("secure_connect_start")
    assert names.index("secure_connect_end") < names.index("request_headers_start")


async def test_websocket_through_a_real_socks5_proxy(
    echo_server: EchoServer,
    socks_proxy: Proxy,
    recorder_factory: Any,
    recorders: list[Recorder],
) -> None:
    async with (
        Client(proxy=socks_proxy.url, event_listener_factory=recorder_factory) as client,
        client.websocket(echo_server.url) as ws,
    ):
        await ws.send(b"via socks")
        assert (await ws.receive()).data == b"via socks"
    assert recorders[0].args("proxy_select_end")[1] == socks_proxy.url
    assert recorders[0].args("connect_start") == ("127.0.0.1", socks_proxy.port)


@pytest.mark.parametrize("tls", [False, True], ids=["ws", "wss"])
async def test_a_server_gone_while_an_interceptor_holds_the_101_is_noticed(
    ow_loop: BackgroundLoop, ca: trustme.CA, tls: bool
) -> None:
    # The peer's reset can reach the connection before the WebSocket owns
    # it; the WebSocket must still learn it is gone, and close() must end.
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        match = re.search(rb"(?i)sec-websocket-key: *(\S+)", head)
        assert match is not None
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: "
            + accept_key(match[1].decode()).encode()
            + b"\r\n\r\n"
            + frame(0x1, b"hello")
        )
        await writer.drain()
        writer.transport.abort()

    server_ssl = None
    client_ssl = ssl.create_default_context()
    if tls:
        server_ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1").configure_cert(server_ssl)
        ca.configure_trust(client_ssl)
    server = ow_loop.run(asyncio.start_server(handler, "127.0.0.1", 0, ssl=server_ssl))
    port = server.sockets[0].getsockname()[1]

    async def hold(request: Request, chain: Chain) -> Response:
        response = await chain.proceed(request)
        await anyio.sleep(0.3)  # e.g. an audit log written before returning
        return response

    try:
        async with Client(verify=client_ssl, network_interceptors=[hold]) as client:
            url = f"{'wss' if tls else 'ws'}://127.0.0.1:{port}/"
            ws = await client.new_websocket(url, close_timeout=0.5).execute()
            with anyio.fail_after(5):
                assert (await ws.receive()).data == "hello"
                with pytest.raises(ConnectionClosedError):
                    await ws.receive()
                await ws.close()
            assert ws.close_code == 1006
    finally:
        server.close()


def silent_after_accept(heads: list[bytes]) -> Handler:
    async def handler(
        index: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        heads.append(await reader.read(1024))  # a TLS ClientHello; answer nothing
        await asyncio.sleep(3)

    return handler


async def test_a_tls_handshake_that_never_ends_is_a_connect_timeout(
    raw_server: Callable[[Handler], RawServer],
) -> None:
    heads: list[bytes] = []
    server = raw_server(silent_after_accept(heads))
    url = server.url.replace("http://", "wss://")
    async with Client(timeouts=Timeouts(connect=0.3)) as client:
        with anyio.fail_after(5), pytest.raises(ConnectTimeout):
            await client.new_websocket(url).execute()
        with anyio.fail_after(5), pytest.raises(ConnectTimeout):
            await client.get(server.url.replace("http://", "https://"))
    assert heads and heads[0][:1] == b"\x16"  # a TLS handshake record did go out


def dropping_connect(heads: list[bytes]) -> Handler:
    async def handler(
        index: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        heads.append(await read_request_head(reader))
        writer.close()  # a proxy that gives up on the tunnel without answering

    return handler


async def test_a_proxy_dropping_the_connect_is_a_proxy_error(
    raw_server: Callable[[Handler], RawServer], echo_server: EchoServer
) -> None:
    heads: list[bytes] = []
    proxy = raw_server(dropping_connect(heads))
    async with Client(proxy=proxy.url) as client:
        with anyio.fail_after(5), pytest.raises(ProxyError, match="proxy"):
            await client.new_websocket(echo_server.url).execute()
    assert heads[0].startswith(b"CONNECT 127.0.0.1:")


def unanswering_websocket(ended: list[float]) -> Handler:
    """Accepts the upgrade, then never answers Close; notes when the client's TCP ends."""

    async def handler(
        index: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        head = await read_request_head(reader)
        match = re.search(rb"(?i)sec-websocket-key: *(\S+)", head)
        assert match is not None
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept_key(match[1].decode()).encode() + b"\r\n\r\n"
        )
        with contextlib.suppress(ConnectionError):
            while await reader.read(65536):
                pass
        ended.append(time.monotonic())

    return handler


async def test_a_cancelled_close_releases_the_socket(
    raw_server: Callable[[Handler], RawServer],
) -> None:
    # close() waits up to close_timeout for a peer that never answers; a caller
    # that stops waiting sooner must not leave the socket open behind it (its
    # event loop may well close first).
    ended: list[float] = []
    server = raw_server(unanswering_websocket(ended))
    async with Client() as client:
        ws = await client.new_websocket(
            server.url.replace("http://", "ws://"), ping_interval=None, close_timeout=10
        ).execute()
        with anyio.move_on_after(0.3) as scope:
            await ws.close()
        assert scope.cancelled_caught
        cancelled = time.monotonic()
        for _ in range(200):
            if ended:
                break
            await anyio.sleep(0.01)
    assert ended and ended[0] - cancelled < 2
