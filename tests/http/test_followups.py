"""Redirects, the connection-failure retry, the 401 authenticator, the 407 proxy authenticator."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from urllib.parse import quote

import pytest
from openwire import (
    Chain,
    Client,
    ProxyAuthError,
    ReadError,
    RedirectRefused,
    Request,
    Response,
    TooManyRedirects,
)
from openwire.http.followups import Authenticator

from tests.http.conftest import PROXY_PASSWORD, PROXY_USER, basic
from tests.http_peers import Handler, Proxy, RawServer, Server, read_request_head

pytestmark = pytest.mark.anyio


def redirect(server: Server, code: int, to: str) -> str:
    return f"{server.url}/redirect/{code}?to={quote(to, safe='')}"


@pytest.mark.parametrize("code", [301, 302, 303])
async def test_post_becomes_bodiless_get(http_server: Server, code: int) -> None:
    async with Client() as client:
        response = await client.post(redirect(http_server, code, "/echo"), content=b"data")
    payload = await response.json()
    assert payload["method"] == "GET"
    assert payload["body"] == ""
    assert not any(k == "content-length" for k, _ in payload["headers"])


@pytest.mark.parametrize("code", [307, 308])
async def test_307_308_keep_method_and_body(http_server: Server, code: int) -> None:
    async with Client() as client:
        response = await client.post(redirect(http_server, code, "/echo"), content=b"data")
    payload = await response.json()
    assert (payload["method"], payload["body"]) == ("POST", "data")


async def test_streamed_body_is_not_replayed(http_server: Server) -> None:
    async def parts() -> AsyncIterator[bytes]:
        yield b"once"

    async with Client() as client:
        response = await client.post(redirect(http_server, 307, "/echo"), content=parts())
    assert response.status == 307


async def test_relative_location_and_follow_off(http_server: Server) -> None:
    async with Client() as client:
        response = await client.get(redirect(http_server, 301, "../echo?x=1"))
        assert (await response.json())["query"] == "x=1"
    async with Client(follow_redirects=False) as client:
        response = await client.get(redirect(http_server, 301, "/echo"))
        assert response.status == 301
        assert response.headers["location"] == "/echo"


async def test_too_many_redirects(http_server: Server) -> None:
    async with Client(max_redirects=3) as client:
        with pytest.raises(TooManyRedirects) as info:
            await client.get(f"{http_server.url}/loop")
    assert "max_redirects" in str(info.value)


async def test_https_to_http_is_refused(
    https_server: Server, http_server: Server, ca_file: str
) -> None:
    url = redirect(https_server, 302, f"{http_server.url}/echo")
    async with Client(verify=ca_file) as client:
        with pytest.raises(RedirectRefused) as info:
            await client.get(url)
    assert "allow_insecure_redirects" in str(info.value)
    async with Client(verify=ca_file, allow_insecure_redirects=True) as client:
        assert (await client.get(url)).status == 200


async def test_credentials_are_stripped_cross_origin(
    http_server: Server, other_http_server: Server
) -> None:
    # The full matrix (sources, host/port/scheme, coming back) is in test_redirect_credentials.
    secret = {
        "Authorization": "Bearer x",
        "Cookie": "a=b",
        "Proxy-Authorization": "Basic eDp5",
        "X-Keep": "1",
    }
    async with Client() as client:
        same = await client.get(redirect(http_server, 302, "/echo"), headers=secret)
        other = await client.get(
            redirect(http_server, 302, f"{other_http_server.url}/echo"), headers=secret
        )
    same_names = {k for k, _ in (await same.json())["headers"]}
    other_names = {k for k, _ in (await other.json())["headers"]}
    assert {"authorization", "cookie", "proxy-authorization", "x-keep"} <= same_names
    assert "authorization" not in other_names
    assert "cookie" not in other_names
    assert "proxy-authorization" not in other_names
    assert "x-keep" in other_names


def first_connection_dies(responses: list[bytes]) -> Handler:
    async def handler(
        index: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await read_request_head(reader)
        if index == 0:
            return  # close without answering
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        await writer.drain()
        responses.append(b"ok")

    return handler


async def test_idempotent_request_is_retried_once(
    raw_server: Callable[[Handler], RawServer],
) -> None:
    server = raw_server(first_connection_dies([]))
    async with Client() as client:
        response = await client.get(f"{server.url}/")
    assert response.content == b"ok"
    assert len(server.connections) == 2


async def test_post_and_disabled_retry_are_not_retried(
    raw_server: Callable[[Handler], RawServer],
) -> None:
    server = raw_server(first_connection_dies([]))
    async with Client() as client:
        with pytest.raises(ReadError):
            await client.post(f"{server.url}/", content=b"x")
    assert len(server.connections) == 1

    server = raw_server(first_connection_dies([]))
    async with Client(retry_on_connection_failure=False) as client:
        with pytest.raises(ReadError):
            await client.get(f"{server.url}/")
    assert len(server.connections) == 1


async def test_authenticator_answers_401(http_server: Server) -> None:
    seen: list[int] = []

    async def authenticator(response: Response) -> Request | None:
        seen.append(response.status)
        assert response.request is not None
        return response.request.replace(headers={"Authorization": "Bearer good"})

    async with Client(authenticator=authenticator) as client:
        response = await client.get(f"{http_server.url}/auth")
    assert (response.status, response.content) == (200, b"welcome")
    assert seen == [401]


async def test_authenticator_attempts_are_limited(http_server: Server) -> None:
    calls = 0

    async def wrong(response: Response) -> Request | None:
        nonlocal calls
        calls += 1
        assert response.request is not None
        return response.request.replace(headers={"Authorization": "Bearer bad"})

    async with Client(authenticator=wrong, max_auth_attempts=2) as client:
        response = await client.get(f"{http_server.url}/auth")
    assert response.status == 401
    assert calls == 2

    async def give_up(response: Response) -> Request | None:
        return None

    async with Client(authenticator=give_up) as client:
        assert (await client.get(f"{http_server.url}/auth")).status == 401


async def test_authenticator_is_not_asked_on_407_nor_proxy_authenticator_on_401(
    http_server: Server, auth_tinyproxy: Proxy
) -> None:
    async def origin_only(response: Response) -> Request | None:
        raise AssertionError(f"authenticator asked on {response.status}")

    async def proxy_only(response: Response) -> Request | None:
        raise AssertionError(f"proxy_authenticator asked on {response.status}")

    async with Client(proxy_authenticator=proxy_only) as client:
        response = await client.get(f"{http_server.url}/auth")
    assert response.status == 401

    async with Client(proxy=auth_tinyproxy.url, authenticator=origin_only) as client:
        with pytest.raises(ProxyAuthError) as info:
            await client.get(f"{http_server.url}/echo")
    assert info.value.status == 407
    assert info.value.socks_reply is None
    assert "proxy_authenticator" in str(info.value)
    assert "user:password" in str(info.value)


def add_proxy_credentials(password: str, calls: list[int]) -> Authenticator:
    async def answer(response: Response) -> Request | None:
        calls.append(response.status)
        assert response.request is not None
        headers = response.request.headers.copy()
        headers["Proxy-Authorization"] = basic(PROXY_USER, password)
        return response.request.replace(headers=headers)

    return answer


async def test_proxy_authenticator_answers_407_from_a_forwarding_proxy(
    http_server: Server, auth_tinyproxy: Proxy
) -> None:
    calls: list[int] = []
    authenticator = add_proxy_credentials(PROXY_PASSWORD, calls)
    async with Client(proxy=auth_tinyproxy.url, proxy_authenticator=authenticator) as client:
        response = await client.get(f"{http_server.url}/echo")
    assert response.status == 200
    via = [v for k, v in (await response.json())["headers"] if k == "via"]
    assert any("tinyproxy" in v for v in via)
    assert calls == [407]


async def test_proxy_credentials_in_the_proxy_url_need_no_authenticator(
    http_server: Server, auth_tinyproxy: Proxy
) -> None:
    proxy = f"http://{PROXY_USER}:{PROXY_PASSWORD}@127.0.0.1:{auth_tinyproxy.port}"
    async with Client(proxy=proxy) as client:
        assert (await client.get(f"{http_server.url}/echo")).status == 200


async def test_proxy_authenticator_giving_up_raises_proxy_auth_error(
    http_server: Server, auth_tinyproxy: Proxy
) -> None:
    calls: list[int] = []

    async def give_up(response: Response) -> Request | None:
        calls.append(response.status)
        return None

    async with Client(proxy=auth_tinyproxy.url, proxy_authenticator=give_up) as client:
        with pytest.raises(ProxyAuthError) as info:
            await client.get(f"{http_server.url}/echo")
        # The refused attempt left nothing behind: the client still works.
        assert (await client.get(f"{http_server.url}/echo", headers=_proxy_auth())).status == 200
    assert info.value.status == 407
    assert "returned None" in str(info.value)
    assert calls == [407]


def _proxy_auth() -> dict[str, str]:
    return {"Proxy-Authorization": basic(PROXY_USER, PROXY_PASSWORD)}


def always_407(requests: list[bytes]) -> Handler:
    """A forwarding proxy that refuses every credential it is shown.

    tinyproxy answers a wrong password with 401, not 407, so repeated 407s
    need this scripted one.
    """

    async def handler(
        index: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        requests.append(await read_request_head(reader))
        writer.write(
            b"HTTP/1.1 407 Proxy Authentication Required\r\n"
            b'Proxy-Authenticate: Basic realm="scripted"\r\n'
            b"Content-Length: 6\r\nConnection: close\r\n\r\ndenied"
        )
        await writer.drain()

    return handler


async def test_proxy_authenticator_attempts_are_limited(
    raw_server: Callable[[Handler], RawServer],
) -> None:
    requests: list[bytes] = []
    proxy = raw_server(always_407(requests))
    calls: list[int] = []
    authenticator = add_proxy_credentials("wrong", calls)
    async with Client(
        proxy=proxy.url, proxy_authenticator=authenticator, max_auth_attempts=2
    ) as client:
        with pytest.raises(ProxyAuthError) as info:
            await client.get("http://origin.invalid/data")
    assert info.value.status == 407
    assert "max_auth_attempts=2" in str(info.value)
    assert calls == [407, 407]
    assert len(requests) == 3
    assert requests[0].startswith(b"GET http://origin.invalid")  # forwarded, not tunnelled
    assert b"proxy-authorization" not in requests[0].lower()
    assert all(b"proxy-authorization: basic " in head.lower() for head in requests[1:])


class FakeHandshake:
    def headers(self) -> list[tuple[str, str]]:
        # Real Upgrade headers would make hypercorn demand a full handshake.
        return [("X-Handshake", "websocket"), ("Sec-WebSocket-Version", "13")]


async def test_websocket_requests_skip_redirects_and_auth(http_server: Server) -> None:
    sent: list[Request] = []

    async def capture(request: Request, chain: Chain) -> Response:
        sent.append(request)
        return await chain.proceed(request)

    async def authenticator(response: Response) -> Request | None:
        raise AssertionError("not for WebSocket handshakes")

    offer = FakeHandshake()
    async with Client(network_interceptors=[capture], authenticator=authenticator) as client:
        response = await client.execute(
            Request("GET", redirect(http_server, 302, "/echo"), websocket=offer)
        )
        assert response.status == 302
        await response.aclose()
        response = await client.execute(
            Request(
                "GET", f"{http_server.url}/auth", headers={"x-handshake": "old"}, websocket=offer
            )
        )
        assert response.status == 401
        await response.aclose()
    headers = sent[-1].headers
    assert headers.get_list("x-handshake") == ["websocket"]
    assert "accept-encoding" not in headers
    assert "content-length" not in headers
    assert headers["host"] == f"127.0.0.1:{http_server.port}"


def utf8_redirect(heads: list[bytes], location: bytes) -> Handler:
    """The first request gets a 302 to ``location`` as raw bytes; the next one a 200."""

    async def handler(
        index: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        heads.append(await read_request_head(reader))
        if index == 0:
            writer.write(b"HTTP/1.1 302 Found\r\nLocation: " + location)
            writer.write(b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        else:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        await writer.drain()

    return handler


@pytest.mark.parametrize(
    ("location", "target"),
    [
        ("/café?q=ü".encode(), b"/caf%C3%A9?q=%C3%BC"),  # raw UTF-8, as servers send it
        (b"/caf%C3%A9", b"/caf%C3%A9"),  # already encoded: left alone
        (b"/caf\xe9", b"/caf%C3%A9"),  # not UTF-8: read as Latin-1
    ],
)
async def test_a_non_ascii_location_is_followed_as_utf8(
    raw_server: Callable[[Handler], RawServer], location: bytes, target: bytes
) -> None:
    heads: list[bytes] = []
    server = raw_server(utf8_redirect(heads, location))
    async with Client() as client:
        response = await client.get(server.url)
    assert response.status == 200
    assert heads[1].split(b" ")[1] == target
