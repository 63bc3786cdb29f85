"""Redirects of the opening handshake, against real aiohttp servers.

Each server answers ``/redirect/<code>?to=<Location>`` with that status, ``/loop``
with a 302 to itself, and ``/ws`` with a WebSocket whose first message is the
request it received (path and headers, as JSON); then it echoes. Two plain
servers are two origins; a third speaks TLS. The handshake is engine-independent
(the follow-ups run before any engine is involved), so one engine suffices here;
``tests/conformance/test_handshake.py`` runs a redirect on every engine.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
import trustme
from openwire import (
    Client,
    RedirectRefused,
    Request,
    Response,
    TooManyRedirects,
    UnexpectedStatus,
)
from openwire.http.chain import Chain
from openwire.testing.servers import BackgroundLoop

from tests.http_peers import Recorder

pytestmark = pytest.mark.anyio


@dataclass
class Peer:
    """One aiohttp server: ``ws`` is its ws:// (or wss://) base, ``http`` the same in http."""

    ws: str
    http: str
    runner: Any

    def redirect(self, code: int, to: str) -> str:
        return f"{self.ws}/redirect/{code}?to={quote(to, safe='')}"


async def _handle_ws(request: Any) -> Any:
    from aiohttp import WSMsgType, web

    ws = web.WebSocketResponse()
    await ws.prepare(request)
    await ws.send_str(
        json.dumps({"path": request.path_qs, "headers": list(request.headers.items())})
    )
    async for message in ws:
        if message.type == WSMsgType.TEXT:
            await ws.send_str(message.data)
    return ws


async def _handle_redirect(request: Any) -> Any:
    from aiohttp import web

    code = int(request.match_info["code"])
    return web.Response(status=code, headers={"Location": request.query["to"]}, text="moved")


async def _handle_loop(request: Any) -> Any:
    from aiohttp import web

    return web.Response(status=302, headers={"Location": "/loop"})


def _start(loop: BackgroundLoop, context: ssl.SSLContext | None = None) -> Peer:
    from aiohttp import web

    async def start() -> Peer:
        app = web.Application()
        app.router.add_get("/ws", _handle_ws)
        app.router.add_get("/redirect/{code}", _handle_redirect)
        app.router.add_get("/loop", _handle_loop)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        secure = "s" if context is not None else ""
        return Peer(f"ws{secure}://127.0.0.1:{port}", f"http{secure}://127.0.0.1:{port}", runner)

    return loop.run(start())


