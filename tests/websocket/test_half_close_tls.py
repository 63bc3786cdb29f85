"""wss: a server that sends its Close and at once ends its side of the connection.

Over plain TCP the client keeps its sending half open after the server's FIN
until its Close is written (see the conformance suite's closing cases). TLS
cannot be half-closed on asyncio or uvloop: their TLS layer ends the whole
connection when the peer ends its side. What the client promises over TLS:
the Close that the frames before the EOF call for is written before the
connection ends, when those frames reached the WebSocket before the EOF; and
whatever the timing, the user gets the server's code (or the failure's) and
every socket is released, never a hang.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import pytest
import trustme
from openwire import Client, ConnectionClosed
from openwire.testing.frames import close_payload, frame
from openwire.testing.servers import BackgroundLoop, RawPeer, ScriptedServer

pytestmark = pytest.mark.anyio


@pytest.fixture
def tls_scripted(
    ow_loop: BackgroundLoop, ca: trustme.CA
) -> Iterator[Callable[[Any], ScriptedServer]]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    servers: list[ScriptedServer] = []

    def start(script: Any) -> ScriptedServer:
        server = ScriptedServer(ow_loop, script, ssl_context=context).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.mark.parametrize(
    ("data", "code"),
    [(frame(0x8, close_payload(1000, "bye")), 1000), (frame(0x1, b"\xff"), 1007)],
    ids=["close-1000", "invalid-utf8"],
)
async def test_wss_close_is_sent_before_a_later_eof(
    engine: str, tls_scripted: Any, ca_file: str, data: bytes, code: int
) -> None:
    answer: list[Any] = []

    async def script(peer: RawPeer) -> None:
        await peer.handshake()
        await asyncio.sleep(0.05)
        await peer.send(data)
        await asyncio.sleep(0.05)  # the frame and the EOF arrive apart
        peer.writer.write_eof() if peer.writer.can_write_eof() else peer.writer.close()
        answer.append(await peer.read_until_close())

    server = tls_scripted(script)
    async with Client(verify=ca_file) as client:
        ws = await client.new_websocket(server.url, engine=engine, ping_interval=None).execute()
        with pytest.raises(ConnectionClosed) as info:
            with anyio.fail_after(5):
                await ws.receive()
        assert info.value.code == code
        await ws.close()
    await server.wait()
    assert answer[0] is not None and answer[0].close_code == code


async def test_wss_close_with_the_101_and_eof_ends_cleanly(
    engine: str, tls_scripted: Any, ca_file: str
) -> None:
    """The burst case over TLS: the user sees the server's Close; nothing hangs or leaks."""

    async def script(peer: RawPeer) -> None:
        await peer.handshake(trailing=frame(0x8, close_payload(1000, "bye")))
        peer.writer.close()

    server = tls_scripted(script)
    async with Client(verify=ca_file) as client:
        ws = await client.new_websocket(server.url, engine=engine, ping_interval=None).execute()
        with pytest.raises(ConnectionClosed) as info:
            with anyio.fail_after(5):
                await ws.receive()
        assert (info.value.code, info.value.by_peer) == (1000, True)
        with anyio.fail_after(5):
            await ws.close()
    await server.wait()
