"""Refused proxy credentials are a ProxyAuthError on every path that opens a tunnel.

Real proxies on loopback (tests/proxy_peers.py): squid answers a wrong or
missing password on ``CONNECT`` with 407, tinyproxy with 401 (407 when none
was sent), microsocks with an RFC 1929 status other than 0. A proxy that is
down or broken must stay a ConnectError / ProxyError, never a ProxyAuthError:
the remedy differs (new credentials versus retrying later).
"""

from __future__ import annotations

import asyncio
import base64
import ssl
from collections.abc import Callable

import pytest
from openwire import (
    Client,
    ConnectError,
    ProxyAuthError,
    ProxyError,
    Request,
    Response,
)
from openwire.testing.servers import EchoServer

from tests.http_peers import Handler, Proxy, RawServer, Recorder, Server, free_port
from tests.proxy_peers import PROXY_PASSWORD, PROXY_USER, with_credentials

pytestmark = pytest.mark.anyio

HTTP_PROXIES = ["squid_with_auth", "tinyproxy_with_auth"]
# What each proxy answers to a CONNECT with a wrong password.
WRONG_PASSWORD_STATUS = {"squid_with_auth": 407, "tinyproxy_with_auth": 401}


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


@pytest.fixture(params=HTTP_PROXIES)
def http_proxy(request: pytest.FixtureRequest) -> tuple[str, Proxy]:
    return request.param, request.getfixturevalue(request.param)


def wss(origin: EchoServer) -> str:
    return origin.url.replace("ws://", "wss://")


# ------------------------------------------------------------- plain HTTP calls


async def test_https_through_a_proxy_refusing_the_password_is_a_proxy_auth_error(
    http_proxy: tuple[str, Proxy], https_server: Server, client_ssl: ssl.SSLContext
) -> None:
    name, proxy = http_proxy
    async with Client(proxy=with_credentials(proxy, password="wrong"), verify=client_ssl) as c:
        with pytest.raises(ProxyAuthError) as info:
            await c.get(f"{https_server.url}/echo")
    error = info.value
    assert error.status == WRONG_PASSWORD_STATUS[name]
    assert error.socks_reply is None
    assert error.request is not None and error.request.url.port == https_server.port
    assert f"the proxy 127.0.0.1:{proxy.port} refused the credentials for CONNECT" in str(error)
    assert "proxy URL" in str(error)


async def test_https_through_a_proxy_without_credentials_says_what_to_set(
    squid_with_auth: Proxy, https_server: Server, client_ssl: ssl.SSLContext
) -> None:
    async with Client(proxy=squid_with_auth.url, verify=client_ssl) as client:
        with pytest.raises(ProxyAuthError) as info:
            await client.get(f"{https_server.url}/echo")
    assert info.value.status == 407
    assert "wants credentials" in str(info.value)
    assert "set proxy_authenticator or put user:password in the proxy URL" in str(info.value)


async def test_https_through_a_proxy_with_the_right_password_works(
    http_proxy: tuple[str, Proxy], https_server: Server, client_ssl: ssl.SSLContext
) -> None:
    _, proxy = http_proxy
    async with Client(proxy=with_credentials(proxy), verify=client_ssl) as client:
        response = await client.get(f"{https_server.url}/echo")
        again = await client.get(f"{https_server.url}/echo")  # the tunnel is kept alive
    assert (response.status, again.status) == (200, 200)


@pytest.mark.parametrize("scheme", ["http", "https"])
async def test_socks5_refusing_the_password_is_a_proxy_auth_error_with_the_reply(
    scheme: str,
    socks_proxy_with_auth: Proxy,
    http_server: Server,
    https_server: Server,
    client_ssl: ssl.SSLContext,
) -> None:
    origin = http_server if scheme == "http" else https_server
    proxy = with_credentials(socks_proxy_with_auth, password="wrong")
    async with Client(proxy=proxy, verify=client_ssl) as client:
        with pytest.raises(ProxyAuthError) as info:
            await client.get(f"{origin.url}/echo")
    assert info.value.status is None
    assert isinstance(info.value.socks_reply, int) and info.value.socks_reply != 0
    assert info.value.request is not None
    assert "RFC 1929 status" in str(info.value)


async def test_socks5_without_credentials_at_a_proxy_wanting_them_is_a_proxy_auth_error(
    socks_proxy_with_auth: Proxy, http_server: Server
) -> None:
    async with Client(proxy=socks_proxy_with_auth.url) as client:
        with pytest.raises(ProxyAuthError, match="put user:password in the proxy URL"):
            await client.get(f"{http_server.url}/echo")


