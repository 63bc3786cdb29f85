"""Internationalised host names go on the wire in their ASCII form (RFC 9110 §4.2.1, RFC 5890)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from openwire import Client
from openwire.http.url import URL

from tests.http_peers import Handler, RawServer, read_request_head

pytestmark = pytest.mark.anyio


def recording_proxy(heads: list[bytes]) -> Handler:
    """A forwarding proxy that answers every request itself, after noting its head."""

    async def handler(
        index: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        heads.append(await read_request_head(reader))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        await writer.drain()

    return handler


@pytest.mark.parametrize(
    ("url", "ascii_host"),
    [
        ("http://bücher.example/", "xn--bcher-kva.example"),
        ("http://例え.jp:8080/x", "xn--r8jz45g.jp:8080"),
        ("http://BÜCHER.example/", "xn--bcher-kva.example"),  # mapped to lower case first
    ],
)
async def test_request_line_and_host_carry_the_ascii_form(
    raw_server: Callable[[Handler], RawServer], url: str, ascii_host: str
) -> None:
    heads: list[bytes] = []
    proxy = raw_server(recording_proxy(heads))
    async with Client(proxy=proxy.url) as client:
        response = await client.get(url)
    assert response.status == 200
    request_line, *fields = heads[0].decode("ascii").split("\r\n")
    name = ascii_host.partition(":")[0]
    # httpcore writes the absolute form with the port, default or not.
    assert request_line.startswith(f"GET http://{name}:"), request_line
    assert f"Host: {ascii_host}" in fields


def test_a_host_that_is_not_valid_idna_is_refused_up_front() -> None:
    with pytest.raises(ValueError, match="not valid IDNA"):
        URL("http://a\u200db.example/")  # a joiner outside a context that allows it


@pytest.mark.parametrize("url", ["http://bad host/", "http://a<b.example/", 'http://a"b.example/'])
def test_a_host_with_characters_no_host_may_have_is_refused_up_front(url: str) -> None:
    with pytest.raises(ValueError, match="invalid host"):
        URL(url)


@pytest.mark.parametrize(
    ("url", "netloc"),
    [
        ("http://[::1]:8080/", "[::1]:8080"),
        ("http://[fe80::1%25eth0]/", "[fe80::1%25eth0]"),
        ("http://under_score.example/", "under_score.example"),
        ("http://127.0.0.1/", "127.0.0.1"),
    ],
)
def test_names_and_ip_literals_are_accepted(url: str, netloc: str) -> None:
    assert URL(url).netloc == netloc
