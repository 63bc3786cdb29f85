"""Redirects, the connection-failure retry, and the authenticator."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from urllib.parse import quote

import pytest
from openwire import (
    Chain,
    Client,
    ReadError,
    RedirectRefused,
    Request,
    Response,
    TooManyRedirects,
)

from tests.http_peers import Handler, RawServer, Server, read_request_head

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
    secret = {"Authorization": "Bearer x", "Cookie": "a=b", "X-Keep": "1"}
    async with Client() as client:
        same = await client.get(redirect(http_server, 302, "/echo"), headers=secret)
        other = await client.get(
            redirect(http_server, 302, f"{other_http_server.url}/echo"), headers=secret
        )
    same_names = {k for k, _ in (await same.json())["headers"]}
    other_names = {k for k, _ in (await other.json())["headers"]}
    assert {"authorization", "cookie", "x-keep"} <= same_names
    assert "authorization" not in other_names
    assert "cookie" not in other_names
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

    ext = {"openwire.websocket": FakeHandshake()}
    async with Client(network_interceptors=[capture], authenticator=authenticator) as client:
        response = await client.execute(
            Request("GET", redirect(http_server, 302, "/echo"), extensions=ext)
        )
        assert response.status == 302
        await response.aclose()
        response = await client.execute(
            Request(
                "GET", f"{http_server.url}/auth", headers={"x-handshake": "old"}, extensions=ext
            )
        )
        assert response.status == 401
        await response.aclose()
    headers = sent[-1].headers
    assert headers.get_list("x-handshake") == ["websocket"]
    assert "accept-encoding" not in headers
    assert "content-length" not in headers
    assert headers["host"] == f"127.0.0.1:{http_server.port}"
