"""WebSockets over HTTP/2 (RFC 8441) against real servers over TLS with ALPN."""

from __future__ import annotations

import json
import ssl
import time
from typing import Any

import anyio
import pytest
from openwire import Client, EventListener
from openwire.errors import (
    ConnectionClosedError,
    ConnectionClosedOK,
    GoAway,
    HTTP2StreamError,
    HTTP2Unavailable,
    StreamReset,
)
from openwire.http.chain import Chain
from openwire.http.models import Request, Response
from openwire.http2.channel import H2Channel
from openwire.http2.connection import STREAM_WINDOW

from tests.http2.conftest import Counter, H2Server, refused_tries

pytestmark = pytest.mark.anyio


async def test_echo_over_h2_on_every_engine(
    engine: str, hypercorn_h2: H2Server, h2_client: Any
) -> None:
    async with h2_client() as client:
        ws = await client.new_websocket(hypercorn_h2.url + "/", engine=engine).execute()
        assert ws.http_version == "2"
        assert (ws.response.status, ws.response.http_version) == (200, "HTTP/2")
        assert isinstance(ws._session._channel, H2Channel)  # no task of its own
        await ws.send("hello")
        assert (await ws.receive()).data == "hello"
        big = bytes(range(256)) * 8192  # 2 MiB: crosses both flow-control windows
        await ws.send(big)
        assert (await ws.receive()).data == big
        with anyio.fail_after(5):
            await ws.close()
        assert ws.close_code == 1000


async def test_the_heartbeat_runs_over_an_h2_stream(
    engine: str, hypercorn_h2: H2Server, h2_client: Any
) -> None:
    # The pong deadline starts when the ping has left the stream's queue
    # (H2Channel.flushed): answered pings keep the connection open.
    pongs: list[bytes] = []

    class Pongs(EventListener):
        def websocket_pong_received(self, payload: bytes) -> None:
            pongs.append(payload)

    async with h2_client(event_listener_factory=Pongs) as client:
        ws = await client.new_websocket(
            hypercorn_h2.url + "/", engine=engine, ping_interval=0.02, pong_timeout=0.5
        ).execute()
        with anyio.fail_after(5):
            while len(pongs) < 3:
                await ws.send("tick")
                assert (await ws.receive()).data == "tick"
            await ws.close()
        assert ws.close_code == 1000
    assert set(pongs) == {b"openwire-heartbeat"}


async def test_node_peer_receives_the_extended_connect(node_h2: H2Server, h2_client: Any) -> None:
    async with h2_client(headers={"X-Client": "yes"}) as client:
        async with client.websocket(
            node_h2.url + "/headers?x=1",
            subprotocols=["chat", "superchat"],
            origin="https://example.test",
            headers={"Cookie": "a=b"},
            http_version="2",
            ping_interval=None,
        ) as ws:
            headers = json.loads((await ws.receive()).data)
            assert ws.subprotocol == "chat"
            assert ws.http_version == "2"
            await ws.send("ping")
            assert (await ws.receive()).data == "ping"
    assert headers[":method"] == "CONNECT"
    assert headers[":protocol"] == "websocket"
    assert headers[":scheme"] == "https"
    assert headers[":authority"] == f"127.0.0.1:{node_h2.port}"
    assert headers[":path"] == "/headers?x=1"
    assert headers["sec-websocket-version"] == "13"
    assert headers["sec-websocket-protocol"] == "chat, superchat"
    assert headers["origin"] == "https://example.test"
    assert headers["cookie"] == "a=b"
    assert headers["x-client"] == "yes"
    assert "permessage-deflate" in headers["sec-websocket-extensions"]
    for absent in ("sec-websocket-key", "upgrade", "connection", "host"):
        assert absent not in headers


