"""Response.raise_for_status(), response.url and response.history against a real server."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from openwire import Client, HTTPStatusError, RequestError, Response

from tests.http_peers import Server

pytestmark = pytest.mark.anyio


def redirect(server: Server, code: int, to: str) -> str:
    return f"{server.url}/redirect/{code}?to={quote(to, safe='')}"


@pytest.mark.parametrize("status", [400, 404, 500, 503])
async def test_an_error_status_raises_with_the_response_and_the_url(
    http_server: Server, status: int
) -> None:
    url = f"{http_server.url}/status/{status}"
    async with Client() as client:
        response = await client.get(url)
        with pytest.raises(HTTPStatusError) as info:
            response.raise_for_status()
    error = info.value
    assert isinstance(error, RequestError)
    assert error.response is response
    assert error.request is response.request
    assert f"GET {url}" in str(error)
    assert str(status) in str(error)
    assert ("client error" if status < 500 else "server error") in str(error)
    assert error.response.content == b"status body"


@pytest.mark.parametrize("status", [200, 204, 304])
async def test_a_success_or_an_unfollowed_status_returns_the_response(
    http_server: Server, status: int
) -> None:
    async with Client() as client:
        response = await client.get(f"{http_server.url}/status/{status}")
    assert response.raise_for_status() is response


async def test_url_is_the_last_hop_and_history_the_redirects_on_the_way(
    http_server: Server, other_http_server: Server
) -> None:
    final = f"{other_http_server.url}/echo"
    second = redirect(http_server, 307, final)
    first = redirect(http_server, 302, second)
    async with Client() as client:
        response = await client.get(first)
    assert str(response.url) == final
    assert [r.status for r in response.history] == [302, 307]
    assert [str(r.url) for r in response.history] == [first, second]
    assert all(r.is_closed for r in response.history)
    assert all(r.history == [] for r in response.history)


async def test_without_a_redirect_history_is_empty_and_url_the_request_url(
    http_server: Server,
) -> None:
    async with Client() as client:
        response = await client.get(f"{http_server.url}/echo")
    assert response.history == []
    assert str(response.url) == f"{http_server.url}/echo"


async def test_an_unfollowed_redirect_is_the_answer_not_history(http_server: Server) -> None:
    url = redirect(http_server, 302, "/echo")
    async with Client(follow_redirects=False) as client:
        response = await client.get(url)
    assert response.status == 302
    assert response.history == []
    assert str(response.url) == url


def test_a_response_without_a_request_has_no_url() -> None:
    with pytest.raises(RuntimeError, match="no request"):
        _ = Response(200).url


async def test_the_error_copies_with_its_response(http_server: Server) -> None:
    import copy

    async with Client() as client:
        response = await client.get(f"{http_server.url}/status/418")
    with pytest.raises(HTTPStatusError) as info:
        response.raise_for_status()
    again = copy.copy(info.value)
    assert again.response is response
    assert str(again) == str(info.value)
