"""Every client under comparison behind one tiny interface.

Each client yields a :class:`Connection` whose ``send_bytes``/``send_text``/
``receive`` are, wherever the library's own API fits, the library's bound
methods themselves, so the hot loop pays no wrapper call that the library's
users would not pay. Only picows (callback based) and raw wsproto (sans-I/O)
need glue, and that glue is the minimal await-able loop a user would write.

Every client is configured the same way: no compression, no keepalive pings,
no message-size limits, because those are the knobs that differ between
libraries' defaults and would otherwise be what is measured. The exceptions
are explicit: ``deflate=True`` (the compression workloads) turns
permessage-deflate on where the client has it, and ``ssl=`` hands every
connection of a sample the same client ``SSLContext`` (the ``wss``
workloads), as an application would.

A client name may carry an event loop, ``<client>@uvloop`` or
``<client>@trio`` (openwire only, memory workloads): see :func:`split`.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import importlib.util
import ssl as ssl_module
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

Receive = Callable[[], Awaitable[object]]


@dataclass(slots=True)
class Connection:
    send_bytes: Callable[[bytes], Awaitable[object]]
    send_text: Callable[[str], Awaitable[object]]
    receive: Receive
    close: Callable[[], Awaitable[object]]
    # Pulls the payload out of whatever ``receive`` returns; used to verify
    # echoes outside the timed loop.
    payload: Callable[[object], bytes | str]


Connector = Callable[[str], Awaitable[Connection]]

# Raw libraries, in the order tables list them; openwire engines come first.
RAW_CLIENTS = ("websockets", "aiohttp", "picows", "httpx-ws", "wsproto")
# A reference that does no WebSocket work at all (see _FloorProtocol), run
# where per-message overhead is what is measured; large messages measure copies.
FLOOR = "floor"
_ONLY = {
    FLOOR: {
        "rt-64b",
        "rt-1k",
        "rt-64t",
        "pipe-64b",
        "handshake",
        "idle-mem",
        "wss-rt-64b",
        "wss-handshake",
        "idle-mem-tls",
        "fan-in",
    }
}
# permessage-deflate: picows, httpx-ws and the raw wsproto loop here have none.
DEFLATE_CLIENTS = {"websockets", "aiohttp"}
LOOPS = ("asyncio", "uvloop", "trio")
# On trio only openwire runs, and only what the trio target needs.
_TRIO_WORKLOADS = {"idle-mem", "idle-mem-tls", "idle-mem-z"}


def split(client: str) -> tuple[str, str]:
    """``"picows@uvloop"`` -> ``("picows", "uvloop")``; no suffix means asyncio."""
    base, _, loop = client.partition("@")
    return base, loop or "asyncio"


def supports(client: str, workload: str) -> bool:
    from workloads import BY_NAME

    base, loop = split(client)
    if loop == "trio" and (not base.startswith("openwire-") or workload not in _TRIO_WORKLOADS):
        return False
    if BY_NAME[workload].deflate and not (base.startswith("openwire-") or base in DEFLATE_CLIENTS):
        return False
    only = _ONLY.get(base)
    return only is None or workload in only


# Which raw library each openwire adapter wraps (for the within-10% targets).
ADAPTER_OF = {
    "openwire-wsproto": "wsproto",
    "openwire-websockets": "websockets",
    "openwire-aiohttp": "aiohttp",
}
_RAW_MODULES = {
    "websockets": ("websockets.asyncio.client",),
    "aiohttp": ("aiohttp",),
    "picows": ("picows",),
    "httpx-ws": ("httpx", "httpx_ws"),
    "wsproto": ("wsproto",),
}
# anyio imports its backend on first use; without this every worker pays it.
_OPENWIRE_MODULES = ("openwire.client", "anyio._backends._asyncio", "anyio.to_thread")


def openwire_engines(backend: str = "asyncio") -> list[str]:
    from openwire.engines.registry import registry

    return [info.name for info in registry.engines() if backend in info.capabilities.backends]


def loop_available(loop: str) -> bool:
    return loop == "asyncio" or importlib.util.find_spec(loop) is not None


def with_loops(names: list[str], loops: list[str]) -> list[str]:
    """Every client on every requested loop it runs on (trio: openwire engines on trio)."""
    out = list(names) if "asyncio" in loops else []
    for loop in loops:
        if loop == "asyncio" or not loop_available(loop):
            continue
        trio_engines = {f"openwire-{e}" for e in openwire_engines("trio")}
        for name in names:
            if loop == "trio" and name not in trio_engines:
                continue
            out.append(f"{name}@{loop}")
    return out


def available_clients() -> list[str]:
    """Everything installed right now: adapters land independently of this suite."""
    engines = sorted(openwire_engines(), key=lambda e: (e != "native", e))
    names = [f"openwire-{engine}" for engine in engines]
    for name, modules in _RAW_MODULES.items():
        if all(importlib.util.find_spec(m.split(".")[0]) is not None for m in modules):
            names.append(name)
    names.append(FLOOR)
    return names


def preload(names: list[str]) -> None:
    """Import every library up front so forked workers start warm and equal."""
    for loop in {split(n)[1] for n in names} - {"asyncio"}:
        importlib.import_module(loop)
        if loop == "trio":
            importlib.import_module("anyio._backends._trio")
    for name in (split(n)[0] for n in names):
        if name.startswith("openwire-"):
            for module in _OPENWIRE_MODULES:
                importlib.import_module(module)
            openwire_engines()
        extra = ("anyio._backends._asyncio",) if name == "httpx-ws" else ()
        for module in (*_RAW_MODULES.get(name, ()), *extra):
            importlib.import_module(module)


def _data(message: object) -> bytes | str:
    return message.data  # type: ignore[attr-defined,no-any-return]


def _identity(message: object) -> bytes | str:
    return message  # type: ignore[return-value]


# --------------------------------------------------------------------- openwire


@contextlib.asynccontextmanager
async def _openwire(
    engine: str, ssl: ssl_module.SSLContext | None, deflate: bool
) -> AsyncIterator[Connector]:
    from openwire import Limits
    from openwire.client import Client

    # Upgraded connections count against the pool cap (100 by default); the
    # memory workload holds 1000, as the other clients' unlimited pools allow.
    async with Client(
        limits=Limits(max_connections=1 << 16), verify=ssl if ssl is not None else True
    ) as client:

        async def connect(url: str) -> Connection:
            ws = await client.new_websocket(
                url,
                engine=engine,
                ping_interval=None,
                max_message_size=None,
                max_frame_size=None,
                # uncompressed, like every other client here, unless deflate is measured
                compression="deflate" if deflate else None,
            ).execute()
            return Connection(ws.send, ws.send, ws.receive, ws.close, _data)

        yield connect


# ------------------------------------------------------------------- websockets


@contextlib.asynccontextmanager
async def _websockets(ssl: ssl_module.SSLContext | None, deflate: bool) -> AsyncIterator[Connector]:
    from websockets.asyncio.client import connect as ws_connect

    extra: dict[str, Any] = {"ssl": ssl} if ssl is not None else {}

    async def connect(url: str) -> Connection:
        ws = await ws_connect(
            url,
            compression="deflate" if deflate else None,
            ping_interval=None,
            max_size=None,
            **extra,
        )
        return Connection(ws.send, ws.send, ws.recv, ws.close, _identity)

    yield connect


# ---------------------------------------------------------------------- aiohttp


@contextlib.asynccontextmanager
async def _aiohttp(ssl: ssl_module.SSLContext | None, deflate: bool) -> AsyncIterator[Connector]:
    import aiohttp

    # limit=0: the memory workload holds 1000 connections through one session.
    connector = aiohttp.TCPConnector(limit=0, ssl=ssl if ssl is not None else True)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def connect(url: str) -> Connection:
            ws = await session.ws_connect(
                url, autoping=False, heartbeat=None, max_msg_size=0, compress=15 if deflate else 0
            )
            return Connection(ws.send_bytes, ws.send_str, ws.receive, ws.close, _data)

        yield connect


# ----------------------------------------------------------------------- picows


def _picows_connector(ssl: ssl_module.SSLContext | None) -> Connector:
    from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

    binary, text, cont, close = (
        WSMsgType.BINARY,
        WSMsgType.TEXT,
        WSMsgType.CONTINUATION,
        WSMsgType.CLOSE,
    )

    class Listener(WSListener):
        """Turns frame callbacks into an awaitable, message-at-a-time receive."""

        def __init__(self) -> None:
            self.ready: deque[object] = deque()
            self.waiter: asyncio.Future[object] | None = None
            self.parts: list[bytes] = []
            self.part_type = binary
            self.transport: WSTransport | None = None

        def on_ws_connected(self, transport: WSTransport) -> None:
            self.transport = transport

        def _deliver(self, message: object) -> None:
            waiter = self.waiter
            if waiter is not None:
                self.waiter = None
                if not waiter.done():
                    waiter.set_result(message)
                    return
            self.ready.append(message)

        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            msg_type = frame.msg_type
            if msg_type == binary and frame.fin:
                self._deliver(frame.get_payload_as_bytes())
            elif msg_type == text and frame.fin:
                self._deliver(frame.get_payload_as_utf8_text())
            elif msg_type in (binary, text):
                self.part_type = msg_type
                self.parts = [frame.get_payload_as_bytes()]
            elif msg_type == cont:
                self.parts.append(frame.get_payload_as_bytes())
                if frame.fin:
                    whole = b"".join(self.parts)
                    self.parts = []
                    self._deliver(whole.decode() if self.part_type == text else whole)
            elif msg_type == close:
                transport.send_close(frame.get_close_code())
                transport.disconnect()
                self._deliver(ConnectionError("closed by peer"))

        def on_ws_disconnected(self, transport: WSTransport) -> None:
            self._deliver(ConnectionError("disconnected"))

        async def receive(self) -> object:
            if self.ready:
                message = self.ready.popleft()
            else:
                self.waiter = asyncio.get_running_loop().create_future()
                message = await self.waiter
            if isinstance(message, ConnectionError):
                raise message
            return message

    async def connect(url: str) -> Connection:
        transport, base = await ws_connect(Listener, url, max_frame_size=1 << 30, ssl_context=ssl)
        listener = cast(Listener, base)
        send = transport.send

        async def send_bytes(data: bytes) -> None:
            send(binary, data)

        async def send_text(data: str) -> None:
            send(text, data.encode())

        async def close() -> None:
            transport.send_close()
            await transport.wait_disconnected()

        return Connection(send_bytes, send_text, listener.receive, close, _identity)

    return connect


@contextlib.asynccontextmanager
async def _picows(ssl: ssl_module.SSLContext | None, deflate: bool) -> AsyncIterator[Connector]:
    yield _picows_connector(ssl)


# --------------------------------------------------------------------- httpx-ws


@contextlib.asynccontextmanager
async def _httpx_ws(ssl: ssl_module.SSLContext | None, deflate: bool) -> AsyncIterator[Connector]:
    import httpx
    from httpx_ws import AsyncWebSocketSession, aconnect_ws

    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    verify: Any = ssl if ssl is not None else True
    async with (
        httpx.AsyncClient(limits=limits, verify=verify) as client,
        contextlib.AsyncExitStack() as stack,
    ):

        async def connect(url: str) -> Connection:
            inner = contextlib.AsyncExitStack()
            ws: AsyncWebSocketSession = await inner.enter_async_context(
                aconnect_ws(
                    url.replace("ws://", "http://", 1).replace("wss://", "https://", 1),
                    client,
                    max_message_size_bytes=1 << 30,
                    keepalive_ping_interval_seconds=None,
                    keepalive_ping_timeout_seconds=None,
                )
            )
            stack.push_async_callback(inner.aclose)
            return Connection(ws.send_bytes, ws.send_text, ws.receive, inner.aclose, _data)

        yield connect


# ---------------------------------------------------------------- raw wsproto


class _WsprotoConnection:
    """The smallest correct asyncio-streams loop around wsproto's state machine."""

    READ_SIZE = 256 * 1024

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, ws: Any) -> None:
        from wsproto.events import BytesMessage, CloseConnection, Ping, TextMessage

        self._reader = reader
        self._writer = writer
        self._ws = ws
        self._ready: deque[bytes | bytearray | str] = deque()
        self._parts: list[Any] = []
        self._bytes_message = BytesMessage
        self._text_message = TextMessage
        self._ping = Ping
        self._close_event = CloseConnection

    async def send_bytes(self, data: bytes) -> None:
        self._writer.write(self._ws.send(self._bytes_message(data=data)))
        await self._writer.drain()

    async def send_text(self, data: str) -> None:
        self._writer.write(self._ws.send(self._text_message(data=data)))
        await self._writer.drain()

    async def receive(self) -> bytes | bytearray | str:
        ready = self._ready
        while not ready:
            chunk = await self._reader.read(self.READ_SIZE)
            self._ws.receive_data(chunk or None)
            for event in self._ws.events():
                self._handle(event)
            if not chunk and not ready:
                raise ConnectionError("connection closed")
        return ready.popleft()

    def _handle(self, event: Any) -> None:
        if isinstance(event, self._bytes_message | self._text_message):
            if event.message_finished and not self._parts:
                self._ready.append(event.data)
                return
            self._parts.append(event.data)
            if event.message_finished:
                parts, self._parts = self._parts, []
                self._ready.append("".join(parts) if isinstance(parts[0], str) else b"".join(parts))
        elif isinstance(event, self._ping):
            self._writer.write(self._ws.send(event.response()))
        elif isinstance(event, self._close_event):
            self._writer.write(self._ws.send(event.response()))
            raise ConnectionError("closed by peer")

    def _state(self) -> object:
        return self._ws.state

    async def close(self) -> None:
        from wsproto.connection import ConnectionState
        from wsproto.events import CloseConnection

        if self._ws.state is ConnectionState.OPEN:
            self._writer.write(self._ws.send(CloseConnection(code=1000)))
            await self._writer.drain()
            # Wait for the peer's Close so both sides finish the handshake.
            with contextlib.suppress(ConnectionError):
                while self._state() is not ConnectionState.CLOSED:
                    chunk = await self._reader.read(self.READ_SIZE)
                    if not chunk:
                        break
                    self._ws.receive_data(chunk)
                    for _ in self._ws.events():
                        pass
        self._writer.close()
        with contextlib.suppress(ConnectionError):
            await self._writer.wait_closed()


