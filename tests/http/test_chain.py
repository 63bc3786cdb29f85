"""Interceptor order, short-circuits, and which layer sees what."""

from __future__ import annotations

import pytest
from openwire import Chain, Client, Interceptor, Request, Response

from tests.http_peers import Server

pytestmark = pytest.mark.anyio


def tagging(name: str, log: list[str]) -> Interceptor:
    async def interceptor(request: Request, chain: Chain) -> Response:
        log.append(f"{name}>")
        request = request.replace()
        request.headers.add("X-Seen", name)
        response = await chain.proceed(request)
        log.append(f"<{name}")
        return response

    return interceptor


async def test_application_interceptors_run_in_registration_order(http_server: Server) -> None:
    log: list[str] = []
    interceptors = [tagging("a", log), tagging("b", log)]
    network = [tagging("n", log)]
    async with Client(interceptors=interceptors, network_interceptors=network) as client:
        response = await client.get(f"{http_server.url}/echo")
    assert log == ["a>", "b>", "n>", "<n", "<b", "<a"]
    seen = [v for k, v in (await response.json())["headers"] if k == "x-seen"]
    assert seen == ["a", "b", "n"]


async def test_network_interceptor_sees_bridge_headers_and_each_hop(http_server: Server) -> None:
    app_calls: list[str] = []
    network_calls: list[tuple[str, str | None]] = []

    async def application(request: Request, chain: Chain) -> Response:
        app_calls.append(request.url.path)
        return await chain.proceed(request)

    async def network(request: Request, chain: Chain) -> Response:
        network_calls.append((request.url.path, request.headers.get("user-agent")))
        return await chain.proceed(request)

    async with Client(interceptors=[application], network_interceptors=[network]) as client:
        url = f"{http_server.url}/redirect/302?to=/echo"
        assert (await client.get(url)).status == 200
    assert app_calls == ["/redirect/302"]
    assert [path for path, _ in network_calls] == ["/redirect/302", "/echo"]
    assert all(agent and agent.startswith("openwire/") for _, agent in network_calls)


async def test_short_circuit_never_touches_the_network() -> None:
    async def cached(request: Request, chain: Chain) -> Response:
        return Response(203, headers={"X-Cache": "hit"}, content=b"from cache")

    async with Client(interceptors=[cached]) as client:
        response = await client.get("http://192.0.2.1:9/never")
    assert response.status == 203
    assert response.content == b"from cache"
    assert response.request is not None
    assert response.request.url.path == "/never"


async def test_interceptor_can_replace_the_response(http_server: Server) -> None:
    async def rewrite(request: Request, chain: Chain) -> Response:
        response = await chain.proceed(request)
        body = await response.aread()
        return Response(response.status, headers=response.headers, content=body.upper())

    async with Client(interceptors=[rewrite]) as client:
        response = await client.get(f"{http_server.url}/status/200")
    assert response.content == b"STATUS BODY"
