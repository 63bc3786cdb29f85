"""A ws:// URL stays ws:// in errors, events and what interceptors see; the transport dials http."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from openwire import (
    Client,
    EventListener,
    MemoryCookieJar,
    Request,
    RequestError,
    Response,
    UnexpectedStatus,
)
from openwire.http.url import URL

from tests.http_peers import RawServer, read_request_head

pytestmark = pytest.mark.anyio


class Seen(EventListener):
    def __init__(self) -> None:
        self.urls: list[str] = []

    def call_start(self, request: Request) -> None:
        self.urls.append(f"call_start {request.url}")

    def proxy_select_start(self, url: str) -> None:
        self.urls.append(f"proxy_select_start {url}")

    def request_headers_start(self, request: Request) -> None:
        self.urls.append(f"request_headers_start {request.url}")

    def call_failed(self, request: Request, error: BaseException) -> None:
        self.urls.append(f"call_failed {request.url}")

    def websocket_open(self, response: Response) -> None:
        assert response.request is not None
        self.urls.append(f"websocket_open {response.request.url}")


def _refusing(raw_server: Any) -> RawServer:
    async def refuse(
        index: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await read_request_head(reader)
        writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\nnope")
        await writer.drain()

    return raw_server(refuse)  # type: ignore[no-any-return]


async def test_a_refused_handshake_names_the_ws_url_everywhere(raw_server: Any) -> None:
    server = _refusing(raw_server)
    url = server.url.replace("http://", "ws://") + "/chat?room=1"
    listener = Seen()
    intercepted: list[str] = []

    async def look(request: Request, chain: Any) -> Response:
        intercepted.append(str(request.url))
        return await chain.proceed(request)

    async with Client(
        interceptors=[look], network_interceptors=[look], event_listener_factory=lambda: listener
    ) as client:
        with pytest.raises(UnexpectedStatus) as info:
            await client.new_websocket(url).execute()
    assert f"to {url}" in str(info.value)
    assert "404" in str(info.value)
    assert intercepted == [url, url]
    assert listener.urls == [
        f"call_start {url}",
        f"proxy_select_start {url}",
        f"request_headers_start {url}",
        f"call_failed {url}",
    ]
    assert not any("http://" in line for line in listener.urls)


async def test_an_open_websocket_keeps_the_url_as_written(echo_server: Any) -> None:
    listener = Seen()
    url = f"{echo_server.url}/room"
    assert url.startswith("ws://")
    async with (
        Client(event_listener_factory=lambda: listener) as client,
        client.websocket(url) as ws,
    ):
        await ws.send("hi")
        assert (await ws.receive()).data == "hi"
        assert ws.url == url
    assert listener.urls[-1] == f"websocket_open {url}"


async def test_a_plain_call_to_a_ws_url_is_refused_by_its_url(raw_server: Any) -> None:
    server = _refusing(raw_server)
    port = URL(server.url).port
    raw_server_url = f"ws://127.0.0.1:{port}/x"
    async with Client() as client:
        # A plain HTTP call to a ws:// URL is refused by name, pointing to client.websocket().
        with pytest.raises(RequestError, match=r"client\.websocket") as info:
            await client.get(raw_server_url)
    assert str(info.value.request.url) == raw_server_url  # type: ignore[union-attr]


def test_the_wire_scheme_and_the_origin() -> None:
    assert URL("ws://h/a").wire_scheme == "http"
    assert URL("wss://h/a").wire_scheme == "https"
    assert URL("https://h/a").wire_scheme == "https"
    assert URL("ws://h/a").origin == URL("http://h:80/b").origin
    assert URL("wss://h/a").origin != URL("ws://h/a").origin
    assert str(URL("ws://h:80/a").with_scheme("https")) == "https://h:80/a"
    assert str(URL("wss://u:p@[::1]/a?b").with_scheme("https")) == "https://u:p@[::1]/a?b"


def test_a_secure_cookie_set_for_https_goes_to_wss() -> None:
    jar = MemoryCookieJar()
    jar.save(
        Request("GET", "https://example.org/"),
        Response(200, headers=[("Set-Cookie", "s=1; Secure; Path=/")]),
    )
    assert jar.cookie_header(Request("GET", "wss://example.org/chat")) == "s=1"
    assert jar.cookie_header(Request("GET", "ws://example.org/chat")) is None
