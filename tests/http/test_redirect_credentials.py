"""Credentials across redirects: kept within the call's origin, dropped for good once it is left.

The leak this pins: a client-wide ``Authorization`` or ``Cookie`` re-added on
every hop, or a ``Proxy-Authorization`` forwarded to another origin (urllib3's
CVE-2024-37891), reaching a server the caller never meant to authenticate to.
Every assertion is on what the server (or proxy) actually received.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest
from openwire import Chain, Client, MemoryCookieJar, ProxyAuthError, Request, Response
from openwire.http.followups import Authenticator

from tests.http.conftest import PROXY_PASSWORD, PROXY_USER, basic
from tests.http_peers import Proxy, Server

pytestmark = pytest.mark.anyio

CREDENTIALS = {
    "Authorization": "Bearer top-secret",
    "Cookie": "session=abc",
    "Proxy-Authorization": "Basic cHJveHk6cGFzcw==",
}
CREDENTIAL_NAMES = {name.lower() for name in CREDENTIALS}
MARKER = ("X-Trace", "kept-everywhere")  # not a credential: must follow every hop

SOURCES = ["request", "client-defaults", "application-interceptor"]


def hop(server: Server, to: str, code: int = 302) -> str:
    return f"{server.url}/redirect/{code}?to={quote(to, safe='')}"


async def received(response: Response, path: str = "/echo") -> dict[str, list[str]]:
    """The headers the echo route saw, by lower-case name."""
    payload = await response.json()
    assert payload["path"] == path, payload
    seen: dict[str, list[str]] = {}
    for name, value in payload["headers"]:
        seen.setdefault(name.lower(), []).append(value)
    return seen


async def add_credentials(request: Request, chain: Chain) -> Response:
    headers = request.headers.copy()
    for name, value in [*CREDENTIALS.items(), MARKER]:
        headers[name] = value
    return await chain.proceed(request.replace(headers=headers))


async def fetch(source: str, url: str, ca_file: str) -> dict[str, list[str]]:
    """GET ``url`` with the credentials supplied by ``source``; what /echo received."""
    headers: dict[str, str] = {}
    if source == "request":
        headers = {**CREDENTIALS, MARKER[0]: MARKER[1]}
        client = Client(verify=ca_file)
    elif source == "client-defaults":
        client = Client(verify=ca_file, headers={**CREDENTIALS, MARKER[0]: MARKER[1]})
    else:
        client = Client(verify=ca_file, interceptors=[add_credentials])
    async with client:
        response = await client.get(url, headers=headers)
    assert response.status == 200, (response.status, response.headers)
    return await received(response)


@pytest.fixture(
    params=["other-port", "other-host", "other-scheme"],
)
def other_origin(
    request: pytest.FixtureRequest,
    http_server: Server,
    other_http_server: Server,
    https_server: Server,
) -> str:
    """Another origin than ``http_server``'s, differing in port, host or scheme.

    Two real listeners cannot share a port, so the scheme case differs in
    port too; the host case is the same listener under another name.
    """
    if request.param == "other-port":
        return other_http_server.url
    if request.param == "other-host":
        return f"http://localhost:{http_server.port}"
    return https_server.url


@pytest.mark.parametrize("source", SOURCES)
async def test_same_origin_redirect_keeps_credentials(
    http_server: Server, ca_file: str, source: str
) -> None:
    for to in ("/echo", f"{http_server.url}/echo"):
        seen = await fetch(source, hop(http_server, to), ca_file)
        for name, value in CREDENTIALS.items():
            assert seen.get(name.lower()) == [value], (to, name)
        assert seen[MARKER[0].lower()] == [MARKER[1]]


@pytest.mark.parametrize("source", SOURCES)
async def test_cross_origin_redirect_drops_credentials(
    http_server: Server, other_origin: str, ca_file: str, source: str
) -> None:
    seen = await fetch(source, hop(http_server, f"{other_origin}/echo"), ca_file)
    assert CREDENTIAL_NAMES.isdisjoint(seen), seen
    assert seen[MARKER[0].lower()] == [MARKER[1]]


@pytest.mark.parametrize("source", SOURCES)
async def test_credentials_are_not_restored_when_a_later_hop_comes_back(
    http_server: Server, other_http_server: Server, ca_file: str, source: str
) -> None:
    back = hop(other_http_server, f"{http_server.url}/echo")
    seen = await fetch(source, hop(http_server, back), ca_file)
    assert CREDENTIAL_NAMES.isdisjoint(seen), seen
    assert seen[MARKER[0].lower()] == [MARKER[1]]


async def test_a_direct_request_to_the_other_origin_still_gets_client_credentials(
    other_http_server: Server,
) -> None:
    """Dropping is per call: the next call starts from its own origin again."""
    async with Client(headers=CREDENTIALS) as client:
        response = await client.get(f"{other_http_server.url}/echo")
    seen = await received(response)
    for name, value in CREDENTIALS.items():
        assert seen.get(name.lower()) == [value]


async def test_default_credentials_false_keeps_client_credentials_off_one_request(
    http_server: Server,
) -> None:
    async with Client(headers={**CREDENTIALS, MARKER[0]: MARKER[1]}) as client:
        response = await client.execute(
            Request("GET", f"{http_server.url}/echo", default_credentials=False)
        )
        seen = await received(response)
    assert CREDENTIAL_NAMES.isdisjoint(seen), seen
    assert seen[MARKER[0].lower()] == [MARKER[1]]


async def test_authenticator_credentials_stay_but_client_defaults_stay_off_after_leaving(
    http_server: Server, other_http_server: Server
) -> None:
    """The authenticator answers the other origin's own challenge, so its header goes there.

    It builds a fresh request (not a copy of the one it was shown), which
    must still not bring the client-wide credentials back.
    """
    challenged: list[str] = []

    async def authenticator(response: Response) -> Request | None:
        assert response.request is not None
        challenged.append(str(response.request.url))
        return Request("GET", response.request.url, headers={"Authorization": "Bearer good"})

    async with Client(headers=CREDENTIALS, authenticator=authenticator) as client:
        response = await client.get(hop(http_server, f"{other_http_server.url}/auth-echo"))
    assert response.status == 200
    seen = await received(response, "/auth-echo")
    assert challenged == [f"{other_http_server.url}/auth-echo"]
    assert seen["authorization"] == ["Bearer good"]
    assert "cookie" not in seen
    assert "proxy-authorization" not in seen


async def test_credentials_answering_the_other_origin_do_not_follow_back_to_the_first(
    http_server: Server, other_http_server: Server
) -> None:
    """Origin B's credentials, from the authenticator, must not reach A when B redirects back."""

    async def authenticator(response: Response) -> Request | None:
        assert response.request is not None
        headers = response.request.headers.copy()
        headers["Authorization"] = "Bearer good"
        return response.request.replace(headers=headers)

    back = f"{other_http_server.url}/auth-echo?to={quote(f'{http_server.url}/echo', safe='')}"
    async with Client(authenticator=authenticator) as client:
        response = await client.get(hop(http_server, back))
    seen = await received(response)
    assert seen["host"] == [f"127.0.0.1:{http_server.port}"]
    assert "authorization" not in seen