@pytest.fixture(scope="module")
def peers(ow_loop: BackgroundLoop, ca: trustme.CA) -> Iterator[tuple[Peer, Peer, Peer]]:
    """(first origin, second origin, TLS origin)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    started = (_start(ow_loop), _start(ow_loop), _start(ow_loop, context))
    yield started
    for peer in started:
        ow_loop.run(peer.runner.cleanup())


@pytest.fixture
def trust(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


def _headers(hello: object) -> dict[str, str]:
    assert isinstance(hello, str)
    return {name.lower(): value for name, value in json.loads(hello)["headers"]}


def _path(hello: object) -> str:
    assert isinstance(hello, str)
    return str(json.loads(hello)["path"])


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
async def test_each_redirect_status_is_followed_to_a_relative_location(
    peers: tuple[Peer, Peer, Peer], code: int
) -> None:
    first = peers[0]
    async with Client() as client, client.websocket(first.redirect(code, "/ws?x=1")) as ws:
        hello = (await ws.receive()).data
        await ws.send("still here")
        assert (await ws.receive()).data == "still here"
        landed = ws.response.request
    assert _path(hello) == "/ws?x=1"
    assert landed is not None
    assert str(landed.url) == f"{first.ws}/ws?x=1"  # the scheme the call was written in
    assert ws.response.status == 101


@pytest.mark.parametrize("scheme", ["ws", "http"])
async def test_an_absolute_location_may_be_ws_or_http(
    peers: tuple[Peer, Peer, Peer], scheme: str
) -> None:
    first, second, _ = peers
    target = f"{scheme}://{second.http.split('://')[1]}/ws"
    async with Client() as client, client.websocket(first.redirect(302, target)) as ws:
        hello = (await ws.receive()).data
        assert ws.response.request is not None
        assert str(ws.response.request.url) == f"{second.ws}/ws"  # ws://, whatever the Location
        assert ws.url == f"{second.ws}/ws"
    assert _path(hello) == "/ws"


async def test_credentials_stay_within_the_origin(peers: tuple[Peer, Peer, Peer]) -> None:
    first, second, _ = peers
    secret = {
        "Authorization": "Bearer secret",
        "Cookie": "session=secret",
        "Proxy-Authorization": "Basic c2VjcmV0",
        "X-Public": "kept",
    }
    async with Client(headers={"X-Client": "kept"}) as client:
        async with client.websocket(first.redirect(307, "/ws"), headers=secret) as ws:
            same = _headers((await ws.receive()).data)
        cross = first.redirect(308, f"{second.ws}/ws")
        async with client.websocket(cross, headers=secret) as ws:
            other = _headers((await ws.receive()).data)
    assert same["authorization"] == "Bearer secret"
    assert same["cookie"] == "session=secret"
    assert same["proxy-authorization"] == "Basic c2VjcmV0"
    for name in ("authorization", "cookie", "proxy-authorization"):
        assert name not in other, f"{name} must not follow a redirect to another origin"
    assert other["x-public"] == "kept"
    assert other["x-client"] == "kept"
    assert other["host"] == second.http.split("://")[1]


async def test_client_wide_credentials_are_not_restored_after_leaving_the_origin(
    peers: tuple[Peer, Peer, Peer],
) -> None:
    first, second, _ = peers
    # first → second → back to first: the last hop gets no credentials either.
    back = first.redirect(302, f"{second.ws}/redirect/302?to={quote(first.ws + '/ws', safe='')}")
    async with (
        Client(headers={"Authorization": "Bearer client-wide"}) as client,
        client.websocket(back) as ws,
    ):
        hello = (await ws.receive()).data
        assert ws.response.request is not None
        assert ws.response.request.url.origin == (
            "http",
            "127.0.0.1",
            int(first.http.split(":")[2]),
        )
    assert "authorization" not in _headers(hello)


@pytest.mark.parametrize("scheme", ["wss", "https"])
async def test_ws_to_wss_is_followed(
    peers: tuple[Peer, Peer, Peer], trust: ssl.SSLContext, scheme: str
) -> None:
    first, _, secure = peers
    target = f"{scheme}://{secure.http.split('://')[1]}/ws"
    async with (
        Client(verify=trust) as client,
        client.websocket(first.redirect(301, target), headers={"Authorization": "x"}) as ws,
    ):
        hello = (await ws.receive()).data
        assert ws.response.request is not None
        assert ws.response.request.url.scheme == "wss"
    # Another scheme is another origin: the credentials stayed behind.
    assert "authorization" not in _headers(hello)


async def test_wss_to_ws_is_refused_unless_allowed(
    peers: tuple[Peer, Peer, Peer], trust: ssl.SSLContext
) -> None:
    first, _, secure = peers
    url = secure.redirect(302, f"{first.ws}/ws")
    async with Client(verify=trust) as client:
        with pytest.raises(RedirectRefused, match="allow_insecure_redirects") as info:
            await client.new_websocket(url).execute()
    assert info.value.request is not None
    assert info.value.request.url.scheme == "wss"  # as written, never reported as https
    async with (
        Client(verify=trust, allow_insecure_redirects=True) as client,
        client.websocket(url) as ws,
    ):
        assert _path((await ws.receive()).data) == "/ws"


async def test_a_loop_ends_in_too_many_redirects(peers: tuple[Peer, Peer, Peer]) -> None:
    first = peers[0]
    hops: list[str] = []

    async def count(request: Request, chain: Chain) -> Response:
        hops.append(request.url.path)
        return await chain.proceed(request)

    async with Client(network_interceptors=[count]) as client:
        with pytest.raises(TooManyRedirects, match="more than 3 times") as info:
            await client.new_websocket(f"{first.ws}/loop", max_redirects=3).execute()
    assert hops == ["/loop"] * 4
    assert info.value.request is not None


async def test_max_redirects_per_call_overrides_the_client(peers: tuple[Peer, Peer, Peer]) -> None:
    first = peers[0]
    two_hops = first.redirect(302, f"/redirect/302?to={quote('/ws', safe='')}")
    async with Client(max_redirects=1) as client:
        with pytest.raises(TooManyRedirects):
            await client.new_websocket(two_hops).execute()
        async with client.websocket(two_hops, max_redirects=2) as ws:
            assert _path((await ws.receive()).data) == "/ws"


async def test_follow_redirects_false_reports_the_3xx(peers: tuple[Peer, Peer, Peer]) -> None:
    first = peers[0]
    url = first.redirect(302, "/ws")
    async with Client() as client:
        with pytest.raises(UnexpectedStatus) as info:
            await client.new_websocket(url, follow_redirects=False).execute()
    assert info.value.status == 302
    assert ("Location", "/ws") in info.value.headers
    assert info.value.body == b"moved"
    assert "follow_redirects=False" in str(info.value)
    async with Client(follow_redirects=False) as client:
        with pytest.raises(UnexpectedStatus):
            await client.new_websocket(url).execute()
        # ... and a call may turn them back on.
        async with client.websocket(url, follow_redirects=True) as ws:
            assert _path((await ws.receive()).data) == "/ws"


async def test_a_location_that_is_not_http_or_ws_is_reported(
    peers: tuple[Peer, Peer, Peer],
) -> None:
    async with Client() as client:
        with pytest.raises(UnexpectedStatus, match="ftp://") as info:
            await client.new_websocket(peers[0].redirect(302, "ftp://127.0.0.1/ws")).execute()
    assert info.value.status == 302


async def test_each_hop_is_a_fresh_get_handshake_seen_by_network_interceptors(
    peers: tuple[Peer, Peer, Peer],
) -> None:
    first = peers[0]
    application: list[str] = []
    network: list[tuple[str, str, str | None, str | None]] = []

    async def outer(request: Request, chain: Chain) -> Response:
        application.append(request.url.path)
        return await chain.proceed(request)

    async def wire(request: Request, chain: Chain) -> Response:
        network.append(
            (
                request.method,
                request.url.path,
                request.headers.get("Sec-WebSocket-Key"),
                request.headers.get("Upgrade"),
            )
        )
        return await chain.proceed(request)

    async with (
        Client(interceptors=[outer], network_interceptors=[wire]) as client,
        client.websocket(first.redirect(303, "/ws"), subprotocols=[]) as ws,
    ):
        await ws.receive()
    assert application == ["/redirect/303"]  # application interceptors see the call once
    assert [(method, path, upgrade) for method, path, _, upgrade in network] == [
        ("GET", "/redirect/303", "websocket"),
        ("GET", "/ws", "websocket"),
    ]
    keys = [key for _, _, key, _ in network]
    assert None not in keys
    assert len(set(keys)) == 2, "each hop must carry a key of its own"


async def test_events_repeat_the_http_block_per_hop_then_open(
    peers: tuple[Peer, Peer, Peer], recorder_factory: Any, recorders: list[Recorder]
) -> None:
    first = peers[0]
    async with (
        Client(event_listener_factory=recorder_factory) as client,
        client.websocket(first.redirect(302, "/ws")) as ws,
    ):
        await ws.receive()
    events = recorders[0].events
    names = [name for name, _ in events]
    hop = [
        "proxy_select_start",
        "proxy_select_end",
        "connect_start",
        "connect_end",
        "connection_acquired",
        "request_headers_start",
        "request_headers_end",
        "response_headers_start",
        "response_headers_end",
    ]
    # The 302 is closed unread (an upgrade connection is never reused), so
    # its block ends with the release and no body events.
    expected = ["call_start", *hop, "connection_released", *hop, "call_end", "websocket_open"]
    assert names[: len(expected)] == expected
    heads = [args[0] for name, args in events if name == "response_headers_end"]
    assert heads == ["<Response [302 Found]>", "<Response [101 Switching Protocols]>"]
    sent = [args[0] for name, args in events if name == "request_headers_start"]
    assert [request.url.path for request in sent] == ["/redirect/302", "/ws"]  # type: ignore[attr-defined]
    assert "call_failed" not in names
