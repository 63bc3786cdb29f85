"""Typed messages: what ``send`` takes, ``receive(timeout=)``, typed and JSON helpers, ``iter``.

Every test talks to a real server on 127.0.0.1 (websockets' and aiohttp's echo
servers, or the scripted raw server where exact frames matter), on every
engine and on asyncio, uvloop and trio.
"""

from __future__ import annotations

import array
import json
import random
from typing import Any

import anyio
import pytest
from openwire import (
    ConnectionClosedError,
    ConnectionClosedOK,
    Message,
    Opcode,
    ReceiveTimeout,
    RequestError,
    UnexpectedMessageType,
    WebSocketError,
)
from openwire.events import EventListener
from openwire.testing.frames import close_payload, frame
from openwire.testing.servers import RawPeer

pytestmark = pytest.mark.anyio


def _bytes_dumps(obj: Any) -> bytes:
    """A ``json_dumps`` returning UTF-8 bytes, as orjson's does."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _closing_server(scripted: Any, *frames: bytes) -> Any:
    """A raw server that sends ``frames`` in one write, then closes with 1000."""

    async def script(peer: RawPeer) -> None:
        await peer.handshake()
        await peer.send(b"".join(frames) + frame(0x8, close_payload(1000)))
        await peer.read_until_close()

    return scripted(script)


# ------------------------------------------------------------------------- send


@pytest.mark.parametrize(
    ("value", "hint"),
    [
        (123, "str(123)"),
        ({"a": 1}, "send_json()"),
        ([1, 2], "send_json()"),
        (None, "not NoneType"),
        (array.array("B", b"ab"), "memoryview"),
    ],
)
async def test_send_refuses_what_is_not_a_message(
    engine: str, connect: Any, echo_server: Any, value: object, hint: str
) -> None:
    async with connect(echo_server.url) as ws:
        with pytest.raises(TypeError) as info:
            await ws.send(value)
        message = str(info.value)
        assert f"not {type(value).__name__}" in message
        assert "str (a text message) or bytes, bytearray or memoryview" in message
        assert hint in message
        # Nothing went out: the next message echoed is the next one sent.
        await ws.send("after")
        with anyio.fail_after(5):
            assert (await ws.receive()).data == "after"


async def test_send_takes_str_bytes_bytearray_and_memoryview(
    engine: str, connect: Any, echo_server: Any
) -> None:
    async with connect(echo_server.url) as ws:
        await ws.send("text")
        await ws.send(b"bytes")
        await ws.send(bytearray(b"bytearray"))
        await ws.send(memoryview(b"xmemoryviewx")[1:-1])
        with anyio.fail_after(5):
            got = [await ws.receive() for _ in range(4)]
    assert got == [
        Message("text", Opcode.TEXT),
        Message(b"bytes", Opcode.BINARY),
        Message(b"bytearray", Opcode.BINARY),
        Message(b"memoryview", Opcode.BINARY),
    ]


# ---------------------------------------------------------------------- timeout


async def test_receive_timeout_leaves_the_connection_open(
    engine: str, connect: Any, echo_server: Any
) -> None:
    async with connect(echo_server.url) as ws:
        with pytest.raises(ReceiveTimeout) as info:
            await ws.receive(timeout=0.05)
        error = info.value
        assert isinstance(error, TimeoutError)
        assert isinstance(error, WebSocketError)
        assert not isinstance(error, RequestError)  # no call failed; the connection is fine
        assert error.timeout == 0.05
        assert "receive(): no message arrived within 0.05 s" in str(error)
        for helper in (ws.receive_text, ws.receive_bytes, ws.receive_json):
            with pytest.raises(TimeoutError, match=rf"{helper.__name__}\(\): no message"):
                await helper(timeout=0.01)
        await ws.send("still open")
        with anyio.fail_after(5):
            assert (await ws.receive(timeout=5)).data == "still open"


async def test_a_message_arriving_after_the_deadline_is_kept(
    engine: str, connect: Any, scripted: Any
) -> None:
    async def script(peer: RawPeer) -> None:
        await peer.handshake()
        go = await peer.read_frame()  # the client's deadline has passed
        assert go is not None and go.payload == b"go"
        await peer.send(frame(0x1, b"late"))
        await peer.send(frame(0x8, close_payload(1000)))
        await peer.read_until_close()

    server = scripted(script)
    async with connect(server.url) as ws:
        with pytest.raises(ReceiveTimeout):
            await ws.receive_text(timeout=0.05)
        await ws.send("go")
        assert await ws.receive_text(timeout=5) == "late"
        assert [m async for m in ws] == []
    await server.wait()


async def test_deadlines_racing_arrivals_lose_and_repeat_nothing(
    engine: str, connect: Any, echo_server: Any
) -> None:
    """Deadlines of the order of the round trip: many expire as a message arrives."""
    rng = random.Random(16)
    count = 150
    got: list[str] = []
    timeouts = 0
    async with connect(echo_server.url) as ws:
        for i in range(count):
            await ws.send(str(i))
            try:
                got.append(await ws.receive_text(timeout=rng.choice((0, 0.0002, 0.0005, 0.001))))
            except ReceiveTimeout:
                timeouts += 1
        while len(got) < count:
            got.append(await ws.receive_text(timeout=5))
        with pytest.raises(ReceiveTimeout):
            await ws.receive(timeout=0.05)
    assert got == [str(i) for i in range(count)]
    assert timeouts > 0


async def test_timeout_zero_returns_a_waiting_message(
    engine: str, connect: Any, scripted: Any
) -> None:
    server = _closing_server(scripted, frame(0x1, b"a"), frame(0x1, b"b"))
    async with connect(server.url) as ws:
        assert (await ws.receive(timeout=5)).data == "a"
        # "b" came in the same read as "a": it is already waiting.
        assert (await ws.receive(timeout=0)).data == "b"
        with pytest.raises(ValueError, match="timeout must be"):
            await ws.receive(timeout=-1)
        with pytest.raises(ValueError, match="timeout must be"):
            await ws.receive_text(timeout=float("nan"))
    await server.wait()


# ------------------------------------------------------------------ text, bytes


async def test_receive_text_and_bytes(engine: str, connect: Any, echo_server: Any) -> None:
    async with connect(echo_server.url) as ws:
        await ws.send("héllo")
        await ws.send(b"\x00\xff")
        with anyio.fail_after(5):
            text = await ws.receive_text()
            data = await ws.receive_bytes()
    assert type(text) is str and text == "héllo"
    assert type(data) is bytes and data == b"\x00\xff"


async def test_the_other_type_raises_and_keeps_the_message(
    engine: str, connect: Any, echo_server: Any
) -> None:
    async with connect(echo_server.url) as ws:
        await ws.send(b"binary")
        await ws.send("text")
        await ws.send("next")
        with anyio.fail_after(5):
            with pytest.raises(UnexpectedMessageType) as binary:
                await ws.receive_text()
            with pytest.raises(UnexpectedMessageType) as text:
                await ws.receive_bytes(timeout=5)
            assert await ws.receive_text() == "next"
    error = binary.value
    assert isinstance(error, TypeError) and isinstance(error, WebSocketError)
    assert (error.data, error.expected, error.received) == (b"binary", "text", "binary")
    assert "receive_text() expects a text message but a binary message arrived (6 bytes)" in str(
        error
    )
    assert "use receive_bytes() for binary messages, or receive() for either" in str(error)
    assert (text.value.data, text.value.expected, text.value.received) == (
        "text",
        "binary",
        "text",
    )
    assert "use receive_text() for text messages" in str(text.value)


async def test_typed_helpers_skip_control_events(engine: str, connect: Any, scripted: Any) -> None:
    server = _closing_server(scripted, frame(0x9, b"p1"), frame(0x1, b"t"), frame(0x9, b"p2"))
    async with connect(server.url, deliver_control_frames=True) as ws:
        assert await ws.receive_text(timeout=5) == "t"
        # receive() still returns the control events the typed helpers skip.
        assert (await ws.receive(timeout=5)).opcode is Opcode.PING
    await server.wait()


# ------------------------------------------------------------------------- JSON


async def test_json_round_trip_with_the_default_functions(
    engine: str, connect: Any, echo_server: Any
) -> None:
    value = {"a": [1, 2.5, None, True], "é": "ü"}
    async with connect(echo_server.url) as ws:
        await ws.send_json(value)
        await ws.send_json(value, binary=True)
        await ws.send_json(value)
        with anyio.fail_after(5):
            text = await ws.receive()
            binary = await ws.receive()
            parsed = await ws.receive_json()
    # Compact, ASCII-escaped: the same bytes as client.post(json=...).
    compact = '{"a":[1,2.5,null,true],"\\u00e9":"\\u00fc"}'
    assert text == Message(compact, Opcode.TEXT)
    assert binary == Message(compact.encode(), Opcode.BINARY)
    assert parsed == value


async def test_dumps_returning_bytes_still_sends_text(
    engine: str, connect: Any, echo_server: Any
) -> None:
    loaded: list[type] = []

    def loads(data: str | bytes) -> Any:
        loaded.append(type(data))
        return json.loads(data)

    options = {"json_dumps": _bytes_dumps, "json_loads": loads}
    async with connect(echo_server.url, client_options=options) as ws:
        sender, receiver = ws.split()
        await sender.send_json({"k": "é"})
        await sender.send_json({"k": "é"}, binary=True)
        with anyio.fail_after(5):
            assert await receiver.receive() == Message('{"k":"é"}', Opcode.TEXT)
            assert await receiver.receive() == Message('{"k":"é"}'.encode(), Opcode.BINARY)
            await sender.send_json([1])
            await sender.send_json([2], binary=True)
            assert await receiver.receive_json(timeout=5) == [1]
            assert await receiver.receive_json(timeout=5) == [2]
    # The text message reaches json_loads as str, the binary one as bytes.
    assert loaded == [str, bytes]


async def test_dumps_must_return_text_or_utf8(engine: str, connect: Any, echo_server: Any) -> None:
    options = {"json_dumps": lambda obj: b"\xff"}
    async with connect(echo_server.url, client_options=options) as ws:
        with pytest.raises(ValueError, match="not UTF-8"):
            await ws.send_json(1)
        await ws.send_json(1, binary=True)  # binary carries any bytes
        with anyio.fail_after(5):
            assert await ws.receive_bytes() == b"\xff"
    async with connect(echo_server.url, client_options={"json_dumps": lambda obj: 42}) as ws:
        with pytest.raises(TypeError, match="json_dumps returned int; it must return str or bytes"):
            await ws.send_json(1)


async def test_invalid_json_raises_the_loads_error_with_the_message(
    engine: str, connect: Any, echo_server: Any
) -> None:
    async with connect(echo_server.url) as ws:
        await ws.send("not json")
        await ws.send(b"[1")
        await ws.send('{"ok":1}')
        with anyio.fail_after(5):
            with pytest.raises(json.JSONDecodeError) as text:
                await ws.receive_json()
            with pytest.raises(ValueError) as binary:
                await ws.receive_json()
            assert await ws.receive_json() == {"ok": 1}
    assert text.value.websocket_message == Message("not json", Opcode.TEXT)  # type: ignore[attr-defined]
    assert "while parsing a text WebSocket message of 8 characters" in text.value.__notes__[0]
    assert binary.value.websocket_message == Message(b"[1", Opcode.BINARY)  # type: ignore[attr-defined]


# ------------------------------------------------------------------------- iter


async def test_iter_decodes_each_message(engine: str, connect: Any, scripted: Any) -> None:
    frames = (frame(0x1, b'{"n":1}'), frame(0x1, "é".encode()))
    server = _closing_server(scripted, *frames)
    async with connect(server.url) as ws:
        assert [t async for t in ws.iter(decode="text")] == ['{"n":1}', "é"]
    server = _closing_server(scripted, frame(0x2, b"\x00"), frame(0x2, b"\x01"))
    async with connect(server.url) as ws:
        assert [b async for b in ws.iter(decode="bytes")] == [b"\x00", b"\x01"]
    server = _closing_server(scripted, frame(0x1, b'{"n":1}'), frame(0x2, b"[2]"))
    async with connect(server.url) as ws:
        assert [v async for v in ws.iter(decode="json")] == [{"n": 1}, [2]]
    server = _closing_server(scripted, frame(0x1, b"t"), frame(0x2, b"b"))
    async with connect(server.url) as ws:
        expected = [Message("t", Opcode.TEXT), Message(b"b", Opcode.BINARY)]
        assert [m async for m in ws.iter()] == expected
    server = _closing_server(scripted, frame(0x1, b"t"), frame(0x2, b"b"))
    async with connect(server.url) as ws:
        assert [m async for m in ws] == expected
    await server.wait()


async def test_iter_raises_on_the_other_type_and_a_new_iter_goes_on(
    engine: str, connect: Any, scripted: Any
) -> None:
    server = _closing_server(scripted, frame(0x1, b"a"), frame(0x2, b"b"), frame(0x1, b"c"))
    async with connect(server.url) as ws:
        got: list[str] = []

        async def collect() -> None:
            async for text in ws.iter(decode="text"):
                got.append(text)

        with pytest.raises(UnexpectedMessageType) as info:
            await collect()
        assert got == ["a"]
        assert info.value.data == b"b"
        assert "iter(decode='text') expects a text message" in str(info.value)
        assert "use iter(decode='bytes') for binary messages, or iter() for either" in str(
            info.value
        )
        assert [t async for t in ws.iter(decode="text")] == ["c"]
        with pytest.raises(ValueError, match="decode must be 'text', 'bytes', 'json' or None"):
            ws.iter(decode="str")
    await server.wait()


# ----------------------------------------------------------------------- events


class _Messages(EventListener):
    def __init__(self) -> None:
        self.sent: list[tuple[str, int]] = []
        self.received: list[tuple[str, int]] = []

    def websocket_message_sent(self, kind: str, size: int) -> None:
        self.sent.append((kind, size))

    def websocket_message_received(self, kind: str, size: int) -> None:
        self.received.append((kind, size))


async def test_each_message_fires_its_events_once(
    engine: str, connect: Any, echo_server: Any
) -> None:
    listener = _Messages()
    options = {"event_listener_factory": lambda: listener}
    async with connect(echo_server.url, client_options=options) as ws:
        await ws.send_json([1])  # "[1]"
        await ws.send_json([2], binary=True)
        await ws.send("abc")
        await ws.send(b"xy")
        await ws.send("{")
        with pytest.raises(TypeError):
            await ws.send(5)
        with anyio.fail_after(5):
            assert await ws.receive_json() == [1]
            assert await ws.receive_json() == [2]
            with pytest.raises(UnexpectedMessageType):
                await ws.receive_bytes()
            assert await ws.receive_bytes(timeout=1) == b"xy"
            with pytest.raises(json.JSONDecodeError):
                await ws.receive_json()
        with pytest.raises(ReceiveTimeout):
            await ws.receive_text(timeout=0.02)
        await ws.send("z")
        with anyio.fail_after(5):
            assert [t async for t in _first(ws.iter(decode="text"))] == ["z"]
    expected = [("text", 3), ("binary", 3), ("text", 3), ("binary", 2), ("text", 1), ("text", 1)]
    assert listener.sent == expected
    assert listener.received == expected


async def _first(iterator: Any) -> Any:
    """The first item of an async iterator, which is then closed (trio wants that)."""
    try:
        yield await anext(iterator)
    finally:
        await iterator.aclose()


# ------------------------------------------------------------------ close_error


async def test_close_error_is_none_while_open_then_what_receive_raises(
    engine: str, connect: Any, scripted: Any
) -> None:
    async def script(peer: RawPeer) -> None:
        await peer.handshake()
        await peer.send(frame(0x8, close_payload(4001, "go")))
        await peer.read_until_close()

    server = scripted(script)
    async with connect(server.url) as ws:
        assert ws.close_error is None or ws.close_code == 4001
        with pytest.raises(ConnectionClosedError) as info:
            await ws.receive()
        error = ws.close_error
        assert type(error) is type(info.value)
        assert error is not None
        assert (error.code, error.reason, error.by_peer) == (4001, "go", True)


async def test_close_error_after_a_clean_close(engine: str, connect: Any, echo_server: Any) -> None:
    async with connect(echo_server.url) as ws:
        assert ws.close_error is None
        await ws.close()
        error = ws.close_error
        assert isinstance(error, ConnectionClosedOK)
        assert error.code == 1000