def cookies(seen: dict[str, list[str]]) -> dict[str, str]:
    pairs = (
        part.strip().partition("=") for value in seen.get("cookie", []) for part in value.split(";")
    )
    return {name: value for name, _, value in pairs if name}


async def test_jar_cookies_follow_the_jars_rules_across_redirects(
    http_server: Server, other_http_server: Server
) -> None:
    jar = MemoryCookieJar()
    async with Client(cookie_jar=jar, headers={"Cookie": "client=1"}) as client:
        await client.get(f"{http_server.url}/set-cookie?jar=loopback")
        same = await received(await client.get(hop(http_server, "/echo")))
        other_port = await received(
            await client.get(hop(http_server, f"{other_http_server.url}/echo"))
        )
        other_host = await received(
            await client.get(hop(http_server, f"http://localhost:{http_server.port}/echo"))
        )
    assert cookies(same) == {"client": "1", "jar": "loopback"}
    # The client-wide Cookie stays behind; the jar's cookie for 127.0.0.1 goes on,
    # because cookies do not isolate by port (RFC 6265 §8.5) ...
    assert cookies(other_port) == {"jar": "loopback"}
    # ... but not to another host, by the jar's domain rule.
    assert cookies(other_host) == {}


# ------------------------------------------------- Proxy-Authorization from a proxy_authenticator


def proxy_credentials(calls: list[str]) -> Authenticator:
    async def answer(response: Response) -> Request | None:
        assert response.request is not None
        calls.append(str(response.request.url))
        headers = response.request.headers.copy()
        headers["Proxy-Authorization"] = basic(PROXY_USER, PROXY_PASSWORD)
        return response.request.replace(headers=headers)

    return answer


async def test_proxy_authenticator_credentials_stay_within_the_origin(
    http_server: Server, other_http_server: Server, auth_tinyproxy: Proxy
) -> None:
    """The proxy answers 407 to every request it receives without credentials.

    So the sequence of statuses is what the proxy received: credentials on
    the same-origin hop (302 → 200), none on the cross-origin hop (407 again).
    """
    attempts: list[tuple[str, bool, int]] = []

    async def record(request: Request, chain: Chain) -> Response:
        response = await chain.proceed(request)
        sent = "proxy-authorization" in request.headers
        attempts.append((str(request.url), sent, response.status))
        return response

    calls: list[str] = []
    async with Client(
        proxy=auth_tinyproxy.url,
        proxy_authenticator=proxy_credentials(calls),
        network_interceptors=[record],
    ) as client:
        same = await client.get(hop(http_server, "/echo"))
        assert same.status == 200
        assert [(sent, status) for _, sent, status in attempts] == [
            (False, 407),
            (True, 302),
            (True, 200),  # same origin: the credentials stayed
        ]
        assert len(calls) == 1

        attempts.clear()
        other = await client.get(hop(http_server, f"{other_http_server.url}/echo"))
        assert other.status == 200
        assert [(sent, status) for _, sent, status in attempts] == [
            (False, 407),
            (True, 302),
            (False, 407),  # the hop left the origin: the proxy saw no credentials
            (True, 200),  # the proxy_authenticator was asked again, for the new origin
        ]
        assert len(calls) == 3


async def test_without_proxy_authenticator_the_cross_origin_hop_raises(
    http_server: Server, other_http_server: Server, auth_tinyproxy: Proxy
) -> None:
    """Credentials the application put on the first request do not reach the next origin's hop."""
    url = hop(http_server, f"{other_http_server.url}/echo")
    auth = {"Proxy-Authorization": basic(PROXY_USER, PROXY_PASSWORD)}
    async with Client(proxy=auth_tinyproxy.url) as client:
        with pytest.raises(ProxyAuthError) as info:
            await client.get(url, headers=auth)
    assert info.value.status == 407
    assert info.value.request is not None
    assert str(info.value.request.url) == f"{other_http_server.url}/echo"
