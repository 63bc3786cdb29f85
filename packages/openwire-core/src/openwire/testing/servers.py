"""Loopback peers for tests: a real websockets server and a scripted raw server.

Both run on an asyncio loop in a background thread, so one server serves a
client under test on asyncio or trio alike. Addresses are always 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import threading
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from concurrent.futures import Future
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

from openwire.testing.frames import ClientFrame, FrameReader, frame

__all__ = ["AiohttpEchoServer", "BackgroundLoop", "EchoServer", "RawPeer", "ScriptedServer"]

T = TypeVar("T")
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class BackgroundLoop:
    """An asyncio loop in a daemon thread, for servers the tests talk to."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        """Run ``coro`` on the background loop from any thread and return its result."""
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout)

    def close(self) -> None:
        """Cancel what still runs on the loop, then stop it and its thread."""

        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        try:
            self.run(cancel_all(), timeout=5)
            self.run(self.loop.shutdown_asyncgens(), timeout=5)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(5)
            if not self._thread.is_alive():
                self.loop.close()


# ----------------------------------------------------------------- scripted


class RawPeer:
    """One accepted connection of a :class:`ScriptedServer`, driven by a script."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.request_head = b""
        self.request_headers: dict[str, str] = {}
        self.path = ""
        self.received = bytearray()
        self.frames: list[ClientFrame] = []
        self.eof = False
        self._parser = FrameReader()
        self._pending: list[ClientFrame] = []

    async def read_request(self) -> None:
        """Read the handshake request: sets ``request_head``, ``path``, ``request_headers``."""
        self.request_head = await self.reader.readuntil(b"\r\n\r\n")
        lines = self.request_head.decode("latin-1").split("\r\n")
        self.path = lines[0].split(" ")[1]
        for line in lines[1:]:
            if ":" in line:
                name, _, value = line.partition(":")
                key = name.strip().lower()
                value = value.strip()
                if key in self.request_headers:
                    self.request_headers[key] += ", " + value
                else:
                    self.request_headers[key] = value

    def accept_value(self) -> str:
        """The ``Sec-WebSocket-Accept`` value that answers the client's key (RFC 6455 §4.2.2)."""
        key = self.request_headers.get("sec-websocket-key", "")
        return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()

    async def handshake(
        self,
        *,
        status: str = "101 Switching Protocols",
        headers: Sequence[tuple[str, str]] | None = None,
        extra_headers: Sequence[tuple[str, str]] = (),
        body: bytes = b"",
        trailing: bytes = b"",
    ) -> None:
        """Read the upgrade request and answer it (a valid 101 unless told otherwise).

        ``trailing`` is written in the same ``write`` as the response, like a
        server that sends its first frame right after the 101.
        """
        await self.read_request()
        if headers is None:
            headers = [
                ("Upgrade", "websocket"),
                ("Connection", "Upgrade"),
                ("Sec-WebSocket-Accept", self.accept_value()),
            ]
        lines = [f"HTTP/1.1 {status}"] + [f"{k}: {v}" for k, v in [*headers, *extra_headers]]
        if body or not status.startswith("101"):
            lines.append(f"Content-Length: {len(body)}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.writer.write(head + body + trailing)
        await self.writer.drain()

    async def send(self, data: bytes) -> None:
        """Write raw bytes to the client, exactly as given."""
        self.writer.write(data)
        await self.writer.drain()

    async def send_frame(self, opcode: int, payload: bytes = b"", **kwargs: Any) -> None:
        """Write one unmasked server frame; ``kwargs`` go to ``openwire.testing.frames.frame``."""
        await self.send(frame(opcode, payload, **kwargs))

    async def read_frame(self, timeout: float = 5) -> ClientFrame | None:
        """The next client frame, or ``None`` at EOF."""
        while not self._pending:
            if self.eof:
                return None
            try:
                data = await asyncio.wait_for(self.reader.read(65536), timeout)
            except (ConnectionError, OSError):
                data = b""
            if not data:
                self.eof = True
                continue
            self.received += data
            parsed = self._parser.feed(data)
            self.frames += parsed
            self._pending += parsed
        return self._pending.pop(0)

    async def read_until_close(self, timeout: float = 5) -> ClientFrame | None:
        """Read frames until a Close frame (returned) or EOF (``None``)."""
        while True:
            got = await self.read_frame(timeout)
            if got is None or got.opcode == 0x8:
                return got

    async def wait_eof(self, timeout: float = 5) -> bool:
        """True once the client closed TCP within ``timeout``."""
        try:
            while await self.read_frame(timeout) is not None:
                pass
        except TimeoutError:
            return False
        return True

    def close(self) -> None:
        """Close the TCP connection without a close handshake."""
        self.writer.close()


Script = Callable[[RawPeer], Awaitable[None]]


class ScriptedServer:
    """A raw TCP server on 127.0.0.1 that plays a script per connection.

    The script performs the handshake (or a broken one), sends exact bytes
    and records what the client sends. ``await server.wait()`` (from any
    backend) waits for the scripts to finish and re-raises their errors.
    """

    def __init__(self, bg: BackgroundLoop, script: Script, ssl_context: Any = None) -> None:
        self._bg = bg
        self._script = script
        self._ssl = ssl_context
        self.peers: list[RawPeer] = []
        self._done: list[Future[None]] = []
        self._server: asyncio.Server | None = None
        self.port = 0
        self._connected = threading.Event()

    @property
    def url(self) -> str:
        """The address to connect to: ``ws://`` (``wss://`` with TLS) on 127.0.0.1."""
        scheme = "wss" if self._ssl is not None else "ws"
        return f"{scheme}://127.0.0.1:{self.port}/"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = RawPeer(reader, writer)
        self.peers.append(peer)
        self._connected.set()
        try:
            await self._script(peer)
        finally:
            writer.close()

    def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        future: Future[None] = Future()
        self._done.append(future)
        task = self._bg.loop.create_task(self._handle(reader, writer))

        def finished(t: asyncio.Task[None]) -> None:
            if t.cancelled():
                future.set_result(None)
            elif (error := t.exception()) is not None:
                future.set_exception(error)
            else:
                future.set_result(None)

        task.add_done_callback(finished)

    def start(self) -> ScriptedServer:
        """Listen on 127.0.0.1 (a free port); ``url`` is set once this returns."""

        async def start() -> None:
            self._server = await asyncio.start_server(
                self._on_connect, "127.0.0.1", 0, ssl=self._ssl
            )
            self.port = self._server.sockets[0].getsockname()[1]

        self._bg.run(start())
        return self

    def wait_sync(self, timeout: float = 10) -> None:
        """Block until a client connected and every script finished; re-raise a script's error."""
        if not self._connected.wait(timeout):
            raise TimeoutError("no client connected to the scripted server")
        for future in list(self._done):
            future.result(timeout)

    async def wait(self, timeout: float = 10) -> None:
        """``wait_sync`` from async code, in a worker thread."""
        import anyio.to_thread

        await anyio.to_thread.run_sync(self.wait_sync, timeout)

    def stop(self) -> None:
        """Stop listening and close every peer's connection."""

        async def stop() -> None:
            if self._server is not None:
                self._server.close()
                for peer in self.peers:
                    peer.writer.close()

        self._bg.run(stop())


# --------------------------------------------------------------- websockets


class EchoServer:
    """A real ``websockets`` server: echoes, and obeys a few path commands.

    - ``/`` or ``/echo``: echo every message;
    - ``/close?code=4001&reason=bye``: close at once with that code;
    - ``/headers``: send the request headers back as one text message;
    - ``/send?count=N&size=S``: send N binary messages of S bytes, then echo.

    Subprotocols ``chat`` and ``superchat`` are supported; ``compression="deflate"``
    accepts permessage-deflate (websockets' defaults: 12-bit windows both ways).
    """

    def __init__(
        self,
        bg: BackgroundLoop,
        *,
        max_size: int | None = None,
        ssl_context: Any = None,
        compression: str | None = None,
    ) -> None:
        self._bg = bg
        self._max_size = max_size
        self._ssl = ssl_context
        self._compression = compression
        self._server: Any = None
        self.port = 0

    @property
    def url(self) -> str:
        """The address to connect to: ``ws://127.0.0.1:<port>``."""
        return f"ws://127.0.0.1:{self.port}"

    async def _handler(self, ws: Any) -> None:
        request = ws.request
        parts = urlsplit(request.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if parts.path == "/close":
            await ws.close(int(query.get("code", 1000)), query.get("reason", ""))
            return
        if parts.path == "/headers":
            await ws.send("\n".join(f"{k}: {v}" for k, v in request.headers.raw_items()))
        if parts.path == "/send":
            for _ in range(int(query.get("count", 1))):
                await ws.send(b"x" * int(query.get("size", 1)))
        try:
            async for message in ws:
                await ws.send(message)
        except Exception:
            return

    def start(self) -> EchoServer:
        """Listen on 127.0.0.1 (a free port); ``url`` is set once this returns."""
        from websockets.asyncio.server import serve

        async def start() -> None:
            self._server = await serve(
                self._handler,
                "127.0.0.1",
                0,
                select_subprotocol=_select_subprotocol,  # type: ignore[arg-type]
                max_size=self._max_size,
                ping_interval=None,
                compression=self._compression,
                ssl=self._ssl,
            )
            self.port = self._server.sockets[0].getsockname()[1]

        self._bg.run(start())
        return self

    def stop(self) -> None:
        """Stop the server and wait until it is closed."""

        async def stop() -> None:
            self._server.close()
            await self._server.wait_closed()

        self._bg.run(stop())


class AiohttpEchoServer:
    """A real ``aiohttp`` server with the same paths and subprotocols as :class:`EchoServer`.

    ``compress=True`` accepts permessage-deflate (aiohttp's answer has no parameters).
    """

    def __init__(self, bg: BackgroundLoop, *, compress: bool = False) -> None:
        self._bg = bg
        self._compress = compress
        self._runner: Any = None
        self.port = 0

    @property
    def url(self) -> str:
        """The address to connect to: ``ws://127.0.0.1:<port>``."""
        return f"ws://127.0.0.1:{self.port}"

    async def _handler(self, request: Any) -> Any:
        from aiohttp import WSMsgType, web

        ws = web.WebSocketResponse(
            protocols=("chat", "superchat"), max_msg_size=0, compress=self._compress
        )
        await ws.prepare(request)
        query = request.query
        if request.path == "/close":
            await ws.close(
                code=int(query.get("code", 1000)), message=query.get("reason", "").encode()
            )
            return ws
        if request.path == "/headers":
            await ws.send_str("\n".join(f"{k}: {v}" for k, v in request.headers.items()))
        if request.path == "/send":
            for _ in range(int(query.get("count", 1))):
                await ws.send_bytes(b"x" * int(query.get("size", 1)))
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                await ws.send_str(message.data)
            elif message.type == WSMsgType.BINARY:
                await ws.send_bytes(message.data)
        return ws

    def start(self) -> AiohttpEchoServer:
        """Listen on 127.0.0.1 (a free port); ``url`` is set once this returns."""
        from aiohttp import web

        async def start() -> None:
            app = web.Application()
            app.router.add_route("GET", "/{tail:.*}", self._handler)
            self._runner = web.AppRunner(app, access_log=None)
            await self._runner.setup()
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            await site.start()
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

        self._bg.run(start())
        return self

    def stop(self) -> None:
        """Stop the server and release its runner."""
        self._bg.run(self._runner.cleanup())


def _select_subprotocol(connection: Any, offered: Sequence[str]) -> str | None:
    """The first offered of ``chat``/``superchat``; none offered is fine."""
    for name in offered:
        if name in ("chat", "superchat"):
            return name
    return None
