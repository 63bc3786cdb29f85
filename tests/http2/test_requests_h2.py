"""Ordinary requests with ``Client(http2=True)`` on the shared HTTP/2 connections.

Against hypercorn (``/echo``, ``/stream``, and its WebSocket echo) and Node's
http2 module (stream resets, refused streams, GOAWAY), both over TLS with ALPN.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
from openwire import Timeouts
from openwire.errors import HTTP2StreamError, ReadTimeout, WriteTimeout
from openwire.http.models import Request
from openwire.http2.connection import STREAM_WINDOW

from tests.http2.conftest import Counter, H2Server, refused_tries

pytestmark = pytest.mark.anyio


async def test_many_concurrent_gets_share_one_connection(
    hypercorn_h2: H2Server, h2_client: Any, counter: Counter
) -> None:
    answers: list[dict[str, Any]] = []
    versions: set[str] = set()
    async with h2_client() as client:

        async def get(i: int) -> None:
            response = await client.get(f"{hypercorn_h2.https}/echo?{i}")
            versions.add(response.http_version)
            answers.append(await response.json())

        async with anyio.create_task_group() as group:
            for i in range(30):
                group.start_soon(get, i)
    assert len(answers) == 30
    assert versions == {"HTTP/2"}
    assert {answer["http_version"] for answer in answers} == {"2"}
    assert counter.count("connect_end") == 1  # one TCP connection for all 30
    reused = [args[0] for name, args in counter.args if name == "connection_acquired"]
    assert len(reused) == 30 and reused.count(False) == 1  # the dialler; the others share it
    assert counter.count("connection_released") == 30


async def test_post_bodies_larger_than_the_windows(
    hypercorn_h2: H2Server, h2_client: Any, counter: Counter
) -> None:
    # 3 MiB: past the server's initial stream window (64 KiB) and the
    # client's own receive window, so the body waits for WINDOW_UPDATEs.
    body = bytes(range(256)) * (3 * 4096)
    assert len(body) > 3 * STREAM_WINDOW - 1

    async def parts() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 100_000):
            yield body[start : start + 100_000]

    async with h2_client() as client:
        sent = await client.post(f"{hypercorn_h2.https}/echo", content=body)
        streamed = await client.execute(
            Request("POST", f"{hypercorn_h2.https}/echo", content=parts())
        )
        echo = json.loads(await streamed.aread())
    expected = hashlib.sha256(body).hexdigest()
    for answer in (await sent.json(), echo):
        assert (answer["method"], answer["length"], answer["sha256"]) == (
            "POST",
            len(body),
            expected,
        )
    assert counter.count("connect_end") == 1


async def test_a_slow_response_leaves_a_websocket_on_the_connection_working(
    hypercorn_h2: H2Server, h2_client: Any, counter: Counter
) -> None:
    size = 4 * 1024  # KiB: four times the stream window, read slowly
    async with h2_client() as client:
        ws = await client.new_websocket(hypercorn_h2.url + "/").execute()
        assert ws.http_version == "2"
        async with client.stream("GET", f"{hypercorn_h2.https}/stream?{size}") as response:
            assert response.http_version == "HTTP/2"
            chunks = response.aiter_bytes()
            received = len(await anext(chunks))
            # The response is not read: its stream window fills up and the
            # server stops, but the connection and the WebSocket do not.
            for i in range(20):
                await ws.send(f"message {i}")
                with anyio.fail_after(5):
                    assert (await ws.receive()).data == f"message {i}"
            async for chunk in chunks:
                received += len(chunk)
        assert received == size * 1024
        await ws.close()
    assert counter.count("connect_end") == 1


async def test_a_request_then_a_websocket_share_one_connection(
    hypercorn_h2: H2Server, h2_client: Any, counter: Counter
) -> None:
    async with h2_client() as client:
        response = await client.get(f"{hypercorn_h2.https}/echo")
        assert response.http_version == "HTTP/2"
        ws = await client.new_websocket(hypercorn_h2.url + "/").execute()
        assert ws.http_version == "2"
        await ws.send("hi")
        assert (await ws.receive()).data == "hi"
        again = await client.get(f"{hypercorn_h2.https}/echo")
        assert again.status == 200
        await ws.close()
    assert counter.count("connect_end") == 1
    reused = [args[0] for name, args in counter.args if name == "connection_acquired"]
    assert reused == [False, True, True]


async def test_closing_an_unread_response_frees_its_stream(
    hypercorn_h2: H2Server, h2_client: Any, counter: Counter
) -> None:
    async with h2_client() as client:
        for _ in range(3):
            async with client.stream("GET", f"{hypercorn_h2.https}/stream?4096") as response:
                assert response.status == 200  # closed unread: the stream is reset
        assert (await client.get(f"{hypercorn_h2.https}/echo")).status == 200
        conns = [c for group in client._transport._multiplexer._connections.values() for c in group]
        assert [c.stream_count for c in conns] == [0]
    assert counter.count("connect_end") == 1


async def test_a_stream_reset_is_a_typed_error(node_h2: H2Server, h2_client: Any) -> None:
    async with h2_client() as client:
        with pytest.raises(HTTP2StreamError) as info:
            await client.get(f"{node_h2.https}/reset")
        assert (info.value.error_code, info.value.goaway) == (0x2, False)
        # The connection carries on.
        assert await (await client.get(f"{node_h2.https}/fine")).text() == "ok /fine"


async def test_a_refused_stream_is_retried(
    node_h2: H2Server, h2_client: Any, counter: Counter
) -> None:
    async with h2_client() as client:
        response = await client.get(f"{node_h2.https}/refused?{id(counter)}")
        assert (response.status, await response.text()) == (200, "ok /refused")


async def test_a_stream_refused_again_is_tried_twice_on_two_connections(
    node_h2: H2Server, h2_client: Any, counter: Counter
) -> None:
    # Once more on another connection (the docs' promise), and no more: the
    # follow-ups do not retry what the multiplexer already decided on.
    ident = f"{id(counter)}-{time.monotonic_ns()}"
    async with h2_client() as client:
        with pytest.raises(HTTP2StreamError) as info:
            await client.get(f"{node_h2.https}/refused-always?{ident}")
        tries = await refused_tries(client, node_h2, ident)
    assert info.value.error_name == "REFUSED_STREAM"
    assert len(tries) == 2
    assert tries[0] != tries[1]


async def test_a_graceful_goaway_retries_on_a_new_connection(
    node_h2: H2Server, h2_client: Any, counter: Counter
) -> None:
    async with h2_client() as client:
        # Stream 1 first: the GOAWAY's last stream id is then 1 (Node reads 0 as "unset").
        assert (await client.get(f"{node_h2.https}/fine")).status == 200
        response = await client.get(f"{node_h2.https}/goaway?{id(counter)}")
        assert (response.status, await response.text()) == (200, "ok /goaway")
    assert counter.count("connect_end") == 2


async def test_an_error_goaway_is_a_typed_error(node_h2: H2Server, h2_client: Any) -> None:
    async with h2_client() as client:
        with pytest.raises(HTTP2StreamError) as info:
            await client.get(f"{node_h2.https}/goaway-error")
        assert (info.value.error_code, info.value.goaway) == (0xB, True)
        # The next request gets a new connection.
        assert (await client.get(f"{node_h2.https}/fine")).status == 200


async def test_no_answer_within_the_read_timeout(node_h2: H2Server, h2_client: Any) -> None:
    async with h2_client(timeouts=Timeouts(read=0.3)) as client:
        with pytest.raises(ReadTimeout):
            await client.get(f"{node_h2.https}/silent")


async def test_an_origin_without_h2_gets_http11_on_the_connection_it_dialled(
    hypercorn_h11: H2Server, h2_client: Any, counter: Counter
) -> None:
    async with h2_client() as client:
        first = await client.get(f"{hypercorn_h11.https}/echo")
        second = await client.get(f"{hypercorn_h11.https}/echo")
        posted = await client.post(f"{hypercorn_h11.https}/echo", content=b"x" * 100_000)
        for response in (first, second, posted):
            assert response.http_version == "HTTP/1.1"
            assert (await response.json())["http_version"] == "1.1"
        assert (await posted.json())["length"] == 100_000
    # The ALPN probe's TLS connection served the first request (no second
    # dial for it); the origin is then remembered, and httpcore's HTTP/1.1
    # pool carries the others on one kept-alive connection.
    assert counter.count("connect_end") == 2
    assert counter.count("connection_released") == 3


async def test_a_body_the_server_does_not_take_hits_the_write_timeout(
    node_h2: H2Server, h2_client: Any
) -> None:
    # /silent never reads: once the stream window is spent, the body waits
    # for a WINDOW_UPDATE that never comes.
    async with h2_client(timeouts=Timeouts(write=0.3)) as client:
        with pytest.raises(WriteTimeout):
            await client.post(f"{node_h2.https}/silent", content=b"x" * (4 * 1024 * 1024))
        assert (await client.get(f"{node_h2.https}/fine")).status == 200


async def test_requests_and_a_websocket_through_an_http_proxy_tunnel(
    node_h2: H2Server, h2_client: Any, tinyproxy: Any, counter: Counter
) -> None:
    async with h2_client(proxy=tinyproxy.url) as client:
        ws = await client.new_websocket(node_h2.url + "/echo", ping_interval=None).execute()
        for path in ("/one", "/two"):
            response = await client.get(f"{node_h2.https}{path}")
            assert (response.http_version, await response.text()) == ("HTTP/2", f"ok {path}")
        await ws.send("tunnelled")
        assert (await ws.receive()).data == "tunnelled"
        await ws.close()
    assert counter.count("connect_end") == 1  # one tunnel carries them all


async def test_interim_answers_are_skipped_and_trailers_ignored(
    node_h2: H2Server, h2_client: Any
) -> None:
    async with h2_client() as client:
        response = await client.get(f"{node_h2.https}/early-hints")
        assert (response.status, response.headers.get("x-final")) == (200, "yes")
        assert "x-checksum" not in response.headers
        assert await response.text() == "ok /early-hints"
        # The stream ended cleanly: the connection carries the next request.
        assert (await client.get(f"{node_h2.https}/fine")).status == 200


async def test_past_max_concurrent_streams_a_second_connection_opens(
    node_h2_two_streams: H2Server, h2_client: Any, counter: Counter
) -> None:
    url = node_h2_two_streams.https
    async with h2_client() as client:
        held = [await client.execute(Request("GET", f"{url}/held{i}")) for i in range(3)]
        assert [r.http_version for r in held] == ["HTTP/2"] * 3
        for i, response in enumerate(held):
            assert await response.text() == f"ok /held{i}"
        assert (await client.get(f"{url}/after")).status == 200
    assert counter.count("connect_end") == 2  # the server allows two streams per connection
