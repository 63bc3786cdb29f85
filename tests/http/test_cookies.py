"""The cookie jar: off by default, RFC 6265 via http.cookiejar when configured."""

from __future__ import annotations

import pytest
from openwire import Client, MemoryCookieJar

from tests.http_peers import Server

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
