"""async with client.stream(method, url) as response: the body as it arrives, closed on exit."""

from __future__ import annotations

import pytest
from openwire import Client, EventListener, Request

from tests.http_peers import Server

pytestmark = pytest.mark.anyio


class Ends(EventListener):
    def __init__(self) -> None:
        self.ended: list[str] = []

    def call_end(self, request: Request) -> None:
        self.ended.append("end")

    def call_failed(self, request: Request, error: BaseException) -> None:
        self.ended.append("failed")


async def test_the_body_streams_inside_the_block(http_server: Server) -> None:
    listener = Ends()
    async with Client(event_listener_factory=lambda: listener) as client:
        async with client.stream(
            "GET", f"{http_server.url}/slow-body?chunks=3&delay=0.01"
        ) as response:
            assert response.status == 200
            assert listener.ended == []  # the call lasts as long as the body
            chunks = [chunk async for chunk in response.aiter_bytes()]
        assert b"".join(chunks) == b"x" * 30
        assert response.is_closed
    assert listener.ended == ["end"]


async def test_leaving_the_block_unread_closes_the_response(http_server: Server) -> None:
    async with Client() as client:
        async with client.stream("GET", f"{http_server.url}/big?size=2000000") as response:
            body = response.aiter_bytes()
            assert await anext(body)
            await body.aclose()
        assert response.is_closed
        again = await client.get(f"{http_server.url}/echo")  # the client still works
    assert again.status == 200


async def test_an_error_in_the_block_closes_the_response(http_server: Server) -> None:
    async with Client() as client:
        with pytest.raises(LookupError):
            async with client.stream("POST", f"{http_server.url}/echo", json={"a": 1}) as response:
                raise LookupError("user code failed")
    assert response.is_closed


async def test_stream_takes_the_request_keywords(http_server: Server) -> None:
    async with Client() as client:
        async with client.stream(
            "POST", f"{http_server.url}/echo", params={"q": "1"}, data={"k": "v"}, timeout=5
        ) as response:
            payload = await response.json()
    assert payload["query"] == "q=1"
    assert payload["body"] == "k=v"
