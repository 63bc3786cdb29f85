"""WebSocket spans (handshake and connection) and metrics, on every engine, against the
scripted raw server (which also records the ``traceparent`` of the handshake)."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from opentelemetry.trace import SpanKind, StatusCode
from openwire import AuthenticationFailed, Client, ConnectionClosedError, PongTimeout
from openwire.testing.frames import close_payload, frame
from openwire.testing.servers import RawPeer

from tests.otel.conftest import Otel, event_names, traceparent

pytestmark = pytest.mark.anyio


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/")[0])


async def test_a_websocket_that_closes_normally(engine: str, otel: Otel, scripted: Any) -> None:
    heads: list[dict[str, str]] = []

    async def script(peer: RawPeer) -> None:
        await peer.handshake(
            extra_headers=[
                ("Sec-WebSocket-Protocol", "chat"),
                ("Sec-WebSocket-Extensions", "permessage-deflate"),
            ]
        )
        heads.append(peer.request_headers)
        got = await peer.read_frame()
        assert got is not None
        await peer.send(frame(0x1, got.payload))
        ping = await peer.read_frame()
        assert ping is not None
        assert ping.opcode == 0x9
        await peer.send(frame(0xA, ping.payload))
        await peer.send(frame(0x8, close_payload(1000, "bye")))
        await peer.read_until_close()

    server = scripted(script)
    port = _port(server.url)
    with otel.tracer.start_as_current_span("parent") as parent:
        async with Client(**otel.settings()) as client:
            ws = await client.new_websocket(
                server.url + "chat", engine=engine, subprotocols=["chat"], ping_interval=None
            ).execute()
            await ws.send("hi")
            assert (await ws.receive()).data == "hi"
            await ws.ping()
            async for _ in ws:
                pass
    await server.wait()

    handshake, connection = otel.spans()
    negotiated = {
        "openwire.websocket.engine": engine,
        "openwire.websocket.subprotocol": "chat",
        "openwire.websocket.extensions": ("permessage-deflate",),
    }
    assert handshake.name == "GET"
    assert handshake.kind is SpanKind.CLIENT
    assert dict(handshake.attributes or {}) == {
        "http.request.method": "GET",
        "url.full": f"ws://127.0.0.1:{port}/chat",
        "server.address": "127.0.0.1",
        "server.port": port,
        "openwire.websocket.handshake": True,
        "openwire.connection.reused": False,
        "http.response.status_code": 101,
        "network.protocol.version": "1.1",
        **negotiated,
    }
    assert event_names(handshake) == [
        "openwire.connect.start",
        "openwire.connect.end",
        "openwire.response.headers",
    ]
    assert handshake.status.status_code is StatusCode.UNSET
    assert heads[0]["traceparent"] == traceparent(handshake)

    assert connection.name == "WebSocket"
    assert connection.kind is SpanKind.INTERNAL
    assert dict(connection.attributes or {}) == {
        "url.full": f"ws://127.0.0.1:{port}/chat",
        "server.address": "127.0.0.1",
        "server.port": port,
        "url.scheme": "ws",
        **negotiated,
        "openwire.websocket.close.code": 1000,
        "openwire.websocket.close.reason": "bye",
        "openwire.websocket.close.initiator": "server",
        "openwire.websocket.messages.sent": 1,
        "openwire.websocket.messages.received": 1,
    }
    assert event_names(connection) == ["openwire.websocket.closing"]
    assert connection.events[0].timestamp < (connection.end_time or 0)
    assert connection.status.status_code is StatusCode.UNSET
    # Both under the caller's span; the connection links to its handshake.
    for span in (handshake, connection):
        assert span.parent is not None
        assert span.parent.span_id == parent.get_span_context().span_id
    assert [link.context for link in connection.links] == [handshake.get_span_context()]
    assert connection.start_time is not None
    assert handshake.end_time is not None
    assert connection.start_time <= handshake.end_time

    where = {
        "server.address": "127.0.0.1",
        "server.port": port,
        "url.scheme": "ws",
        "openwire.websocket.engine": engine,
    }
    metrics = otel.metrics()
    assert metrics["http.client.request.duration"] == [
        (
            {
                "http.request.method": "GET",
                "server.address": "127.0.0.1",
                "server.port": port,
                "http.response.status_code": 101,
                "network.protocol.version": "1.1",
            },
            1,
        )
    ]
    assert metrics["openwire.websocket.open_connections"] == [(where, 0)]
    assert metrics["openwire.websocket.connection.duration"] == [(where, 1)]
    assert metrics["openwire.websocket.ping.duration"] == [(where, 1)]
    assert metrics["openwire.websocket.closes"] == [
        (
            {
                **where,
                "openwire.websocket.close.code": 1000,
                "openwire.websocket.close.initiator": "server",
            },
            1,
        )
    ]

    def by_series(name: str) -> dict[tuple[str, str], int]:
        series = {}
        for attributes, value in metrics[name]:
            rest = dict(attributes)
            key = (rest.pop("network.io.direction"), rest.pop("openwire.websocket.opcode"))
            assert rest == where
            series[key] = value
        return series

    assert by_series("openwire.websocket.messages") == {
        ("transmit", "text"): 1,
        ("transmit", "binary"): 0,
        ("receive", "text"): 1,
        ("receive", "binary"): 0,
    }
    assert by_series("openwire.websocket.io") == {
        ("transmit", "text"): 2,
        ("transmit", "binary"): 0,
        ("receive", "text"): 2,
        ("receive", "binary"): 0,
    }


async def test_message_counts_are_observed_while_the_connection_is_open(
    engine: str, otel: Otel, scripted: Any
) -> None:
    async def script(peer: RawPeer) -> None:
        await peer.handshake()
        for _ in range(3):
            got = await peer.read_frame()
            assert got is not None
            await peer.send(frame(0x2, got.payload))
        await peer.read_until_close()

    server = scripted(script)
    async with Client(**otel.settings()) as client:
        ws = await client.new_websocket(server.url, engine=engine, ping_interval=None).execute()
        for _ in range(3):
            await ws.send(b"12345")
            await ws.receive()
        metrics = otel.metrics()
        await ws.close()
    await server.wait()
    assert [v for _, v in metrics["openwire.websocket.open_connections"]] == [1]
    counts = {
        (a["network.io.direction"], a["openwire.websocket.opcode"]): v
        for a, v in metrics["openwire.websocket.io"]
    }
    assert counts[("transmit", "binary")] == 15
    assert counts[("receive", "binary")] == 15
    assert "openwire.websocket.connection.duration" not in metrics
    # Closing keeps the totals (the connection's counts move to the closed ones).
    after = {
        (a["network.io.direction"], a["openwire.websocket.opcode"]): v
        for a, v in otel.metrics()["openwire.websocket.io"]
    }
    assert after == counts
    (connection,) = [s for s in otel.spans() if s.name == "WebSocket"]
    assert (connection.attributes or {})["openwire.websocket.close.initiator"] == "client"


async def test_message_events_are_bounded(engine: str, otel: Otel, scripted: Any) -> None:
    async def script(peer: RawPeer) -> None:
        await peer.handshake()
        for _ in range(2):
            got = await peer.read_frame()
            assert got is not None
            await peer.send(frame(0x1, got.payload))
        await peer.read_until_close()

    server = scripted(script)
    async with Client(**otel.settings(message_events=True, max_message_events=3)) as client:
        ws = await client.new_websocket(server.url, engine=engine, ping_interval=None).execute()
        for text in ("one", "three"):
            await ws.send(text)
            await ws.receive()
        await ws.close()
    await server.wait()
    (connection,) = [s for s in otel.spans() if s.name == "WebSocket"]
    messages = [e for e in connection.events if e.name == "openwire.websocket.message"]
    assert [dict(e.attributes or {}) for e in messages] == [
        {
            "network.io.direction": direction,
            "openwire.websocket.opcode": "text",
            "openwire.websocket.message.size": size,
        }
        for direction, size in (("transmit", 3), ("receive", 3), ("transmit", 5))
    ]
    assert (connection.attributes or {})["openwire.websocket.message_events.dropped"] == 1


async def test_a_pong_timeout_fails_the_connection_span(
    engine: str, otel: Otel, scripted: Any
) -> None:
    async def script(peer: RawPeer) -> None:
        await peer.handshake()
        await peer.read_until_close()  # pings unanswered

    server = scripted(script)
    async with Client(**otel.settings()) as client:
        ws = await client.new_websocket(
            server.url, engine=engine, ping_interval=0.05, pong_timeout=0.05, close_timeout=1
        ).execute()
        with anyio.fail_after(5), pytest.raises(PongTimeout):
            await ws.receive()
    await server.wait()

    handshake, connection = otel.spans()
    assert handshake.status.status_code is StatusCode.UNSET
    attributes = dict(connection.attributes or {})
    assert attributes["error.type"] == "openwire.PongTimeout"
    assert attributes["openwire.websocket.close.code"] == 1011
    assert type(attributes["openwire.websocket.close.code"]) is int  # not a CloseCode member
    assert attributes["openwire.websocket.close.initiator"] == "client"
    assert "openwire.websocket.close.reason" not in attributes
    assert connection.status.status_code is StatusCode.ERROR
    assert event_names(connection) == ["exception"]
    exception = connection.events[0].attributes or {}
    assert exception["exception.type"] == "openwire.errors.PongTimeout"

    port = _port(server.url)
    where = {
        "server.address": "127.0.0.1",
        "server.port": port,
        "url.scheme": "ws",
        "openwire.websocket.engine": engine,
    }
    metrics = otel.metrics()
    assert metrics["openwire.websocket.closes"] == [
        (
            {
                **where,
                "openwire.websocket.close.code": 1011,
                "openwire.websocket.close.initiator": "client",
                "error.type": "openwire.PongTimeout",
            },
            1,
        )
    ]
    assert metrics["openwire.websocket.connection.duration"] == [
        ({**where, "error.type": "openwire.PongTimeout"}, 1)
    ]
    assert metrics["openwire.websocket.open_connections"] == [(where, 0)]
    assert "openwire.websocket.ping.duration" not in metrics


async def test_a_protocol_error_fails_the_connection_span(
    engine: str, otel: Otel, scripted: Any
) -> None:
    async def script(peer: RawPeer) -> None:
        await peer.handshake()
        await peer.send(frame(0x3, b"reserved opcode"))
        await peer.read_until_close()

    server = scripted(script)
    async with Client(**otel.settings()) as client:
        ws = await client.new_websocket(server.url, engine=engine, ping_interval=None).execute()
        with anyio.fail_after(5), pytest.raises(ConnectionClosedError):
            await ws.receive()
    await server.wait()

    _, connection = otel.spans()
    attributes = dict(connection.attributes or {})
    assert attributes["error.type"] == "openwire.ConnectionClosedError"
    assert attributes["openwire.websocket.close.code"] == 1002
    assert attributes["openwire.websocket.close.initiator"] == "client"
    assert attributes["openwire.websocket.messages.received"] == 0
    assert connection.status.status_code is StatusCode.ERROR
    (closes,) = otel.metrics()["openwire.websocket.closes"]
    assert closes[0]["openwire.websocket.close.code"] == 1002
    assert type(closes[0]["openwire.websocket.close.code"]) is int
    assert closes[0]["error.type"] == "openwire.ConnectionClosedError"


async def test_a_handshake_rejected_with_403(engine: str, otel: Otel, scripted: Any) -> None:
    heads: list[dict[str, str]] = []

    async def script(peer: RawPeer) -> None:
        await peer.handshake(status="403 Forbidden", headers=[], body=b"no")
        heads.append(peer.request_headers)

    server = scripted(script)
    port = _port(server.url)
    async with Client(**otel.settings()) as client:
        with pytest.raises(AuthenticationFailed):
            await client.new_websocket(server.url, engine=engine).execute()
    await server.wait()

    (span,) = otel.spans()  # no connection span: it never opened
    assert dict(span.attributes or {}) == {
        "http.request.method": "GET",
        "url.full": f"ws://127.0.0.1:{port}/",
        "server.address": "127.0.0.1",
        "server.port": port,
        "openwire.websocket.handshake": True,
        "openwire.connection.reused": False,
        "http.response.status_code": 403,
        "network.protocol.version": "1.1",
        "error.type": "403",
    }
    assert span.status.status_code is StatusCode.ERROR
    assert event_names(span)[-1] == "exception"
    exception = span.events[-1].attributes or {}
    assert exception["exception.type"] == "openwire.errors.AuthenticationFailed"
    assert heads[0]["traceparent"] == traceparent(span)

    metrics = otel.metrics()
    assert metrics["http.client.request.duration"] == [
        (
            {
                "http.request.method": "GET",
                "server.address": "127.0.0.1",
                "server.port": port,
                "http.response.status_code": 403,
                "network.protocol.version": "1.1",
                "error.type": "403",
            },
            1,
        )
    ]
    assert "openwire.websocket.open_connections" not in metrics


async def test_reconnect_attempts_are_counted(engine: str, otel: Otel, scripted: Any) -> None:
    from openwire import ReconnectGaveUp, ReconnectPolicy

    async def script(peer: RawPeer) -> None:
        await peer.handshake()
        await peer.send(frame(0x8, close_payload(1012, "restart")))
        await peer.read_until_close()

    server = scripted(script)
    policy = ReconnectPolicy(base_delay=0.001, max_retries=1)
    opened = 0

    async def run(client: Client) -> None:
        nonlocal opened
        async for ws in client.websocket_reconnecting(
            server.url, engine=engine, policy=policy, ping_interval=None
        ):
            opened += 1
            with pytest.raises(ConnectionClosedError):
                await ws.receive()

    async with Client(**otel.settings()) as client:
        with pytest.raises(ReconnectGaveUp):
            await run(client)
    assert opened == 2
    metrics = otel.metrics()
    assert metrics["openwire.websocket.reconnects"] == [
        ({"error.type": "openwire.ConnectionClosedError"}, 1)
    ]
    (closes,) = metrics["openwire.websocket.closes"]
    assert closes[1] == 2
    assert len([s for s in otel.spans() if s.name == "WebSocket"]) == 2


async def test_a_redirected_handshake_is_a_span_per_hop(
    engine: str, otel: Otel, scripted: Any
) -> None:
    heads: list[tuple[str, str]] = []

    async def script(peer: RawPeer) -> None:
        await peer.read_request()
        heads.append((peer.path, peer.request_headers["traceparent"]))
        if peer.path == "/":
            await peer.send(b"HTTP/1.1 302 Found\r\nLocation: /ws\r\nContent-Length: 0\r\n\r\n")
            return
        await peer.send(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + f"Sec-WebSocket-Accept: {peer.accept_value()}\r\n\r\n".encode()
        )
        await peer.read_until_close()

    server = scripted(script)
    port = _port(server.url)
    async with Client(**otel.settings()) as client:
        ws = await client.new_websocket(server.url, engine=engine, ping_interval=None).execute()
        await ws.close()

    hop, handshake, connection = otel.spans()
    assert (hop.attributes or {})["http.response.status_code"] == 302
    assert "http.request.resend_count" not in (hop.attributes or {})
    assert "openwire.websocket.engine" not in (hop.attributes or {})
    attributes = dict(handshake.attributes or {})
    assert attributes["url.full"] == f"ws://127.0.0.1:{port}/ws"
    assert attributes["http.request.resend_count"] == 1
    assert attributes["http.response.status_code"] == 101
    assert attributes["openwire.websocket.engine"] == engine
    assert heads == [("/", traceparent(hop)), ("/ws", traceparent(handshake))]
    assert [link.context for link in connection.links] == [handshake.get_span_context()]
    assert (connection.attributes or {})["url.full"] == f"ws://127.0.0.1:{port}/ws"


async def test_the_connection_span_shows_the_url_redacted_as_the_handshake_did(
    engine: str, otel: Otel, scripted: Any
) -> None:
    # The connection's url.full is the handshake's, with the WebSocket scheme:
    # credentials and sensitive query values stay redacted in both.
    async def script(peer: RawPeer) -> None:
        await peer.handshake()
        await peer.read_until_close()

    server = scripted(script)
    port = _port(server.url)
    url = server.url.replace("://", "://user:secret@") + "feed?sig=abc&room=1"
    async with Client(**otel.settings()) as client:
        ws = await client.new_websocket(url, engine=engine, ping_interval=None).execute()
        await ws.close()
    await server.wait()

    handshake, connection = otel.spans()
    # The URL's credentials went into Authorization (and out of the URL).
    target = f"127.0.0.1:{port}/feed?sig=REDACTED&room=1"
    assert (handshake.attributes or {})["url.full"] == f"ws://{target}"  # as written
    assert (connection.attributes or {})["url.full"] == f"ws://{target}"