async def test_many_websockets_share_one_connection(
    hypercorn_h2: H2Server, h2_client: Any, counter: Counter
) -> None:
    async with h2_client() as client:
        sockets: list[Any] = []

        async def open_one() -> None:
            sockets.append(
                await client.new_websocket(hypercorn_h2.url + "/", ping_interval=None).execute()
            )

        async with anyio.create_task_group() as group:
            for _ in range(20):
                group.start_soon(open_one)
        assert counter.count("connect_end") == 1
        for index, ws in enumerate(sockets):
            await ws.send(f"m{index}")
        for index, ws in enumerate(sockets):
            assert (await ws.receive()).data == f"m{index}"
        with anyio.fail_after(5):
            for ws in sockets[:10]:
                await ws.close()
            # The others are unaffected by their neighbours' ends.
            for ws in sockets[10:]:
                await ws.send("still")
                assert (await ws.receive()).data == "still"
                await ws.close()
    assert counter.count("websocket_closed") == 20


async def test_server_close_ends_the_stream(hypercorn_h2: H2Server, h2_client: Any) -> None:
    async with h2_client() as client:
        ws = await client.new_websocket(hypercorn_h2.url + "/close", ping_interval=None).execute()
        await ws.send("bye")
        assert (await ws.receive()).data == "bye"
        with anyio.fail_after(5), pytest.raises(ConnectionClosedError) as info:
            await ws.receive()
        assert (info.value.code, info.value.reason) == (4001, "done")
        await ws.close()  # waits until the stream is released


async def test_auto_falls_back_when_the_setting_is_missing(
    node_h2_plain: H2Server, h2_client: Any, counter: Counter
) -> None:
    async with h2_client() as client:
        for _ in range(2):
            async with client.websocket(node_h2_plain.url + "/", ping_interval=None) as ws:
                assert ws.http_version == "1.1"
                assert ws.response.status == 101
                await ws.send("over 1.1")
                assert (await ws.receive()).data == "over 1.1"
    fallbacks = [args for name, args in counter.args if name == "websocket_http2_fallback"]
    assert [reason for _, reason in fallbacks] == ["setting", "setting"]
    # The first handshake dialled twice (h2, then HTTP/1.1); the second remembered.
    assert counter.count("connect_end") == 3


async def test_version_2_without_the_setting_is_a_typed_error(
    node_h2_plain: H2Server, h2_client: Any
) -> None:
    async with h2_client() as client:
        with pytest.raises(HTTP2Unavailable) as info:
            await client.new_websocket(node_h2_plain.url + "/", http_version="2").execute()
    assert info.value.reason == "setting"
    assert "SETTINGS_ENABLE_CONNECT_PROTOCOL" in str(info.value)


async def test_auto_falls_back_on_the_same_tls_connection_without_h2(
    wss_origin: Any, h2_client: Any, counter: Counter
) -> None:
    url = f"wss://127.0.0.1:{wss_origin.port}/"
    async with h2_client() as client:
        async with client.websocket(url, ping_interval=None) as ws:
            assert ws.http_version == "1.1"
            await ws.send("x")
            assert (await ws.receive()).data == "x"
        with pytest.raises(HTTP2Unavailable) as info:
            await client.new_websocket(url, http_version="2").execute()
    assert info.value.reason == "alpn"
    assert [args[1] for name, args in counter.args if name == "websocket_http2_fallback"] == [
        "alpn"
    ]
    assert counter.count("connect_end") == 2  # one per handshake: the TLS one was reused


async def test_http_version_1_1_and_client_default(hypercorn_h2: H2Server, h2_client: Any) -> None:
    async with h2_client() as client:
        async with client.websocket(
            hypercorn_h2.url + "/", http_version="1.1", ping_interval=None
        ) as ws:
            assert ws.http_version == "1.1"
    async with h2_client(http2=False) as client:
        async with client.websocket(hypercorn_h2.url + "/", ping_interval=None) as ws:
            assert ws.http_version == "1.1"
        async with client.websocket(
            hypercorn_h2.url + "/", http_version="auto", ping_interval=None
        ) as ws:
            assert ws.http_version == "2"


