"""Per-call request options of a WebSocket handshake: headers=, origin=, user_agent=.

Checked against real servers (websockets' and aiohttp's echo servers send the
request headers they received back on ``/headers``), on every engine for the
headers themselves, and on one engine for the merge rules, which the core
applies before any engine is involved.
"""

from __future__ import annotations

from typing import Any

import pytest
from openwire import Client, Request, Response
from openwire.http.cookies import MemoryCookieJar
from openwire.testing.servers import EchoServer


def _received(text: object) -> list[tuple[str, str]]:
    assert isinstance(text, str)
    pairs = []
    for line in text.split("\n"):
        name, _, value = line.partition(": ")
        pairs.append((name.lower(), value))
    return pairs


def _values(pairs: list[tuple[str, str]], name: str) -> list[str]:
    return [value for key, value in pairs if key == name.lower()]


@pytest.mark.anyio
async def test_headers_origin_and_user_agent_reach_the_server_on_every_engine(
    engine: str, connect: Any, echo_server: EchoServer
) -> None:
    async with connect(
        echo_server.url + "/headers",
        headers={"Authorization": "Bearer token", "X-Trace": "42"},
        origin="https://app.example",
        user_agent="probe/1.0",
    ) as ws:
        received = _received((await ws.receive()).data)
        assert ws.engine == engine
    assert _values(received, "Authorization") == ["Bearer token"]
    assert _values(received, "X-Trace") == ["42"]
    assert _values(received, "Origin") == ["https://app.example"]
    assert _values(received, "User-Agent") == ["probe/1.0"]  # replaced, not added
    assert _values(received, "Sec-WebSocket-Version") == ["13"]


@pytest.mark.anyio
async def test_headers_merge_onto_a_request_and_keep_repeated_names(
    echo_server: EchoServer,
) -> None:
    request = Request(
        "GET",
        echo_server.url + "/headers",
        headers=[("X-Replaced", "from the request"), ("X-Kept", "kept")],
    )
    async with (
        Client(headers={"X-Default": "client", "X-Overridden": "client"}) as client,
        client.websocket(
            request,
            headers=[
                ("x-replaced", "per call"),
                ("X-Multi", "1"),
                ("X-Multi", "2"),
                ("X-Overridden", "per call"),
            ],
            engine="native",
        ) as ws,
    ):
        received = _received((await ws.receive()).data)
    assert _values(received, "X-Replaced") == ["per call"]
    assert _values(received, "X-Kept") == ["kept"]
    assert _values(received, "X-Multi") == ["1", "2"]
    # The client's defaults are still added, and a per-call header wins over one.
    assert _values(received, "X-Default") == ["client"]
    assert _values(received, "X-Overridden") == ["per call"]
    assert _values(received, "User-Agent")[0].startswith("openwire/")


@pytest.mark.anyio
async def test_user_agent_replaces_the_clients_and_origin_is_set_on_a_request(
    echo_server: EchoServer,
) -> None:
    request = Request("GET", echo_server.url + "/headers", headers={"X-From": "request"})
    async with (
        Client(user_agent="client-agent/1") as client,
        client.websocket(request, origin="https://a.example", user_agent="call/2") as ws,
    ):
        received = _received((await ws.receive()).data)
    assert _values(received, "User-Agent") == ["call/2"]
    assert _values(received, "Origin") == ["https://a.example"]
    assert _values(received, "X-From") == ["request"]


@pytest.mark.anyio
async def test_jar_cookies_are_sent_with_a_per_call_cookie(echo_server: EchoServer) -> None:
    jar = MemoryCookieJar()
    url = echo_server.url.replace("ws://", "http://") + "/headers"
    seed = Request("GET", url)
    jar.save(seed, Response(200, headers={"Set-Cookie": "session=jar; Path=/"}, request=seed))
    async with Client(cookie_jar=jar) as client:
        async with client.websocket(echo_server.url + "/headers") as ws:
            only_jar = _received((await ws.receive()).data)
        async with client.websocket(
            echo_server.url + "/headers", headers={"Cookie": "mine=1"}
        ) as ws:
            both = _received((await ws.receive()).data)
    assert _values(only_jar, "Cookie") == ["session=jar"]
    assert _values(both, "Cookie") == ["mine=1; session=jar"]


OWNED = [
    ("Host", "URL"),
    ("Upgrade", "handshake sets it"),
    ("Connection", "handshake sets it"),
    ("Sec-WebSocket-Key", "fresh key"),
    ("Sec-WebSocket-Version", "handshake sets it"),
    ("Sec-WebSocket-Accept", "server's answer"),
    ("sec-websocket-protocol", "subprotocols="),
    ("Sec-WebSocket-Extensions", "compression="),
]


@pytest.mark.parametrize(("name", "hint"), OWNED)
def test_headers_the_handshake_owns_are_refused_with_the_option_to_use(
    name: str, hint: str
) -> None:
    client = Client()
    with pytest.raises(ValueError, match=hint) as info:
        client.new_websocket("ws://127.0.0.1:9/", headers={name: "x"})
    assert name in str(info.value)
    # The same rule when they come on a Request, and through websocket().
    with pytest.raises(ValueError, match=hint):
        client.new_websocket(Request("GET", "ws://127.0.0.1:9/", headers={name: "x"}))
    with pytest.raises(ValueError, match=hint):
        client.websocket("ws://127.0.0.1:9/", headers=[(name, "x")])


@pytest.mark.parametrize(
    ("keyword", "header"), [("origin", "Origin"), ("user_agent", "user-agent")]
)
def test_a_field_given_twice_is_refused(keyword: str, header: str) -> None:
    options: dict[str, Any] = {keyword: "a", "headers": {header: "b"}}
    with pytest.raises(ValueError, match=f"{keyword}= and in headers="):
        Client().new_websocket("ws://127.0.0.1:9/", **options)


def test_the_other_options_keep_their_rules() -> None:
    client = Client()
    with pytest.raises(TypeError, match="unknown WebSocket option"):
        client.new_websocket("ws://127.0.0.1:9/", additional_headers={"X": "1"})
    with pytest.raises(ValueError, match="max_redirects must not be negative"):
        client.new_websocket("ws://127.0.0.1:9/", max_redirects=-1)
    with pytest.raises(ValueError, match="GET"):
        client.new_websocket(Request("POST", "ws://127.0.0.1:9/"))
    call = client.new_websocket("wss://127.0.0.1:9/chat", headers={"X-A": "1"}, handshake_timeout=3)
    assert str(call.request.url) == "wss://127.0.0.1:9/chat"  # kept as written
    assert call.request.headers["x-a"] == "1"
    assert call.options.handshake_timeout == 3
    changed = call.with_options(max_redirects=2, close_timeout=1)
    assert (changed.max_redirects, changed.options.close_timeout) == (2, 1)
    assert changed.request.headers["x-a"] == "1"


def test_the_cli_reports_a_refused_header_instead_of_a_traceback(
    capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from openwire.cli.main import main

    monkeypatch.setenv("NO_COLOR", "1")
    code = main(["ws", "ws://127.0.0.1:9/", "-H", "Sec-WebSocket-Protocol: chat"])
    err = capfd.readouterr().err
    assert code != 0
    assert "subprotocols=" in err
    assert "Traceback" not in err
