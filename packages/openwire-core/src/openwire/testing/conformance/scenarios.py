"""Scenarios shared by several conformance tests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import anyio
import pytest
from openwire.errors import ConnectionClosedError
from openwire.testing.frames import ClientFrame
from openwire.testing.servers import RawPeer

__all__ = ["assert_fails_with"]


async def assert_fails_with(
    connect: Any,
    scripted: Any,
    data: bytes,
    code: int,
    *,
    extra_headers: Sequence[tuple[str, str]] = (),
    **options: Any,
) -> list[Any]:
    """The server sends ``data`` after a valid 101; the client must fail with ``code``.

    Checks both sides: ``receive`` raises ``ConnectionClosedError`` with the
    code, and the server gets a Close frame carrying it (RFC 6455 §7.1.7).
    ``extra_headers`` go in the 101 (e.g. to accept an extension). Returns
    the messages received before the failure.
    """
    seen: dict[str, ClientFrame | None] = {}

    async def script(peer: RawPeer) -> None:
        await peer.handshake(extra_headers=extra_headers)
        await peer.send(data)
        seen["close"] = await peer.read_until_close()

    server = scripted(script)
    received = []
    async with connect(server.url, **options) as ws:
        with pytest.raises(ConnectionClosedError) as info:  # noqa: PT012
            with anyio.fail_after(5):
                while True:
                    received.append(await ws.receive())
        assert info.value.code == code, str(info.value)
        assert ws.close_code == code
    await server.wait()
    close = seen["close"]
    assert close is not None, "the client dropped TCP without sending a Close frame"
    assert close.close_code == code
    return received