@contextlib.asynccontextmanager
async def _wsproto(ssl: ssl_module.SSLContext | None, deflate: bool) -> AsyncIterator[Connector]:
    from urllib.parse import urlsplit

    from wsproto import ConnectionType, WSConnection
    from wsproto.events import AcceptConnection, RejectConnection, Request

    async def connect(url: str) -> Connection:
        parts = urlsplit(url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        reader, writer = await asyncio.open_connection(host, port, ssl=ssl)
        ws = WSConnection(ConnectionType.CLIENT)
        writer.write(ws.send(Request(host=f"{host}:{port}", target=parts.path or "/")))
        await writer.drain()
        conn = _WsprotoConnection(reader, writer, ws)
        accepted = False
        while not accepted:
            chunk = await reader.read(65536)
            if not chunk:
                raise ConnectionError("closed during handshake")
            ws.receive_data(chunk)
            for event in ws.events():
                if isinstance(event, AcceptConnection):
                    accepted = True
                elif isinstance(event, RejectConnection):
                    raise ConnectionError(f"handshake rejected: {event.status_code}")
                else:
                    # Frames that arrived with the 101 response.
                    conn._handle(event)
        return Connection(conn.send_bytes, conn.send_text, conn.receive, conn.close, _identity)

    yield connect


# ------------------------------------------------------------------------ floor


class _FloorProtocol(asyncio.Protocol):
    """The least work an asyncio WebSocket client can do: a reference, not a client.

    It sends a fixed upgrade request without checking the answer, writes
    frames with an all-zero mask key (masking is then a no-op) and only
    finds where each echoed frame ends. No validation, no UTF-8 check, no
    limits, no events: what is left is the event loop and the syscalls, the
    floor under any asyncio client on this machine.
    """

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.ready: deque[bytes | str] = deque()
        self.waiter: asyncio.Future[bytes | str] | None = None
        self.upgraded: asyncio.Future[None] = self.loop.create_future()
        self.lost: asyncio.Future[None] = self.loop.create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        buf = self.buffer
        buf += data
        if not self.upgraded.done():
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            del buf[: end + 4]
            self.upgraded.set_result(None)
        while len(buf) >= 2:
            size, start = buf[1] & 0x7F, 2
            if size == 126:
                size, start = int.from_bytes(buf[2:4]), 4
            elif size == 127:
                size, start = int.from_bytes(buf[2:10]), 10
            if len(buf) < start + size:
                return
            opcode = buf[0] & 0x0F
            payload: bytes | str = bytes(buf[start : start + size])
            del buf[: start + size]
            if opcode == 0x1:
                payload = payload.decode()  # type: ignore[union-attr]
            if opcode != 0x8:
                waiter = self.waiter
                if waiter is not None and not waiter.done():
                    self.waiter = None
                    waiter.set_result(payload)
                else:
                    self.ready.append(payload)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(None)
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("connection lost"))

    def _send(self, opcode: int, data: bytes) -> None:
        size = len(data)
        if size < 126:
            head = bytes((0x80 | opcode, 0x80 | size))
        elif size < 65536:
            head = bytes((0x80 | opcode, 0x80 | 126)) + size.to_bytes(2)
        else:
            head = bytes((0x80 | opcode, 0x80 | 127)) + size.to_bytes(8)
        assert self.transport is not None
        self.transport.write(head + b"\0\0\0\0" + data)

    async def send_bytes(self, data: bytes) -> None:
        self._send(0x2, data)

    async def send_text(self, data: str) -> None:
        self._send(0x1, data.encode())

    async def receive(self) -> bytes | str:
        if self.ready:
            return self.ready.popleft()
        self.waiter = self.loop.create_future()
        return await self.waiter

    async def close(self) -> None:
        self._send(0x8, b"\x03\xe8")
        await self.lost


