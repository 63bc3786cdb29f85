"""The cookie jar: off by default, RFC 6265 via http.cookiejar when configured."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from openwire import Client, MemoryCookieJar

from tests.http_peers import Handler, RawServer, Server, read_request_head

pytestmark = pytest.mark.anyio


def cookie_header(payload: dict[str, list[list[str]]]) -> list[str]:
    return [v for k, v in payload["headers"] if k == "cookie"]


async def test_jar_stores_and_sends(http_server: Server) -> None:
    jar = MemoryCookieJar()
    async with Client(cookie_jar=jar) as client:
        await client.get(f"{http_server.url}/set-cookie?session=abc&theme=dark")
        echoed = await client.get(f"{http_server.url}/echo")
    assert len(jar) == 2
    sent = cookie_header(await echoed.json())
    assert len(sent) == 1
    assert sorted(sent[0].split("; ")) == ["session=abc", "theme=dark"]


async def test_cookies_set_during_redirect_are_sent_on_the_next_hop(http_server: Server) -> None:
    jar = MemoryCookieJar()
    async with Client(cookie_jar=jar) as client:
        await client.get(f"{http_server.url}/set-cookie?a=1")
        echoed = await client.get(f"{http_server.url}/redirect/302?to=/echo")
    assert cookie_header(await echoed.json()) == ["a=1"]


async def test_no_jar_no_cookies(http_server: Server) -> None:
    async with Client() as client:
        await client.get(f"{http_server.url}/set-cookie?session=abc")
        echoed = await client.get(f"{http_server.url}/echo")
    assert cookie_header(await echoed.json()) == []


def cookie_setting_proxy(heads: list[bytes]) -> Handler:
    """A forwarding proxy that plays every origin: ``/set`` sets two cookies, the rest records."""

    async def handler(
        index: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        head = await read_request_head(reader)
        heads.append(head)
        cookies = b""
        if head.split(b" ", 2)[1].endswith(b"/set"):
            cookies = b"Set-Cookie: host=1; Path=/\r\nSet-Cookie: dom=1; Domain=example.com\r\n"
        writer.write(
            b"HTTP/1.1 200 OK\r\n" + cookies + b"Content-Length: 2\r\nConnection: close\r\n\r\nok"
        )
        await writer.drain()

    return handler


async def test_a_cookie_without_domain_goes_back_to_its_host_only(
    raw_server: Callable[[Handler], RawServer],
) -> None:
    heads: list[bytes] = []
    proxy = raw_server(cookie_setting_proxy(heads))
    async with Client(proxy=proxy.url, cookie_jar=MemoryCookieJar()) as client:
        await client.get("http://example.com/set")
        await client.get("http://example.com/again")
        await client.get("http://sub.example.com/")

    def cookie(head: bytes) -> list[bytes]:
        return [line for line in head.split(b"\r\n") if line.lower().startswith(b"cookie:")]

    assert sorted(cookie(heads[1])[0][8:].split(b"; ")) == [b"dom=1", b"host=1"]
    assert cookie(heads[2]) == [b"Cookie: dom=1"]  # Domain=example.com reaches subdomains
