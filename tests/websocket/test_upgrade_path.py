"""The handshake's and the close's costs: what each cut keeps.

An upgrade arms as few timers as the rules allow (a step timeout that the
handshake_timeout would beat arms none; a close timer still armed when the
connection closes becomes the abort timer), checks each request field once,
and builds the options and URL parts of a repeated call once. These tests
hold the behaviour those cuts must keep.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import anyio
import pytest
from openwire import URL, Client, Timeouts
from openwire.errors import ReadTimeout
from openwire.protocol.http11 import InvalidRequestHead, serialize_request
from openwire.testing.frames import close_payload, frame
from openwire.testing.servers import RawPeer
from openwire.websocket.options import WebSocketOptions

# ------------------------------------------------------------------- closing


@pytest.mark.anyio
async def test_close_returns_after_the_abort_when_the_peer_stops_reading(
    engine: str, connect: Any, scripted: Any
) -> None:
    # Our Close waits behind data the peer never reads; the peer sends its own
    # Close meanwhile. The connection is CLOSED at once, the socket cannot
    # flush, so the linger cannot end it: the abort timer (the close timer,
    # kept) drops it close_timeout + 1 s after, and close() returns then.
    filled = threading.Event()
    returned = threading.Event()
    seen: dict[str, Any] = {}

    async def script(peer: RawPeer) -> None:
        await peer.handshake()
        await asyncio.to_thread(filled.wait, 5)  # reads nothing meanwhile
        await peer.send(frame(0x8, close_payload(1000, "")))
        await asyncio.to_thread(returned.wait, 6)  # still reads nothing
        try:
            seen["end"] = await peer.wait_eof(timeout=6)
        except ConnectionError:
            seen["end"] = True  # the abort: a reset

    server = scripted(script)
    async with connect(
        server.url, close_timeout=0.3, send_queue_size=4, send_queue_bytes=256 * 1024
    ) as ws:
        with anyio.move_on_after(0.5):
            while True:
                await ws.send(b"x" * 65536)
        filled.set()
        started = time.monotonic()
        try:
            with anyio.fail_after(5):
                await ws.close()
        finally:
            returned.set()
        took = time.monotonic() - started
    await server.wait()
    assert ws.close_code == 1000
    assert seen["end"] is True, "the socket must end"
    # Not before the linger (close_timeout) plus the abort's second.
    assert 1.2 <= took < 4, f"close() took {took:.2f}s"


# ------------------------------------------------------------------ the request


@pytest.mark.anyio
async def test_the_handshake_fields_go_out_in_order_and_replace_defaults(
    echo_server: Any,
) -> None:
    # Host first, the call's fields, the client's defaults, User-Agent, then the
    # handshake's own, which replace any default of the same name.
    sent: list[list[tuple[str, str]]] = []

    async def wire(request: Any, chain: Any) -> Any:
        sent.append(request.headers.items())
        return await chain.proceed(request)

    defaults = {"X-Default": "1", "Upgrade": "h2c", "sec-websocket-version": "8"}
    async with Client(headers=defaults, network_interceptors=[wire]) as client:
        for _ in range(2):  # the second handshake reuses what the first one built
            ws = await client.new_websocket(echo_server.url, headers={"X-Call": "2"}).execute()
            await ws.close()
    for fields in sent:
        names = [name.lower() for name, _ in fields]
        assert names[:4] == ["host", "x-call", "x-default", "user-agent"]
        assert names[4:8] == ["upgrade", "connection", "sec-websocket-key", "sec-websocket-version"]
        assert dict(fields)["Upgrade"] == "websocket"
        assert dict(fields)["Sec-WebSocket-Version"] == "13"
        assert len(names) == len(set(names))
    assert sent[0][6] != sent[1][6], "each handshake sends a fresh key"


def test_a_field_checked_once_does_not_let_a_bad_one_through() -> None:
    good = [(b"Host", b"example.com"), (b"X-A", b"1")]
    for _ in range(2):
        assert serialize_request(b"GET", b"/", good).endswith(b"X-A: 1\r\n\r\n")
    for bad in ((b"X-A", b"1\r\nX-B: 2"), (b"X-A", b" 1"), (b"X A", b"1")):
        with pytest.raises(InvalidRequestHead):
            serialize_request(b"GET", b"/", [*good, bad])


def test_credentials_and_fresh_keys_are_not_kept_once_checked() -> None:
    from openwire.protocol import http11

    fields = [
        (b"Host", b"example.com"),
        (b"Authorization", b"Bearer secret-token"),
        (b"Proxy-Authorization", b"Basic c2VjcmV0"),
        (b"Cookie", b"session=secret"),
        (b"Sec-WebSocket-Key", b"dGhlIHNhbXBsZSBub25jZQ=="),
    ]
    http11._CHECKED_FIELDS.clear()  # a cache: other tests may have filled it to its bound
    serialize_request(b"GET", b"/", fields)
    kept = {value for _, value in http11._CHECKED_FIELDS}
    assert b"example.com" in kept
    for _, value in fields[1:]:
        assert value not in kept


def test_equal_options_are_built_once_and_checked_every_time() -> None:
    first = WebSocketOptions.of(ping_interval=None, compression=None)
    assert WebSocketOptions.of(ping_interval=None, compression=None) is first
    assert WebSocketOptions.of(ping_interval=5.0, compression=None) is not first
    listed = WebSocketOptions.of(subprotocols=["chat"])  # not hashable: built each time
    assert listed.subprotocols == ("chat",)
    for _ in range(2):
        with pytest.raises(ValueError, match="handshake_timeout"):
            WebSocketOptions.of(handshake_timeout=-1)
        with pytest.raises(TypeError, match="unknown WebSocket option"):
            WebSocketOptions.of(no_such_option=1)


def test_urls_parsed_once_stay_independent_values() -> None:
    one, two = URL("WS://Example.com:8080/a"), URL("WS://Example.com:8080/a")
    assert (one.scheme, one.host, one.port, one.target) == ("ws", "example.com", 8080, "/a")
    one.path = "/changed"
    assert two.path == "/a"
    assert URL("WS://Example.com:8080/a").path == "/a"
    for _ in range(2):
        with pytest.raises(ValueError, match="invalid port"):
            URL("http://example.com:99999/")


def test_urls_that_may_carry_a_secret_are_not_cached() -> None:
    from openwire.http import url as url_module

    url_module._parse.cache_clear()  # a cache: other tests may have filled it to its bound
    with_userinfo = URL("wss://user:secret@example.com/feed")
    with_token = URL("wss://example.com/feed?token=secret")
    assert url_module._parse.cache_info().currsize == 0
    assert (with_userinfo.password, with_token.query) == ("secret", "token=secret")
    URL("wss://example.com/feed")
    assert url_module._parse.cache_info().currsize == 1


# ------------------------------------------------------------------ timeouts


@pytest.mark.anyio
async def test_without_a_handshake_timeout_the_read_timeout_still_applies(
    scripted: Any,
) -> None:
    # No enclosing deadline: the read of the answer arms its own timer.
    async def silent(peer: RawPeer) -> None:
        await peer.read_request()
        await peer.wait_eof()

    server = scripted(silent)
    async with Client(timeouts=Timeouts(read=0.2)) as client:
        with anyio.fail_after(5), pytest.raises(ReadTimeout):
            await client.new_websocket(server.url, handshake_timeout=None).execute()


# ---------------------------------------------------------------- hand-over


@pytest.mark.anyio
async def test_a_burst_right_after_the_101_arrives_whole_and_in_order(
    engine: str, connect: Any, scripted: Any
) -> None:
    # Reading is not paused at the hand-over: what comes with and right after
    # the 101 (here 1 MiB, past the 256 KiB the channel holds before it
    # starts) is delivered in order, none lost, none twice.
    messages = [bytes([i]) * 65536 for i in range(16)]
    burst = b"".join(frame(0x2, m) for m in messages)

    async def script(peer: RawPeer) -> None:
        await peer.handshake(trailing=burst[:1000])
        await peer.send(burst[1000:])
        await peer.read_until_close()

    server = scripted(script)
    async with connect(server.url, max_message_size=None) as ws:
        with anyio.fail_after(10):
            for expected in messages:
                assert (await ws.receive()).data == expected
            await ws.close()
    await server.wait()


@pytest.mark.anyio
async def test_credentials_in_a_websocket_url_go_as_basic_auth(scripted: Any) -> None:
    heads: list[bytes] = []

    async def script(peer: RawPeer) -> None:
        await peer.handshake()
        heads.append(peer.request_head)
        await peer.read_until_close()

    server = scripted(script)
    url = server.url.replace("ws://", "ws://al%40ice:s3cret@")
    async with Client() as client, client.websocket(url) as ws:
        assert ws.response.request is not None
        assert "s3cret" not in str(ws.response.request.url)
    await server.wait()
    fields = heads[0].decode("latin-1").split("\r\n")
    assert "Authorization: Basic YWxAaWNlOnMzY3JldA==" in fields
    assert "s3cret" not in fields[0] and "al%40ice" not in fields[0]
