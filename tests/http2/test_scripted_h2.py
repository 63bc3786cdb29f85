"""Corner cases of the HTTP/2 stream under a WebSocket, against the scripted h2 peer."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from openwire import Client
from openwire.testing.frames import frame
from openwire.testing.h2peer import H2Peer

pytestmark = pytest.mark.anyio


async def test_an_empty_data_frame_is_not_the_end_of_the_stream(h2_scripted: Any) -> None:
    async def script(peer: H2Peer) -> None:
        await peer.handshake()
        assert peer.stream_id is not None
        peer.conn.send_data(peer.stream_id, b"")
        await peer.send(frame(0x1, b"after"))
        await peer.read_until_close()

    server = h2_scripted(script)
    async with Client() as client:
        ws = await client.new_websocket(server.url, http_version="2", ping_interval=None).execute()
        with anyio.fail_after(5):
            assert (await ws.receive()).data == "after"
            await ws.close()
    await server.wait()
