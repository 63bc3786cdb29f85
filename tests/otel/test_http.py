"""HTTP client spans and the duration metric, with the real SDK, against a server that
records the ``traceparent`` each request carried."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import Any

import pytest
from opentelemetry.trace import SpanKind, StatusCode
from openwire import Client, ConnectError, Request

from tests.http_peers import Handler, RawServer, read_request_head
from tests.otel.conftest import Otel, event_names, traceparent

pytestmark = pytest.mark.anyio

Received = list[tuple[str, str | None]]


def recording_server(
    raw_server: Callable[[Handler], RawServer],
) -> tuple[RawServer, Received]:
    """A keep-alive HTTP/1.1 server: ``/start`` redirects to ``/final``, anything else is 200.

    It records ``(path, traceparent)`` for every request it reads.
    """
    received: Received = []

    async def handler(
        index: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        while True:
            try:
                head = (await read_request_head(reader)).decode("latin-1")
            except asyncio.IncompleteReadError:
                return
            lines = head.split("\r\n")
            path = lines[0].split(" ")[1]
            fields = {
                name.strip().lower(): value.strip()
                for name, _, value in (line.partition(":") for line in lines[1:] if ":" in line)
            }
            received.append((path, fields.get("traceparent")))
            if path == "/start":
                writer.write(b"HTTP/1.1 302 Found\r\nLocation: /final\r\nContent-Length: 0\r\n\r\n")
            else:
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
            await writer.drain()

    server = raw_server(handler)
    return server, received


async def test_a_successful_call(otel: Otel, raw_server: Any) -> None:
    server, received = recording_server(raw_server)
    port = int(server.url.rsplit(":", 1)[1])
    url = f"http://user:secret@127.0.0.1:{port}/ok?a=1&sig=signed&X-Goog-Signature=x"
    with otel.tracer.start_as_current_span("parent") as parent:
        async with Client(**otel.settings()) as client:
            response = await client.get(url)
    assert await response.text() == "hello"

    (span,) = otel.spans()
    assert span.name == "GET"
    assert span.kind is SpanKind.CLIENT
    assert dict(span.attributes or {}) == {
        "http.request.method": "GET",
        # The URL's credentials went into Authorization (and out of the URL).
        "url.full": f"http://127.0.0.1:{port}/ok?a=1&sig=REDACTED&X-Goog-Signature=REDACTED",
        "server.address": "127.0.0.1",
        "server.port": port,
        "openwire.connection.reused": False,
        "http.response.status_code": 200,
        "network.protocol.version": "1.1",
    }
    assert event_names(span) == [
        "openwire.connect.start",
        "openwire.connect.end",
        "openwire.response.headers",
    ]
    assert span.status.status_code is StatusCode.UNSET
    assert span.parent is not None
    assert span.parent.span_id == parent.get_span_context().span_id
    assert span.context is not None
    assert span.context.trace_id == parent.get_span_context().trace_id
    # The server saw this span's context, not the parent's.
    assert received == [("/ok?a=1&sig=signed&X-Goog-Signature=x", traceparent(span))]

    metrics = otel.metrics()
    assert metrics["http.client.request.duration"] == [
        (
            {
                "http.request.method": "GET",
                "server.address": "127.0.0.1",
                "server.port": port,
                "http.response.status_code": 200,
                "network.protocol.version": "1.1",
            },
            1,
        )
    ]


async def test_credentials_in_a_hand_built_request_url_are_redacted(
    otel: Otel, raw_server: Any
) -> None:
    # client.get() turns URL credentials into Authorization; a Request built by
    # hand keeps them in its URL, and the span must not show them.
    server, _ = recording_server(raw_server)
    port = int(server.url.rsplit(":", 1)[1])
    async with Client(**otel.settings()) as client:
        request = Request("GET", f"http://user:secret@127.0.0.1:{port}/ok")
        async with await client.execute(request) as response:
            await response.aread()
    (span,) = otel.spans()
    assert (span.attributes or {})["url.full"] == f"http://REDACTED:REDACTED@127.0.0.1:{port}/ok"


async def test_dns_steps_are_span_events(otel: Otel, raw_server: Any) -> None:
    server, _ = recording_server(raw_server)
    port = int(server.url.rsplit(":", 1)[1])
    async with Client(**otel.settings()) as client:
        await client.get(f"http://localhost:{port}/ok")
    (span,) = otel.spans()
    names = event_names(span)
    assert names[:2] == ["openwire.dns.start", "openwire.dns.end"]
    addresses = (span.events[1].attributes or {})["openwire.dns.addresses"]
    assert "127.0.0.1" in addresses  # type: ignore[operator]
    assert names[-2:] == ["openwire.connect.end", "openwire.response.headers"]
    assert (span.attributes or {})["server.address"] == "localhost"


async def test_a_redirect_is_two_spans_each_with_its_own_context(
    otel: Otel, raw_server: Any
) -> None:
    server, received = recording_server(raw_server)
    port = int(server.url.rsplit(":", 1)[1])
    with otel.tracer.start_as_current_span("parent") as parent:
        async with Client(**otel.settings()) as client:
            response = await client.get(f"{server.url}/start")
    assert response.status == 200

    first, second = otel.spans()
    base = {
        "http.request.method": "GET",
        "server.address": "127.0.0.1",
        "server.port": port,
        "network.protocol.version": "1.1",
    }
    assert dict(first.attributes or {}) == {
        **base,
        "url.full": f"http://127.0.0.1:{port}/start",
        "openwire.connection.reused": False,
        "http.response.status_code": 302,
    }
    assert dict(second.attributes or {}) == {
        **base,
        "url.full": f"http://127.0.0.1:{port}/final",
        "http.request.resend_count": 1,
        "openwire.connection.reused": True,
        "http.response.status_code": 200,
    }
    # The second hop reused the connection: no connect events.
    assert event_names(second) == ["openwire.response.headers"]
    for span in (first, second):
        assert span.parent is not None
        assert span.parent.span_id == parent.get_span_context().span_id
    assert received == [("/start", traceparent(first)), ("/final", traceparent(second))]

    points = otel.metrics()["http.client.request.duration"]
    assert sorted((a["http.response.status_code"], count) for a, count in points) == [
        (200, 1),
        (302, 1),
    ]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_a_failed_call_and_its_retry(otel: Otel) -> None:
    port = _closed_port()
    async with Client(**otel.settings()) as client:
        with pytest.raises(ConnectError) as info:
            await client.get(f"http://127.0.0.1:{port}/")

    first, retry = otel.spans()
    for span, resend in ((first, None), (retry, 1)):
        attributes = dict(span.attributes or {})
        assert attributes.pop("http.request.resend_count", None) == resend
        assert attributes == {
            "http.request.method": "GET",
            "url.full": f"http://127.0.0.1:{port}/",
            "server.address": "127.0.0.1",
            "server.port": port,
            "error.type": "openwire.ConnectError",
        }
        assert event_names(span) == [
            "openwire.connect.start",
            "openwire.connect.failed",
            "exception",
        ]
        failed = span.events[1].attributes or {}
        assert failed["error.type"] == "openwire.ConnectError"
        exception = span.events[2].attributes or {}
        assert exception["exception.type"] == "openwire.errors.ConnectError"
        assert span.status.status_code is StatusCode.ERROR
    # The call's error is the retry's.
    assert str(info.value) in (retry.events[2].attributes or {})["exception.message"]  # type: ignore[operator]

    assert otel.metrics()["http.client.request.duration"] == [
        (
            {
                "http.request.method": "GET",
                "server.address": "127.0.0.1",
                "server.port": port,
                "error.type": "openwire.ConnectError",
            },
            2,
        )
    ]


async def test_the_global_propagator_and_an_own_listener_and_interceptor(
    otel: Otel, raw_server: Any
) -> None:
    from openwire import EventListener, Response
    from openwire.http import Chain

    server, received = recording_server(raw_server)
    seen_by_interceptor: list[str | None] = []
    seen_by_listener: list[str] = []

    class Mine(EventListener):
        def call_end(self, request: Request) -> None:
            seen_by_listener.append("call_end")

    async def mine(request: Request, chain: Chain) -> Response:
        seen_by_interceptor.append(request.headers.get("traceparent"))
        return await chain.proceed(request)

    settings = otel.settings(
        propagator=None, event_listener_factory=Mine, network_interceptors=[mine]
    )
    async with Client(**settings) as client:
        await client.get(f"{server.url}/ok")
    (span,) = otel.spans()
    assert received == [("/ok", traceparent(span))]
    assert seen_by_interceptor == [traceparent(span)]
    assert seen_by_listener == ["call_end"]


async def test_disabled_keeps_only_your_own_settings(otel: Otel, raw_server: Any) -> None:
    import openwire_opentelemetry
    from openwire import EventListener

    server, received = recording_server(raw_server)
    settings = openwire_opentelemetry.settings(
        tracer_provider=otel.tracer_provider, enabled=False, event_listener_factory=EventListener
    )
    assert settings == {"event_listener_factory": EventListener, "network_interceptors": ()}
    async with Client(**settings) as client:
        await client.get(f"{server.url}/ok")
    assert otel.spans() == []
    assert received == [("/ok", None)]


async def test_instrument_returns_a_new_client_with_the_same_config(
    otel: Otel, raw_server: Any
) -> None:
    import openwire_opentelemetry

    server, received = recording_server(raw_server)
    async with Client(user_agent="mine/1") as plain:
        client = openwire_opentelemetry.instrument(
            plain, tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider
        )
        async with client:
            assert client.config.user_agent == "mine/1"
            assert plain.config.network_interceptors == ()
            await client.get(f"{server.url}/ok")
    (span,) = otel.spans()
    assert received == [("/ok", traceparent(span))]


async def test_tls_and_an_error_status(otel: Otel, https_server: Any, client_ssl: Any) -> None:
    async with Client(verify=client_ssl, **otel.settings()) as client:
        response = await client.get(f"{https_server.url}/status/503")
    assert response.status == 503

    (span,) = otel.spans()
    attributes = dict(span.attributes or {})
    assert attributes["tls.protocol.name"] == "tls"
    assert attributes["tls.protocol.version"] in ("1.2", "1.3")
    assert attributes["http.response.status_code"] == 503
    assert attributes["error.type"] == "503"
    assert span.status.status_code is StatusCode.ERROR
    assert event_names(span) == [
        "openwire.connect.start",
        "openwire.connect.end",
        "openwire.tls.start",
        "openwire.tls.end",
        "openwire.response.headers",
    ]
    assert dict(span.events[3].attributes or {}) == {
        "tls.protocol.name": "tls",
        "tls.protocol.version": attributes["tls.protocol.version"],
    }
    ((point, count),) = otel.metrics()["http.client.request.duration"]
    assert count == 1
    assert point["error.type"] == "503"
    assert point["http.response.status_code"] == 503


async def test_two_clients_on_one_meter_share_their_series(otel: Otel, raw_server: Any) -> None:
    server, _ = recording_server(raw_server)
    async with Client(**otel.settings()) as first, Client(**otel.settings()) as second:
        await first.get(f"{server.url}/ok")
        await second.get(f"{server.url}/ok")
    ((_, count),) = otel.metrics()["http.client.request.duration"]
    assert count == 2
