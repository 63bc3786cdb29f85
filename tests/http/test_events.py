"""EventListener events: order, pooling, redirects, TLS and failures."""

from __future__ import annotations

import gc
import ssl
from collections.abc import Callable

import pytest
from openwire import Client, ConnectError, EventListener, Request

from tests.http_peers import Recorder, Server, free_port

pytestmark = pytest.mark.anyio

PLAIN = [
    "call_start",
    "proxy_select_start",
    "proxy_select_end",
    "connect_start",
    "connect_end",
    "connection_acquired",
    "request_headers_start",
    "request_headers_end",
    "response_headers_start",
    "response_headers_end",
    "response_body_start",
    "response_body_end",
    "connection_released",
    "call_end",
]

POOLED = [n for n in PLAIN if not n.startswith("connect_")]


async def test_plain_call_then_pooled_call(
    http_server: Server, recorder_factory: Callable[[], Recorder], recorders: list[Recorder]
) -> None:
    async with Client(event_listener_factory=recorder_factory) as client:
        await client.get(f"{http_server.url}/echo")
        await client.get(f"{http_server.url}/echo")
    first, second = recorders
    assert first.names == PLAIN  # an IP literal: nothing to resolve, no DNS events
    assert first.args("connection_acquired") == ("127.0.0.1", http_server.port, False)
    assert second.names == POOLED
    assert second.args("connection_acquired") == ("127.0.0.1", http_server.port, True)


async def test_a_host_name_is_resolved_with_dns_events(
    http_server: Server, recorder_factory: Callable[[], Recorder], recorders: list[Recorder]
) -> None:
    async with Client(event_listener_factory=recorder_factory) as client:
        response = await client.get(f"http://localhost:{http_server.port}/echo")
    assert response.status == 200
    names = recorders[0].names
    assert names.index("dns_start") < names.index("dns_end") < names.index("connect_start")
    host, addresses = recorders[0].args("dns_end")
    assert host == "localhost"
    assert "127.0.0.1" in addresses


async def test_request_body_events(
    http_server: Server, recorder_factory: Callable[[], Recorder], recorders: list[Recorder]
) -> None:
    async with Client(event_listener_factory=recorder_factory) as client:
        await client.post(f"{http_server.url}/echo", content=b"12345")
    names = recorders[0].names
    i = names.index("request_headers_end")
    assert names[i + 1 : i + 3] == ["request_body_start", "request_body_end"]
    assert recorders[0].args("request_body_end")[1] == 5


async def test_redirect_repeats_the_middle_block(
    http_server: Server, recorder_factory: Callable[[], Recorder], recorders: list[Recorder]
) -> None:
    async with Client(event_listener_factory=recorder_factory) as client:
        await client.get(f"{http_server.url}/redirect/302?to=/echo")
    names = recorders[0].names
    hop = POOLED[1:-1]
    assert names == ["call_start", *PLAIN[1:-1], *hop, "call_end"]


async def test_tls_call(
    https_server: Server,
    client_ssl: ssl.SSLContext,
    recorder_factory: Callable[[], Recorder],
    recorders: list[Recorder],
) -> None:
    async with Client(verify=client_ssl, event_listener_factory=recorder_factory) as client:
        await client.get(f"{https_server.url}/echo")
    names = recorders[0].names
    i = names.index("connect_end")
    assert names[i + 1 : i + 4] == [
        "secure_connect_start",
        "secure_connect_end",
        "connection_acquired",
    ]
    host, version = recorders[0].args("secure_connect_end")
    assert host == "127.0.0.1"
    assert isinstance(version, str)
    assert version.startswith("TLS")


async def test_failed_connect(
    recorder_factory: Callable[[], Recorder], recorders: list[Recorder]
) -> None:
    port = free_port()
    async with Client(event_listener_factory=recorder_factory) as client:
        with pytest.raises(ConnectError) as info:
            await client.get(f"http://127.0.0.1:{port}/")
    names = recorders[0].names
    attempt = [
        "proxy_select_start",
        "proxy_select_end",
        "connect_start",
        "connect_failed",
    ]
    assert names == ["call_start", *attempt, *attempt, "call_failed"]  # retried once
    assert recorders[0].args("connect_failed")[:2] == ("127.0.0.1", port)
    assert recorders[0].args("call_failed")[1] is info.value


async def test_unread_closed_and_collected_responses_end_the_call(
    http_server: Server, recorder_factory: Callable[[], Recorder], recorders: list[Recorder]
) -> None:
    async with Client(event_listener_factory=recorder_factory) as client:
        response = await client.execute(Request("GET", f"{http_server.url}/echo"))
        await response.aclose()
        await response.aclose()
        lost = await client.execute(Request("GET", f"{http_server.url}/echo"))
        del lost
        gc.collect()
    closed, collected = recorders
    assert closed.names[-2:] == ["connection_released", "call_end"]
    assert "response_body_start" not in closed.names
    assert collected.names.count("call_end") == 1
    assert collected.names[-1] == "call_end"


async def test_raising_listener_does_not_break_the_call(http_server: Server) -> None:
    class Broken(EventListener):
        def call_start(self, request: Request) -> None:
            raise RuntimeError("listener bug")

        def response_headers_end(self, response: object) -> None:
            raise RuntimeError("listener bug")

    async with Client(event_listener_factory=Broken) as client:
        assert (await client.get(f"{http_server.url}/echo")).status == 200
