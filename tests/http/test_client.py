"""End-to-end behaviour of Client against a real hypercorn server."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator

import pytest
from openwire import (
    CallTimeout,
    Client,
    ConnectError,
    DecodingError,
    Limits,
    PoolTimeout,
    ReadTimeout,
    Request,
    Timeouts,
    TLSError,
)
from openwire._version import __version__
from openwire.http.decoding import ACCEPT_ENCODING

from tests.http_peers import Server, free_port

pytestmark = pytest.mark.anyio


def header(payload: dict[str, object], name: str) -> list[str]:
    pairs = payload["headers"]
    assert isinstance(pairs, list)
    return [v for k, v in pairs if k.lower() == name.lower()]


async def test_get_reads_body_and_sets_bridge_headers(http_server: Server) -> None:
    async with Client() as client:
        response = await client.get(f"{http_server.url}/echo", params={"q": "1 2"})
    assert response.status == 200
    assert response.reason == "OK"
    assert response.http_version == "HTTP/1.1"
    assert response.headers["content-type"] == "application/json"
    payload = await response.json()
    assert payload["query"] == "q=1+2"
    assert header(payload, "user-agent") == [f"openwire/{__version__}"]
    assert header(payload, "host") == [f"127.0.0.1:{http_server.port}"]
    assert header(payload, "accept-encoding") == [ACCEPT_ENCODING]


async def test_execute_streams_and_close_returns_connection(http_server: Server) -> None:
    async with Client() as client:
        response = await client.execute(Request("GET", f"{http_server.url}/big?size=200000"))
        received = 0
        async for chunk in response.aiter_bytes():
            received += len(chunk)
        assert received == 200000
        assert response.is_closed

        async with await client.execute(Request("GET", f"{http_server.url}/echo")) as unread:
            assert unread.status == 200
        assert unread.is_closed
        again = await client.get(f"{http_server.url}/echo")
        assert again.status == 200


async def test_post_json_uses_the_clients_json_dumps(http_server: Server) -> None:
    def dumps(value: object) -> bytes:
        return b"<" + repr(value).encode() + b">"

    async with Client(json_dumps=dumps) as client:
        sent = await (await client.post(f"{http_server.url}/echo", json=[1])).json()
    assert sent["body"] == "<[1]>"
    assert header(sent, "content-type") == ["application/json"]


async def test_post_bytes_json_and_streamed_body(http_server: Server) -> None:
    async with Client() as client:
        sent = await (await client.post(f"{http_server.url}/echo", json={"a": 1})).json()
        assert sent["body"] == '{"a":1}'
        assert header(sent, "content-length") == ["7"]
        assert header(sent, "content-type") == ["application/json"]

        empty = await (await client.post(f"{http_server.url}/echo")).json()
        assert header(empty, "content-length") == ["0"]

        async def parts() -> AsyncIterator[bytes]:
            yield b"hello "
            yield b"world"

        streamed = await (await client.put(f"{http_server.url}/echo", content=parts())).json()
        assert streamed["body"] == "hello world"
        assert header(streamed, "transfer-encoding") == ["chunked"]


async def test_gzip_and_deflate_are_decoded(http_server: Server) -> None:
    async with Client() as client:
        gz = await client.get(f"{http_server.url}/gzip")
        assert gz.content == b"hello gzip" * 100
        assert "content-encoding" not in gz.headers
        deflated = await client.get(f"{http_server.url}/deflate")
        assert await deflated.text() == "hello deflate"
        raw = await client.get(f"{http_server.url}/gzip", headers={"Accept-Encoding": "gzip"})
        assert raw.headers["content-encoding"] == "gzip"
        assert raw.content != b"hello gzip" * 100
        with pytest.raises(DecodingError):
            await client.get(f"{http_server.url}/bad-gzip")


async def test_a_range_request_asks_for_the_identity_encoding(http_server: Server) -> None:
    # A 206 of a gzip body is a slice of the compressed bytes: nothing could decode it.
    async with Client() as client:
        ranged = await client.get(f"{http_server.url}/echo", headers={"Range": "bytes=10-"})
        plain = await client.get(f"{http_server.url}/echo")
    assert header(await ranged.json(), "accept-encoding") == ["identity"]
    assert header(await plain.json(), "accept-encoding") != []


async def test_read_timeout(http_server: Server) -> None:
    async with Client(timeouts=Timeouts(read=0.2)) as client:
        with pytest.raises(ReadTimeout) as info:
            await client.get(f"{http_server.url}/slow?delay=1")
    assert info.value.request is not None
    assert "Timeouts.read" in str(info.value)


async def test_call_timeout_covers_body(http_server: Server) -> None:
    async with Client(timeouts=Timeouts(call=0.5)) as client:
        response = await client.execute(
            Request("GET", f"{http_server.url}/slow-body?chunks=10&delay=0.2")
        )
        with pytest.raises(CallTimeout):
            await response.aread()


async def test_connect_refused() -> None:
    async with Client(retry_on_connection_failure=False) as client:
        with pytest.raises(ConnectError) as info:
            await client.get(f"http://127.0.0.1:{free_port()}/")
    assert "could not connect" in str(info.value)


async def test_tls_verification_is_on_by_default(https_server: Server) -> None:
    async with Client() as client:
        with pytest.raises(TLSError) as info:
            await client.get(f"{https_server.url}/echo")
    assert "verify=" in str(info.value)


async def test_tls_with_ca_file_and_context(
    https_server: Server, ca_file: str, client_ssl: ssl.SSLContext
) -> None:
    async with Client(verify=ca_file) as client:
        assert (await client.get(f"{https_server.url}/echo")).status == 200
    async with Client(verify=client_ssl, http2=True) as client:
        response = await client.get(f"{https_server.url}/echo")
        assert response.http_version == "HTTP/2"
        assert (await response.json())["http_version"] == "2"


async def test_per_host_limit(http_server: Server) -> None:
    limits = Limits(max_connections_per_host=1)
    async with Client(limits=limits, timeouts=Timeouts(pool=0.2)) as client:
        held = await client.execute(Request("GET", f"{http_server.url}/echo"))
        with pytest.raises(PoolTimeout):
            await client.get(f"{http_server.url}/echo")
        await held.aclose()
        assert (await client.get(f"{http_server.url}/echo")).status == 200
