"""auth= (Basic credentials with the request) and BasicAuth as an authenticator."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from openwire import BasicAuth, Client, MemoryCookieJar, Request, Response

from tests.http_peers import Server

pytestmark = pytest.mark.anyio


def header(payload: dict[str, Any], name: str) -> list[str]:
    return [v for k, v in payload["headers"] if k.lower() == name.lower()]


@pytest.mark.parametrize("auth", [("user", "pass"), BasicAuth("user", "pass")])
async def test_auth_is_sent_with_the_request(
    http_server: Server, auth: tuple[str, str] | BasicAuth
) -> None:
    async with Client() as client:
        response = await client.get(f"{http_server.url}/basic-auth", auth=auth)
        refused = await client.get(f"{http_server.url}/basic-auth", auth=("user", "wrong"))
    assert response.status == 200
    assert response.history == []  # no 401 round trip first
    assert refused.status == 401


async def test_auth_replaces_an_authorization_header(http_server: Server) -> None:
    async with Client() as client:
        response = await client.get(
            f"{http_server.url}/echo", headers={"Authorization": "Bearer x"}, auth=("a", "b")
        )
    assert header(await response.json(), "authorization") == ["Basic YTpi"]


async def test_auth_stays_within_the_origin_across_redirects(
    http_server: Server, other_http_server: Server
) -> None:
    same = f"{http_server.url}/redirect/302?to={quote('/echo', safe='')}"
    cross = f"{http_server.url}/redirect/302?to={quote(other_http_server.url + '/echo', safe='')}"
    async with Client() as client:
        kept = await client.get(same, auth=("user", "pass"))
        dropped = await client.get(cross, auth=("user", "pass"))
    assert header(await kept.json(), "authorization") == ["Basic dXNlcjpwYXNz"]
    assert header(await dropped.json(), "authorization") == []


async def test_basic_auth_as_the_authenticator_answers_a_401_once(http_server: Server) -> None:
    attempts: list[str | None] = []

    async def count(request: Request, chain: Any) -> Response:
        attempts.append(request.headers.get("authorization"))
        return await chain.proceed(request)

    async with Client(
        authenticator=BasicAuth("user", "pass"), network_interceptors=[count]
    ) as client:
        response = await client.get(f"{http_server.url}/basic-auth")
        attempts_ok = list(attempts)
        attempts.clear()
        wrong = Client(authenticator=BasicAuth("user", "nope"), network_interceptors=[count])
        async with wrong:
            refused = await wrong.get(f"{http_server.url}/basic-auth")
    assert response.status == 200
    assert attempts_ok == [None, "Basic dXNlcjpwYXNz"]
    assert refused.status == 401
    assert len(attempts) == 2  # refused credentials are not sent again


async def test_the_retry_after_a_401_is_decoded_and_sends_each_cookie_once(
    http_server: Server,
) -> None:
    # The authenticator copies response.request: it must be the request as the
    # application wrote it, or the bridge's own Accept-Encoding (which turns its
    # decoding off when the application set it) and jar Cookie come along.
    async with Client(authenticator=BasicAuth("user", "pass"), cookie_jar=MemoryCookieJar()) as c:
        response = await c.get(f"{http_server.url}/basic-auth-echo")
        payload = await response.json()
    assert response.status == 200
    assert "content-encoding" not in response.headers  # decoded, as without the 401
    assert header(payload, "cookie") == ["sid=1"]  # the cookie the 401 set, once
    assert header(payload, "accept-encoding") != []
    assert response.request is not None
    assert "accept-encoding" not in response.request.headers  # the application's request


async def test_credentials_in_the_url_are_sent_as_basic_auth_and_leave_the_url(
    http_server: Server,
) -> None:
    host = http_server.url.split("://", 1)[1]
    async with Client() as client:
        response = await client.get(f"http://user:pass@{host}/basic-auth")
        encoded = await client.get(f"http://us%40er:p%3Ass@{host}/echo")  # percent-decoded
        # auth= wins; the URL's pair is not even read (a ':' in it would be refused).
        explicit = await client.get(f"http://x%3Ay:z@{host}/echo", auth=("a", "b"))
    assert response.status == 200
    assert response.request is not None
    assert "pass" not in str(response.request.url)  # not in errors, events or logs
    assert header(await encoded.json(), "authorization") == ["Basic dXNAZXI6cDpzcw=="]
    assert header(await explicit.json(), "authorization") == ["Basic YTpi"]


def test_basic_auth_refuses_a_colon_in_the_user_and_hides_the_password() -> None:
    with pytest.raises(ValueError, match="':'"):
        BasicAuth("a:b", "c")
    assert "secret" not in repr(BasicAuth("u", "secret"))
    assert BasicAuth("Zoë", "pässword").header == "Basic Wm/Dqzpww6Rzc3dvcmQ="