@pytest.mark.parametrize(
    "versions",
    [["2", "1.1", "2", "1.1"], ["1.1", "2", "1.1", "2"]],
    ids=["h2-first", "h11-first"],
)
async def test_an_application_ssl_context_offers_what_each_connection_needs(
    hypercorn_h2: H2Server, h2_client: Any, ca_file: str, versions: list[str]
) -> None:
    # One context for every kind of connection: the ALPN list is set for each
    # handshake, so an upgrade never offers h2 and an RFC 8441 dial always does.
    # A host name and an IP make each WebSocket dial a new connection.
    context = ssl.create_default_context(cafile=ca_file)
    urls = [hypercorn_h2.url, hypercorn_h2.url.replace("127.0.0.1", "localhost")]
    async with h2_client(verify=context) as client:
        for n, version in enumerate(versions):
            url = urls[n // 2 % 2] + "/"
            async with client.websocket(url, http_version=version, ping_interval=None) as ws:
                assert ws.http_version == version
                await ws.send("hello")
                assert (await ws.receive()).data == "hello"


async def test_a_refused_extended_connect_is_tried_once_more_on_another_connection(
    node_h2: H2Server, h2_client: Any, counter: Counter
) -> None:
    ident = f"ws-{id(counter)}-{time.monotonic_ns()}"
    async with h2_client() as client:
        with pytest.raises(HTTP2StreamError) as info:
            await client.new_websocket(
                f"{node_h2.url}/refused-always?{ident}", http_version="2"
            ).execute()
        tries = await refused_tries(client, node_h2, ident)
    assert info.value.error_name == "REFUSED_STREAM"
    assert len(tries) == 2
    assert tries[0] != tries[1]


async def test_stream_reset_fails_only_that_websocket(
    node_h2: H2Server, h2_client: Any, counter: Counter
) -> None:
    async with h2_client() as client:
        other = await client.new_websocket(node_h2.url + "/echo", ping_interval=None).execute()
        ws = await client.new_websocket(node_h2.url + "/reset", ping_interval=None).execute()
        await ws.send("one")
        assert (await ws.receive()).data == "one"
        with anyio.fail_after(5), pytest.raises(StreamReset) as info:
            await ws.receive()
        assert (info.value.error_code, info.value.error_name, info.value.code) == (
            2,
            "INTERNAL_ERROR",
            1011,
        )
        assert ws.close_code == 1011
        await other.send("alive")
        assert (await other.receive()).data == "alive"
        await other.close()
    assert counter.count("websocket_failed") == 1
    assert counter.count("connect_end") == 1


async def test_error_goaway_fails_every_websocket_once(
    node_h2: H2Server, h2_client: Any, counter: Counter
) -> None:
    async with h2_client() as client:
        bystander = await client.new_websocket(node_h2.url + "/echo", ping_interval=None).execute()
        ws = await client.new_websocket(node_h2.url + "/goaway", ping_interval=None).execute()
        await ws.send("one")
        assert (await ws.receive()).data == "one"
        for each in (ws, bystander):
            with anyio.fail_after(5), pytest.raises(GoAway) as info:
                await each.receive()
            assert (info.value.error_name, info.value.code) == ("ENHANCE_YOUR_CALM", 1008)
        # A new WebSocket opens a new connection.
        async with client.websocket(node_h2.url + "/echo", ping_interval=None) as again:
            await again.send("x")
            assert (await again.receive()).data == "x"
    assert counter.count("websocket_failed") == 2
    assert counter.count("connect_end") == 2


async def test_graceful_goaway_lets_open_websockets_finish(
    node_h2: H2Server, h2_client: Any, counter: Counter
) -> None:
    async with h2_client() as client:
        ws = await client.new_websocket(node_h2.url + "/graceful", ping_interval=None).execute()
        await ws.send("one")
        assert (await ws.receive()).data == "one"
        async with client.websocket(node_h2.url + "/echo", ping_interval=None) as fresh:
            await fresh.send("new")
            assert (await fresh.receive()).data == "new"
        await ws.send("two")
        assert (await ws.receive()).data == "two"
        await ws.close()
        assert ws.close_code == 1000
    assert counter.count("websocket_failed") == 0
    assert counter.count("connect_end") == 2


async def test_slow_consumer_does_not_stall_another_stream(
    node_h2: H2Server, h2_client: Any
) -> None:
    async with h2_client() as client:
        slow = await client.new_websocket(
            node_h2.url + "/echo",
            ping_interval=None,
            receive_queue_size=2,
            receive_queue_bytes=256 * 1024,
            compression=None,
        ).execute()
        fast = await client.new_websocket(node_h2.url + "/echo", ping_interval=None).execute()
        chunk = b"s" * (256 * 1024)
        for _ in range(16):  # 4 MiB echoed back to a consumer that does not read
            await slow.send(chunk)
        with anyio.fail_after(5):
            for index in range(50):
                await fast.send(f"f{index}")
                assert (await fast.receive()).data == f"f{index}"
        # What waits unread in the slow stream is bounded by its window.
        stream = slow._session._channel._stream
        assert sum(len(data) for data, _ in stream._inbound) <= STREAM_WINDOW
        with anyio.fail_after(10):
            for _ in range(16):
                assert (await slow.receive()).data == chunk
        await slow.close()
        await fast.close()


async def test_interceptors_see_the_version_field(hypercorn_h2: H2Server, h2_client: Any) -> None:
    seen: list[tuple[str, str, str]] = []

    async def network(request: Request, chain: Chain) -> Response:
        response = await chain.proceed(request)
        offer = request.websocket
        seen.append(
            (
                getattr(offer, "http_version", ""),
                request.headers.get("upgrade") or "",
                response.http_version,
            )
        )
        return response

    async with h2_client(network_interceptors=[network]) as client:
        async with client.websocket(hypercorn_h2.url + "/", ping_interval=None) as ws:
            assert ws.http_version == "2"
    assert seen == [("auto", "websocket", "HTTP/2")]


async def test_events_name_the_version(
    hypercorn_h2: H2Server, h2_client: Any, counter: Counter
) -> None:
    async with h2_client() as client:
        async with client.websocket(hypercorn_h2.url + "/", ping_interval=None):
            pass
    assert ("websocket_open", ("HTTP/2",)) in counter.args


async def test_client_close_keeps_open_websockets(hypercorn_h2: H2Server, h2_client: Any) -> None:
    client: Client = h2_client()
    ws = await client.new_websocket(hypercorn_h2.url + "/", ping_interval=None).execute()
    await client.aclose()
    await ws.send("after")
    assert (await ws.receive()).data == "after"
    with anyio.fail_after(5):
        await ws.close()
    with pytest.raises(ConnectionClosedOK):
        await ws.receive()


async def test_through_an_http_proxy_tunnel(
    node_h2: H2Server, h2_client: Any, tinyproxy: Any
) -> None:
    async with h2_client(proxy=tinyproxy.url) as client:
        async with (
            client.websocket(node_h2.url + "/echo", http_version="2", ping_interval=None) as first,
            client.websocket(node_h2.url + "/echo", http_version="2", ping_interval=None) as second,
        ):
            for ws in (first, second):
                assert ws.http_version == "2"
                await ws.send("tunnelled")
                assert (await ws.receive()).data == "tunnelled"


async def test_a_broken_connection_fails_every_websocket_once(
    node_h2: H2Server, h2_client: Any, counter: Counter
) -> None:
    async with h2_client() as client:
        bystander = await client.new_websocket(node_h2.url + "/echo", ping_interval=None).execute()
        ws = await client.new_websocket(node_h2.url + "/drop", ping_interval=None).execute()
        await ws.send("one")
        assert (await ws.receive()).data == "one"
        for each in (ws, bystander):
            with anyio.fail_after(5), pytest.raises(ConnectionClosedError) as info:
                await each.receive()
            assert info.value.code == 1006
            await each.close()
    assert counter.count("websocket_failed") == 2


async def test_max_concurrent_streams_opens_another_connection(
    node_h2_two_streams: H2Server, h2_client: Any, counter: Counter
) -> None:
    async with h2_client() as client:
        sockets = [
            await client.new_websocket(
                node_h2_two_streams.url + "/echo", ping_interval=None
            ).execute()
            for _ in range(5)
        ]
        assert counter.count("connect_end") == 3
        for ws in sockets:
            await ws.send("x")
            assert (await ws.receive()).data == "x"
        await sockets[0].close()
        # The closed stream's slot is free again: no new connection.
        async with client.websocket(node_h2_two_streams.url + "/echo", ping_interval=None) as again:
            await again.send("y")
            assert (await again.receive()).data == "y"
        assert counter.count("connect_end") == 3
        for ws in sockets[1:]:
            await ws.close()