@contextlib.asynccontextmanager
async def _floor(ssl: ssl_module.SSLContext | None, deflate: bool) -> AsyncIterator[Connector]:
    from urllib.parse import urlsplit

    async def connect(url: str) -> Connection:
        parts = urlsplit(url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        loop = asyncio.get_running_loop()
        transport, conn = await loop.create_connection(_FloorProtocol, host, port, ssl=ssl)
        request = (
            f"GET {parts.path or '/'} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        transport.write(request.encode())
        await conn.upgraded
        return Connection(conn.send_bytes, conn.send_text, conn.receive, conn.close, _identity)

    yield connect


# ------------------------------------------------------------------------ lookup


Factory = Callable[
    [ssl_module.SSLContext | None, bool], contextlib.AbstractAsyncContextManager[Connector]
]


def connector(
    name: str, *, ssl: ssl_module.SSLContext | None = None, deflate: bool = False
) -> contextlib.AbstractAsyncContextManager[Connector]:
    """``async with connector(name) as connect: conn = await connect(url)``.

    ``ssl`` is the one client context every connection of the sample shares;
    ``deflate`` turns permessage-deflate on (the compression workloads).
    """
    name = split(name)[0]
    if name.startswith("openwire-"):
        return _openwire(name.removeprefix("openwire-"), ssl, deflate)
    factories: dict[str, Factory] = {
        "websockets": _websockets,
        "aiohttp": _aiohttp,
        "picows": _picows,
        "httpx-ws": _httpx_ws,
        "wsproto": _wsproto,
        FLOOR: _floor,
    }
    if name not in factories:
        raise ValueError(f"unknown client {name!r}; known: {sorted(factories)} and openwire-*")
    return factories[name](ssl, deflate)