@pytest.mark.parametrize("scheme", ["http", "https"])
async def test_socks5_with_the_right_password_works(
    scheme: str,
    socks_proxy_with_auth: Proxy,
    http_server: Server,
    https_server: Server,
    client_ssl: ssl.SSLContext,
) -> None:
    origin = http_server if scheme == "http" else https_server
    async with Client(proxy=with_credentials(socks_proxy_with_auth), verify=client_ssl) as c:
        response = await c.get(f"{origin.url}/echo")
    assert response.status == 200


def socks5_refusing_with(status: int) -> Handler:
    """A SOCKS5 server that asks for RFC 1929 login and answers it with ``status``."""

    async def handler(
        index: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        greeting = await reader.readexactly(2)
        await reader.readexactly(greeting[1])
        writer.write(b"\x05\x02")  # username/password
        version, user_length = await reader.readexactly(2)
        await reader.readexactly(user_length)
        await reader.readexactly((await reader.readexactly(1))[0])
        writer.write(bytes([version, status]))
        await writer.drain()

    return handler


async def test_the_socks_reply_is_the_status_byte_the_proxy_sent(
    raw_server: Callable[[Handler], RawServer],
) -> None:
    server = raw_server(socks5_refusing_with(0x7F))
    proxy = server.url.replace("http://", f"socks5://{PROXY_USER}:wrong@")
    async with Client(proxy=proxy) as client:
        with pytest.raises(ProxyAuthError) as info:
            await client.get("http://origin.invalid/")
    assert info.value.socks_reply == 0x7F


# --------------------------------------------------------- proxy_authenticator


async def test_proxy_authenticator_answers_the_connect_challenge(
    http_proxy: tuple[str, Proxy], https_server: Server, client_ssl: ssl.SSLContext
) -> None:
    _, proxy = http_proxy
    seen: list[Response] = []

    async def authenticate(response: Response) -> Request | None:
        seen.append(response)
        assert response.request is not None
        headers = [*response.request.headers.items()]
        headers.append(("Proxy-Authorization", basic(PROXY_USER, PROXY_PASSWORD)))
        return response.request.replace(headers=headers)

    async with Client(
        proxy=proxy.url, verify=client_ssl, proxy_authenticator=authenticate
    ) as client:
        response = await client.get(f"{https_server.url}/echo")
    assert response.status == 200
    assert len(seen) == 1
    challenge = seen[0]
    assert challenge.status == 407  # no credentials were sent the first time
    assert challenge.request is not None and challenge.request.method == "CONNECT"
    assert challenge.request.url.port == https_server.port
    assert "proxy-authorization" not in challenge.request.headers


async def test_proxy_authenticator_is_asked_at_most_max_auth_attempts_times(
    squid_with_auth: Proxy, https_server: Server, client_ssl: ssl.SSLContext
) -> None:
    rounds: list[int] = []

    async def wrong(response: Response) -> Request | None:
        rounds.append(response.status)
        assert response.request is not None
        return response.request.replace(headers={"Proxy-Authorization": basic(PROXY_USER, "wrong")})

    async with Client(
        proxy=squid_with_auth.url,
        verify=client_ssl,
        proxy_authenticator=wrong,
        max_auth_attempts=2,
    ) as client:
        with pytest.raises(ProxyAuthError, match=r"after 2 proxy_authenticator round\(s\)") as info:
            await client.get(f"{https_server.url}/echo")
    assert rounds == [407, 407]
    assert info.value.status == 407


async def test_proxy_authenticator_giving_up_is_a_proxy_auth_error(
    squid_with_auth: Proxy, https_server: Server, client_ssl: ssl.SSLContext
) -> None:
    async def give_up(response: Response) -> Request | None:
        return None

    async with Client(
        proxy=squid_with_auth.url, verify=client_ssl, proxy_authenticator=give_up
    ) as client:
        with pytest.raises(ProxyAuthError) as info:
            await client.get(f"{https_server.url}/echo")
    assert info.value.status == 407


# ---------------------------------------------------------- WebSocket handshakes


@pytest.mark.parametrize("tls", [False, True], ids=["ws", "wss"])
async def test_websocket_through_a_proxy_refusing_the_password_is_a_proxy_auth_error(
    tls: bool,
    http_proxy: tuple[str, Proxy],
    ws_origin: EchoServer,
    wss_origin: EchoServer,
    client_ssl: ssl.SSLContext,
    recorder_factory: Callable[[], Recorder],
    recorders: list[Recorder],
) -> None:
    name, proxy = http_proxy
    url = wss(wss_origin) if tls else ws_origin.url
    async with Client(
        proxy=with_credentials(proxy, password="wrong"),
        verify=client_ssl,
        event_listener_factory=recorder_factory,
    ) as client:
        with pytest.raises(ProxyAuthError) as info:
            async with client.websocket(url):
                pass
    assert info.value.status == WRONG_PASSWORD_STATUS[name]
    assert info.value.request is not None and info.value.request.is_websocket
    assert recorders[0].args("call_failed")[1] is info.value


@pytest.mark.parametrize("tls", [False, True], ids=["ws", "wss"])
async def test_websocket_through_socks5_refusing_the_password_is_a_proxy_auth_error(
    tls: bool,
    socks_proxy_with_auth: Proxy,
    ws_origin: EchoServer,
    wss_origin: EchoServer,
    client_ssl: ssl.SSLContext,
) -> None:
    url = wss(wss_origin) if tls else ws_origin.url
    proxy = with_credentials(socks_proxy_with_auth, password="wrong")
    async with Client(proxy=proxy, verify=client_ssl) as client:
        with pytest.raises(ProxyAuthError) as info:
            async with client.websocket(url):
                pass
    assert info.value.socks_reply not in (None, 0)
    assert info.value.request is not None


@pytest.mark.parametrize("tls", [False, True], ids=["ws", "wss"])
@pytest.mark.parametrize("proxy_name", [*HTTP_PROXIES, "socks_proxy_with_auth"])
async def test_websocket_through_a_proxy_with_the_right_password_works(
    tls: bool,
    proxy_name: str,
    request: pytest.FixtureRequest,
    ws_origin: EchoServer,
    wss_origin: EchoServer,
    client_ssl: ssl.SSLContext,
) -> None:
    proxy: Proxy = request.getfixturevalue(proxy_name)
    url = wss(wss_origin) if tls else ws_origin.url
    async with (
        Client(proxy=with_credentials(proxy), verify=client_ssl) as client,
        client.websocket(url) as ws,
    ):
        await ws.send("through an authenticated proxy")
        assert (await ws.receive()).data == "through an authenticated proxy"


async def test_proxy_authenticator_answers_a_websocket_connect(
    squid_with_auth: Proxy, wss_origin: EchoServer, client_ssl: ssl.SSLContext
) -> None:
    asked: list[str] = []

    async def authenticate(response: Response) -> Request | None:
        assert response.request is not None
        asked.append(response.request.method)
        return response.request.replace(
            headers={"Proxy-Authorization": basic(PROXY_USER, PROXY_PASSWORD)}
        )

    async with (
        Client(
            proxy=squid_with_auth.url, verify=client_ssl, proxy_authenticator=authenticate
        ) as client,
        client.websocket(wss(wss_origin)) as ws,
    ):
        await ws.send(b"authenticated")
        assert (await ws.receive()).data == b"authenticated"
    assert asked == ["CONNECT"]


# ------------------------------------------------- proxies that are down or broken


@pytest.mark.parametrize("scheme", ["http", "socks5"])
async def test_a_proxy_that_is_down_is_not_an_auth_error(
    scheme: str, https_server: Server, ws_origin: EchoServer, client_ssl: ssl.SSLContext
) -> None:
    proxy = f"{scheme}://{PROXY_USER}:{PROXY_PASSWORD}@127.0.0.1:{free_port()}"
    async with Client(proxy=proxy, verify=client_ssl) as client:
        with pytest.raises(ConnectError) as plain:
            await client.get(f"{https_server.url}/echo")
        with pytest.raises(ConnectError) as upgrade:
            async with client.websocket(ws_origin.url):
                pass
    for error in (plain.value, upgrade.value):
        assert not isinstance(error, ProxyAuthError)


async def test_a_proxy_failing_the_tunnel_is_a_proxy_error_not_an_auth_error(
    squid_with_auth: Proxy, client_ssl: ssl.SSLContext
) -> None:
    # Right credentials, but nothing listens behind the proxy: squid answers 503.
    closed = free_port()
    async with Client(proxy=with_credentials(squid_with_auth), verify=client_ssl) as client:
        with pytest.raises(ProxyError) as info:
            await client.get(f"https://127.0.0.1:{closed}/")
    assert not isinstance(info.value, ProxyAuthError)
    assert "503" in str(info.value)
