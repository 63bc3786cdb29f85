"""A small RFC 6455 echo server on plain asyncio streams.

``openwire demo`` must work right after ``pip install openwire-core``, and
``websockets`` is not a core dependency, so the server side is written here:
just enough of RFC 6455 to be a faithful peer (masked client frames,
fragmentation, ping/pong, the close handshake, size limits), and nothing an
echo does not need (no extensions, no subprotocol choice beyond echoing the
first one offered).

It runs on its own asyncio loop in a daemon thread, so clients on asyncio or
trio in the main thread can use the same server. Paths:

- any path: echo every text and binary message with its type;
- ``/close?code=4001&reason=bye``: close at once with that code and reason.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import struct
import threading
from collections.abc import Callable
from concurrent.futures import Future
from urllib.parse import parse_qs, urlsplit

from openwire.protocol.masking import apply_mask

__all__ = ["EchoServer"]

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_HEAD = 16 * 1024
MAX_MESSAGE = 64 * 1024 * 1024

TEXT, BINARY, CLOSE, PING, PONG, CONTINUATION = 0x1, 0x2, 0x8, 0x9, 0xA, 0x0


class _Refused(Exception):
    """The peer broke the protocol; close with ``code``."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def _frame(opcode: int, payload: bytes) -> bytes:
    n = len(payload)
    first = 0x80 | opcode
    if n < 126:
        return bytes((first, n)) + payload
    if n < 65536:
        return struct.pack("!BBH", first, 126, n) + payload
    return struct.pack("!BBQ", first, 127, n) + payload


def _close_payload(code: int, reason: str) -> bytes:
    return struct.pack("!H", code) + reason.encode("utf-8")[:123]


async def _read_frame(reader: asyncio.StreamReader) -> tuple[bool, int, bytes]:
    head = await reader.readexactly(2)
    fin = bool(head[0] & 0x80)
    if head[0] & 0x70:
        raise _Refused(1002, "reserved bits set without an extension")
    opcode = head[0] & 0x0F
    if not head[1] & 0x80:
        raise _Refused(1002, "client frames must be masked")
    length = head[1] & 0x7F
    if length == 126:
        (length,) = struct.unpack("!H", await reader.readexactly(2))
    elif length == 127:
        (length,) = struct.unpack("!Q", await reader.readexactly(8))
    if opcode >= 0x8 and (length > 125 or not fin):
        raise _Refused(1002, "invalid control frame")
    if length > MAX_MESSAGE:
        raise _Refused(1009, "message too big")
    key = await reader.readexactly(4)
    payload = await reader.readexactly(length) if length else b""
    return fin, opcode, apply_mask(payload, key)


class EchoServer:
    """``EchoServer().start()`` listens on 127.0.0.1 (port 0 picks a free one)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    # -- lifecycle (from any thread) ----------------------------------------
    def start(self) -> EchoServer:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(
            target=loop.run_forever, name="openwire-demo-server", daemon=True
        )
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), loop).result(10)
        return self

    def stop(self) -> None:
        loop = self._loop
        if loop is None:
            return
        future: Future[None] = asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
        try:
            future.result(5)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            if self._thread is not None:
                self._thread.join(5)
            if not loop.is_running():
                loop.close()
            self._loop = None

    def __enter__(self) -> EchoServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._connections):
            writer.close()

    async def serve_forever(self, on_ready: Callable[[], None] | None = None) -> None:
        """Serve on the current loop until cancelled (``openwire demo --serve``).

        ``on_ready`` runs once the port is bound, so the URL printed is real.
        """
        await self._listen()
        assert self._server is not None
        if on_ready is not None:
            on_ready()
        async with self._server:
            await self._server.serve_forever()

    # -- one connection -------------------------------------------------------
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._connections.add(writer)
        try:
            path = await self._handshake(reader, writer)
            if path is not None:
                await self._converse(path, reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        finally:
            self._connections.discard(writer)
            writer.close()

    async def _handshake(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> str | None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.LimitOverrunError:
            head = b""
        if len(head) > MAX_HEAD:
            head = b""
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                key = name.strip().lower()
                headers[key] = (
                    f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
                )
        key = headers.get("sec-websocket-key", "")
        upgrade_ok = (
            len(parts) == 3
            and parts[0] == "GET"
            and headers.get("upgrade", "").lower() == "websocket"
            and "upgrade" in headers.get("connection", "").lower()
            and headers.get("sec-websocket-version") == "13"
            and key
        )
        if not upgrade_ok:
            body = b"this is a WebSocket echo server; connect with ws://\n"
            writer.write(
                b"HTTP/1.1 426 Upgrade Required\r\nUpgrade: websocket\r\n"
                b"Sec-WebSocket-Version: 13\r\nContent-Type: text/plain\r\n"
                + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                + body
            )
            await writer.drain()
            return None
        accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
        response = [
            "HTTP/1.1 101 Switching Protocols",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Accept: {accept}",
        ]
        offered = headers.get("sec-websocket-protocol", "")
        if offered:
            response.append(f"Sec-WebSocket-Protocol: {offered.split(',')[0].strip()}")
        writer.write(("\r\n".join(response) + "\r\n\r\n").encode("latin-1"))
        await writer.drain()
        return parts[1]

    async def _converse(
        self, path: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        target = urlsplit(path)
        if target.path == "/close":
            query = {k: v[0] for k, v in parse_qs(target.query).items()}
            code = int(query.get("code", "1000"))
            await self._close(reader, writer, code, query.get("reason", ""))
            return
        fragments: list[bytes] = []
        message_opcode = 0
        size = 0
        while True:
            try:
                fin, opcode, payload = await _read_frame(reader)
                if opcode == CLOSE:
                    # Echo the client's code back (RFC 6455 §5.5.1); none if it sent none.
                    writer.write(_frame(CLOSE, payload[:2]))
                    await writer.drain()
                    return
                if opcode == PING:
                    writer.write(_frame(PONG, payload))
                    await writer.drain()
                    continue
                if opcode == PONG:
                    continue
                if opcode in (TEXT, BINARY):
                    if fragments:
                        raise _Refused(1002, "new message inside a fragmented one")
                    message_opcode = opcode
                elif opcode == CONTINUATION:
                    if not fragments:
                        raise _Refused(1002, "continuation without a message")
                else:
                    raise _Refused(1002, f"reserved opcode {opcode}")
                fragments.append(payload)
                size += len(payload)
                if size > MAX_MESSAGE:
                    raise _Refused(1009, "message too big")
                if not fin:
                    continue
                data = b"".join(fragments)
                fragments, size = [], 0
                if message_opcode == TEXT:
                    try:
                        data.decode("utf-8")
                    except UnicodeDecodeError:
                        raise _Refused(1007, "invalid UTF-8 in a text message") from None
                writer.write(_frame(message_opcode, data))
                await writer.drain()
            except _Refused as refused:
                await self._close(reader, writer, refused.code, refused.reason)
                return

    async def _close(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, code: int, reason: str
    ) -> None:
        """Start the close handshake and wait (briefly) for the client's Close."""
        writer.write(_frame(CLOSE, _close_payload(code, reason)))
        await writer.drain()
        try:
            async with asyncio.timeout(5):
                while True:
                    _, opcode, _ = await _read_frame(reader)
                    if opcode == CLOSE:
                        return
        except (TimeoutError, _Refused):
            return
