"""The handshake, the close and flow control on HTTP/1.1 (RFC 6455) and HTTP/2 (RFC 8441).

Every test runs on both versions (the ``http_version`` fixture) with the same
script: :class:`~openwire.testing.h2peer.H2Peer` plays the server's side of
an extended CONNECT with the API of :class:`~openwire.testing.servers.RawPeer`.
What differs between the versions is asserted where it shows: the request's
form, END_STREAM riding on the client's Close, the stream reset that stands
for a dropped TCP connection.
"""

from __future__ import annotations

import base64
from typing import Any

import anyio
import pytest
from openwire.errors import ConnectionClosedError, StreamReset, UnexpectedStatus
from openwire.testing.conformance.scenarios import assert_fails_with
from openwire.testing.frames import close_payload, frame

pytestmark = [pytest.mark.anyio, pytest.mark.rfc("8441")]


async def test_handshake_request_in_each_version(
    engine: str, http_version: str, connect: Any, any_scripted: Any
) -> None:
    seen: dict[str, Any] = {}

    async def script(peer: Any) -> None:
        await peer.handshake()
        seen.update(peer.request_headers)
        seen.update(getattr(peer, "pseudo", {}))
        await peer.read_until_close()

    server = any_scripted(script)
    async with connect(
        server.url + "chat?room=1", subprotocols=["chat"], http_version=http_version
    ) as ws:
        assert ws.http_version == http_version
        await ws.close()
    await server.wait()
    assert seen["sec-websocket-version"] == "13"
    assert seen["sec-websocket-protocol"] == "chat"
    if http_version == "2":
        assert seen[":method"] == "CONNECT"
        assert seen[":protocol"] == "websocket"
        assert seen[":scheme"] == "http"
        assert seen[":path"] == "/chat?room=1"
        assert seen[":authority"] == f"127.0.0.1:{server.port}"
        for absent in ("sec-websocket-key", "upgrade", "connection", "host"):
            assert absent not in seen
    else:
        assert seen["upgrade"].lower() == "websocket"
        assert len(base64.b64decode(seen["sec-websocket-key"])) == 16


async def test_refusal_is_unexpected_status_with_its_body(
    engine: str, http_version: str, connect: Any, any_scripted: Any
) -> None:
    async def script(peer: Any) -> None:
        await peer.handshake(status="403 Forbidden", body=b"go away")

    server = any_scripted(script)
    with pytest.raises(UnexpectedStatus) as info:
        async with connect(server.url, http_version=http_version):
            pass
    assert (info.value.status, info.value.body) == (403, b"go away")
    await server.wait()


async def test_server_close_is_answered_and_ends_our_half(
    engine: str, http_version: str, connect: Any, any_scripted: Any
) -> None:
    got: dict[str, Any] = {}

    async def script(peer: Any) -> None:
        await peer.handshake()
        await peer.send(frame(0x8, close_payload(4002, "bye")))
        got["close"] = await peer.read_until_close()
        got["with_close"] = getattr(peer, "ended_with_close", None)

    server = any_scripted(script)
    async with connect(server.url, http_version=http_version) as ws:
        with anyio.fail_after(5), pytest.raises(ConnectionClosedError) as info:
            await ws.receive()
        assert (info.value.code, info.value.reason) == (4002, "bye")
    await server.wait()
    assert got["close"] is not None and got["close"].close_code == 4002
    if http_version == "2":
        assert got["with_close"] is True, "END_STREAM must ride on the frame carrying our Close"


async def test_client_close_finishes_when_the_server_never_ends_its_half(
    engine: str, http_version: str, connect: Any, any_scripted: Any
) -> None:
    got: dict[str, Any] = {}

    async def script(peer: Any) -> None:
        await peer.handshake()
        close = await peer.read_until_close()
        got["close"] = close
        got["with_close"] = getattr(peer, "ended_with_close", None)
        await peer.send(frame(0x8, close.payload))
        if http_version == "1.1":
            peer.close()  # RFC 6455 §7.1.1: the server closes TCP first
        # Over HTTP/2 this server never sends END_STREAM (hypercorn does not
        # either): the client must reset the stream rather than wait.
        got["eof"] = await peer.wait_eof(timeout=5)
        got["reset"] = getattr(peer, "reset_code", None)

    server = any_scripted(script)
    async with connect(server.url, http_version=http_version, close_timeout=5) as ws:
        with anyio.fail_after(2):
            await ws.close(1000, "done")
        assert (ws.close_code, ws.close_reason) == (1000, "done")
    await server.wait()
    assert got["close"].close_code == 1000
    assert got["eof"] is True
    if http_version == "2":
        assert got["with_close"] is True
        assert got["reset"] is None or got["reset"] == 0x8  # ended, then CANCEL at most


async def test_protocol_error_fails_with_1002_and_a_close(
    engine: str, http_version: str, connect: Any, any_scripted: Any
) -> None:
    await assert_fails_with(connect, any_scripted, frame(0x3, b""), 1002, http_version=http_version)


async def test_large_messages_cross_the_flow_control_windows(
    engine: str, http_version: str, connect: Any, any_scripted: Any
) -> None:
    big = bytes(range(256)) * (12 * 1024)  # 3 MiB: three stream windows, 48 of h2's default
    got: dict[str, Any] = {}

    async def script(peer: Any) -> None:
        await peer.handshake()
        await peer.send(frame(0x2, big))
        message = await peer.read_frame(timeout=10)
        got["size"] = len(message.payload) if message is not None else None
        got["same"] = message is not None and message.payload == big
        await peer.read_until_close()

    server = any_scripted(script)
    async with connect(server.url, http_version=http_version, compression=None) as ws:
        with anyio.fail_after(10):
            assert (await ws.receive()).data == big
            await ws.send(big)
            await ws.close()
    await server.wait()
    assert got == {"size": len(big), "same": True}


async def test_peer_dropping_the_stream_is_a_typed_close(
    engine: str, http_version: str, connect: Any, any_scripted: Any
) -> None:
    async def script(peer: Any) -> None:
        await peer.handshake()
        await peer.send(frame(0x1, b"last"))
        if http_version == "2":
            peer.reset(0x8)  # RST_STREAM(CANCEL)
            await peer.wait_eof(timeout=2)  # keep the connection: only the stream ends
        else:
            peer.close()

    server = any_scripted(script)
    async with connect(server.url, http_version=http_version) as ws:
        assert (await ws.receive()).data == "last"
        with anyio.fail_after(5), pytest.raises(ConnectionClosedError) as info:
            await ws.receive()
    await server.wait()
    if http_version == "2":
        assert isinstance(info.value, StreamReset)
        assert (info.value.code, info.value.error_name) == (1001, "CANCEL")
    else:
        assert info.value.code == 1006
