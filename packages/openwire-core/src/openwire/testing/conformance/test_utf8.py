"""RFC 6455 §5.6 and §8.1: text must be UTF-8, checked as early as it is certain."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from openwire.errors import ConnectionClosedError
from openwire.testing.conformance.scenarios import assert_fails_with
from openwire.testing.frames import close_payload, frame
from openwire.testing.servers import RawPeer

pytestmark = [pytest.mark.anyio, pytest.mark.rfc("8.1")]

ALL_WIDTHS = "a\u00e9\u20ac\U0001d11e"  # 1, 2, 3 and 4 bytes


async def test_every_code_point_width_split_across_fragments(
    engine: str, connect: Any, scripted: Any
) -> None:
    data = ALL_WIDTHS.encode() * 3

    async def script(peer: RawPeer) -> None:
        await peer.handshake()
        # one byte per fragment: every multi-byte sequence is split
        parts = [frame(0x1, data[:1], fin=False)]
        parts += [frame(0x0, data[i : i + 1], fin=False) for i in range(1, len(data) - 1)]
        parts.append(frame(0x0, data[-1:]))
        await peer.send(b"".join(parts))
        await peer.read_until_close()

    server = scripted(script)
    async with connect(server.url) as ws:
        assert (await ws.receive()).data == ALL_WIDTHS * 3
        await ws.close()
    await server.wait()


@pytest.mark.parametrize(
    "payload",
    [b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"ok\xe2\x82"],
    ids=["invalid-byte", "overlong", "surrogate", "above-max", "truncated"],
)
async def test_invalid_utf8_fails_with_1007(
    engine: str, connect: Any, scripted: Any, payload: bytes
) -> None:
    await assert_fails_with(connect, scripted, frame(0x1, payload), 1007)


async def test_invalid_utf8_fails_before_the_message_ends(
    engine: str, connect: Any, scripted: Any
) -> None:
    # The final fragment never comes: only fail-fast validation can notice.
    data = frame(0x1, b"fine", fin=False) + frame(0x0, b"\xff\xfe", fin=False)
    await assert_fails_with(connect, scripted, data, 1007)


async def test_invalid_utf8_in_close_reason_fails_with_1007(
    engine: str, connect: Any, scripted: Any
) -> None:
    await assert_fails_with(connect, scripted, frame(0x8, close_payload(1000, b"\xff")), 1007)


async def test_invalid_utf8_fails_while_a_single_frame_is_still_arriving(
    engine: str, connect: Any, scripted: Any
) -> None:
    # One text frame announces 4 KiB; the first bytes already cannot be
    # UTF-8 and the rest never comes (§8.1: fail as soon as it is certain).
    head = frame(0x1, b"\x00" * 4096)[:4]
    seen: dict[str, Any] = {}

    async def script(peer: RawPeer) -> None:
        await peer.handshake()
        await peer.send(head + b"ok\xff\xfe")
        try:
            seen["close"] = await peer.read_until_close(timeout=1)
        except TimeoutError:
            seen["close"] = None

    server = scripted(script)
    async with connect(server.url) as ws:
        with pytest.raises(ConnectionClosedError) as info:
            with anyio.fail_after(3):
                await ws.receive()
        assert info.value.code == 1007, str(info.value)
    await server.wait()
    assert seen["close"] is not None and seen["close"].close_code == 1007
