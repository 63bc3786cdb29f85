"""Proxies through a real tinyproxy: explicit, from the environment, and NO_PROXY."""

from __future__ import annotations

import ssl
from collections.abc import Callable

import pytest
from openwire import Client, ConnectError, ProxyError
from openwire.http.proxies import NoProxy, ProxySelector
from openwire.http.tunnels import ProxyRoute
from openwire.http.url import URL

from tests.http_peers import Proxy, Recorder, Server, free_port

pytestmark = pytest.mark.anyio


def via(payload: dict[str, list[list[str]]]) -> list[str]:
    return [v for k, v in payload["headers"] if k == "via"]


async def test_explicit_proxy_forwards_http(http_server: Server, tinyproxy: Proxy) -> None:
    async with Client(proxy=tinyproxy.url) as client:
        response = await client.get(f"{http_server.url}/echo")
    assert response.status == 200
    assert any("tinyproxy" in v for v in via(await response.json()))


async def test_https_is_tunnelled(
    https_server: Server,
    tinyproxy: Proxy,
    client_ssl: ssl.SSLContext,
    recorder_factory: Callable[[], Recorder],
    recorders: list[Recorder],
) -> None:
    async with Client(
        proxy=tinyproxy.url, verify=client_ssl, event_listener_factory=recorder_factory
    ) as client:
        response = await client.get(f"{https_server.url}/echo")
    assert response.status == 200
    assert via(await response.json()) == []  # end-to-end TLS: the proxy cannot add headers
    recorder = recorders[0]
    assert recorder.args("proxy_select_end")[1] == tinyproxy.url
    assert recorder.args("connect_start") == ("127.0.0.1", tinyproxy.port)
    assert recorder.names.count("request_headers_start") == 1  # the CONNECT is not reported


async def test_env_proxy_and_no_proxy(
    http_server: Server, tinyproxy: Proxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", tinyproxy.url)
    async with Client() as client:
        proxied = await client.get(f"{http_server.url}/echo")
    assert via(await proxied.json())

    monkeypatch.setenv("NO_PROXY", "example.com,127.0.0.1")
    async with Client() as client:
        direct = await client.get(f"{http_server.url}/echo")
    assert via(await direct.json()) == []

    monkeypatch.delenv("NO_PROXY")
    async with Client(trust_env=False) as client:
        ignored = await client.get(f"{http_server.url}/echo")
    assert via(await ignored.json()) == []


async def test_unreachable_proxy_is_a_connect_error() -> None:
    port = free_port()
    async with Client(proxy=f"http://127.0.0.1:{port}") as client:
        with pytest.raises(ConnectError) as info:
            await client.get("https://example.invalid/")
    assert f"via proxy http://127.0.0.1:{port}" in str(info.value)
    assert info.value.request is not None


async def test_proxy_refusal_is_a_proxy_error(tinyproxy: Proxy) -> None:
    # tinyproxy cannot resolve the target, so the CONNECT fails.
    async with Client(proxy=tinyproxy.url) as client:
        with pytest.raises(ProxyError):
            await client.get("https://no-such-host.invalid/")


def test_selector_reads_lowercase_first_and_all_proxy() -> None:
    env = {
        "http_proxy": "http://lower:1",
        "HTTP_PROXY": "http://upper:1",
        "ALL_PROXY": "socks5://all:1080",
        "no_proxy": ".internal, 10.0.0.0/8, localhost:8080",
    }
    selector = ProxySelector(environ=env)
    assert str(selector.select(URL("http://a.com/"))) == "http://lower:1/"
    assert str(selector.select(URL("https://a.com/"))) == "socks5://all:1080/"
    assert selector.select(URL("http://db.internal/")) is None
    assert selector.select(URL("http://10.1.2.3/")) is None
    assert selector.select(URL("http://localhost:8080/")) is None
    assert selector.select(URL("http://localhost:9090/")) is not None
    assert ProxySelector("http://explicit:3128", environ=env).select(URL("http://db.internal/"))


def test_no_proxy_rules() -> None:
    rules = NoProxy.parse("example.com,[::1]")
    assert rules.matches(URL("http://example.com/"))
    assert rules.matches(URL("http://www.example.com/"))
    assert not rules.matches(URL("http://notexample.com/"))
    assert rules.matches(URL("http://[::1]:8080/"))
    assert NoProxy.parse("*").matches(URL("http://anything/"))


async def test_http_through_a_real_socks5_proxy(http_server: Server, socks_proxy: Proxy) -> None:
    async with Client(proxy=socks_proxy.url) as client:
        response = await client.get(f"{http_server.url}/echo")
    assert response.status == 200
    assert via(await response.json()) == []  # SOCKS relays bytes; it adds no header


@pytest.mark.parametrize(
    ("proxy", "address"),
    [
        ("socks5://127.0.0.1", "127.0.0.1:1080"),
        ("socks5h://proxy.internal", "proxy.internal:1080"),
        ("http://proxy.internal", "proxy.internal:80"),
        ("https://proxy.internal", "proxy.internal:443"),
        ("socks5://127.0.0.1:9050", "127.0.0.1:9050"),
    ],
)
def test_a_proxy_url_without_a_port_gets_its_schemes_default(proxy: str, address: str) -> None:
    # socks5 is not a URL scheme with a default port of its own: 1080 (RFC 1928 §3).
    assert ProxyRoute.from_url(URL(proxy)).address == address
