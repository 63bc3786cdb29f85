"""timeout= per request: a number for each step, or a Timeouts, instead of the client's."""

from __future__ import annotations

import pytest
from openwire import CallTimeout, Client, ReadTimeout, Timeouts

from tests.http_peers import Server

pytestmark = pytest.mark.anyio


async def test_a_number_bounds_each_step_of_this_request_only(http_server: Server) -> None:
    async with Client(timeouts=Timeouts(read=10)) as client:
        with pytest.raises(ReadTimeout) as info:
            await client.get(f"{http_server.url}/slow?delay=2", timeout=0.2)
        assert str(info.value.request.url).endswith("/slow?delay=2")  # type: ignore[union-attr]
        response = await client.get(f"{http_server.url}/slow?delay=0.3")
    assert response.status == 200  # the client's own read timeout applies again


async def test_a_timeouts_replaces_the_call_deadline_too(http_server: Server) -> None:
    async with Client() as client:
        with pytest.raises(CallTimeout):
            await client.get(
                f"{http_server.url}/slow-body?chunks=10&delay=0.1", timeout=Timeouts(call=0.3)
            )


async def test_a_number_keeps_the_clients_call_deadline(http_server: Server) -> None:
    async with Client(timeouts=Timeouts(call=0.3)) as client:
        with pytest.raises(CallTimeout):
            await client.get(f"{http_server.url}/slow-body?chunks=10&delay=0.1", timeout=5)


def test_a_timeout_must_be_seconds() -> None:
    client = Client()
    with pytest.raises(TypeError, match="seconds"):
        client.build_request("GET", "http://h/", timeout="1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="positive"):
        client.build_request("GET", "http://h/", timeout=0)
    request = client.build_request("GET", "http://h/", timeout=2)
    assert request.timeouts == Timeouts(connect=2, read=2, write=2, pool=2, call=None)
