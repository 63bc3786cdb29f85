"""URL, Headers, Request and Response as plain values."""

from __future__ import annotations

import pytest
from openwire import Headers, Request, Response
from openwire.http.url import URL


def test_url_parts() -> None:
    url = URL("HTTPS://Example.COM/a/b?x=1#frag")
    assert (url.scheme, url.host, url.port, url.target) == ("https", "example.com", 443, "/a/b?x=1")
    assert str(url) == "https://example.com/a/b?x=1"
    assert URL("http://h:8080").target == "/"
    assert URL("http://[::1]:81/").netloc == "[::1]:81"
    assert URL("http://h/a/b").join("../c").path == "/c"
    with pytest.raises(ValueError):
        URL("/relative")


def test_headers_multi_dict() -> None:
    headers = Headers([("Set-Cookie", "a=1"), ("set-cookie", "b=2"), ("X-One", "1")])
    assert headers.get_list("SET-COOKIE") == ["a=1", "b=2"]
    assert headers["x-one"] == "1"
    assert headers.get("missing") is None
    assert "x-ONE" in headers
    headers["set-cookie"] = "c=3"
    assert headers.items() == [("set-cookie", "c=3"), ("X-One", "1")]
    headers.add("X-One", "2")
    assert headers["x-one"] == "1, 2"
    copy = headers.copy()
    copy.remove("x-one")
    assert "x-one" in headers
    assert "x-one" not in copy
    with pytest.raises(KeyError):
        headers["nope"]


def test_request_replace_copies() -> None:
    request = Request("get", "http://h/", headers={"A": "1"}, extensions={"k": 1})
    other = request.replace(method="POST", content="body")
    other.headers["A"] = "2"
    other.extensions["k"] = 2
    assert (request.method, request.headers["a"], request.extensions["k"]) == ("GET", "1", 1)
    assert (other.method, other.content) == ("POST", b"body")
    assert request.is_replayable
    assert request.is_idempotent


@pytest.mark.anyio
async def test_constructed_response_reads_and_closes_once() -> None:
    closes: list[BaseException | None] = []
    response = Response(
        200, headers={"Content-Type": "text/plain; charset=latin-1"}, content=b"\xe9"
    )
    response.on_close(closes.append)
    assert await response.text() == "é"
    await response.aclose()
    assert closes == [None]
    assert response.content == b"\xe9"
    assert response.reason == "OK"


@pytest.mark.parametrize("method", ["BAD METHOD", "GET\r\n", "", "G(ET"])
def test_a_method_that_is_not_a_token_is_refused(method: str) -> None:
    with pytest.raises(ValueError, match="not an HTTP method"):
        Request(method, "http://example.com/")


@pytest.mark.parametrize("method", ["get", "M-SEARCH", "PROPFIND", "X_CUSTOM"])
def test_any_token_is_a_method(method: str) -> None:
    assert Request(method, "http://example.com/").method == method.upper()
