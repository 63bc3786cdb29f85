"""A raw WebSocket server for the fuzz tests: answers the handshake, plays bytes, records.

Why not :class:`openwire.testing.servers.ScriptedServer`: a client that
fails the connection while the server is still sending closes a socket with
unread data, and the kernel answers with a reset. The Close the client sent
first is still in the server's receive queue, but an ``asyncio.StreamReader``
raises the reset before handing out bytes it holds, and an asyncio transport
whose write fails drops its socket unread. Plain socket calls
(``loop.sock_recv``) get every byte the kernel holds before the reset, so
nothing the client sent goes unrecorded. Frames are still parsed by
:class:`openwire.testing.frames.FrameReader`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import socket
from collections.abc import Sequence

from openwire.testing.frames import ClientFrame, FrameReader
from openwire.testing.servers import BackgroundLoop

__all__ = ["PlayedServer"]

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


async def _play(
    sock: socket.socket,
    chunks: Sequence[bytes],
    extensions: str | None,
    wait_for_close: float,
    linger: float,
) -> list[ClientFrame]:
    """One connection: a 101, ``chunks`` one write at a time, every client frame recorded."""
    loop = asyncio.get_running_loop()
    head = b""
    while b"\r\n\r\n" not in head:
        data = await loop.sock_recv(sock, 65536)
        if not data:
            return []
        head += data
    head, _, rest = head.partition(b"\r\n\r\n")
    key = b""
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"sec-websocket-key":
            key = value.strip()
    lines = [
        b"HTTP/1.1 101 Switching Protocols",
        b"Upgrade: websocket",
        b"Connection: Upgrade",
        b"Sec-WebSocket-Accept: " + base64.b64encode(hashlib.sha1(key + GUID).digest()),
    ]
    if extensions:
        lines.append(b"Sec-WebSocket-Extensions: " + extensions.encode())
    await loop.sock_sendall(sock, b"\r\n".join(lines) + b"\r\n\r\n")

    parser = FrameReader()
    frames = parser.feed(rest)
    got_close = asyncio.Event()

    async def read() -> None:
        while True:
            try:
                data = await loop.sock_recv(sock, 65536)
            except OSError:
                return  # a reset: the kernel handed out what it held first
            if not data:
                return
            new = parser.feed(data)
            frames.extend(new)
            if any(f.opcode == 0x8 for f in new):
                got_close.set()

    reader = loop.create_task(read())
    closed = loop.create_task(got_close.wait())
    try:
        for chunk in chunks:
            try:
                await loop.sock_sendall(sock, chunk)
            except OSError:
                break  # the client failed the connection and dropped it
            await asyncio.sleep(0)
        if wait_for_close:
            await asyncio.wait(
                [reader, closed], timeout=wait_for_close, return_when=asyncio.FIRST_COMPLETED
            )
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_WR)
        await asyncio.wait([reader], timeout=linger)
    finally:
        reader.cancel()
        closed.cancel()
        sock.close()
    return frames


async def _listen() -> socket.socket:
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    return listener


class PlayedServer:
    """Serve one connection on 127.0.0.1 that plays ``chunks``; ``url`` to connect to.

    After the last chunk it waits up to ``wait_for_close`` s for the client's
    Close (0: not at all), then ends its side of TCP (FIN) and waits up to
    ``linger`` s for the client to end its own. :meth:`result` returns the
    frames the client sent, once the connection is over.
    """

    def __init__(
        self,
        loop: BackgroundLoop,
        chunks: Sequence[bytes],
        *,
        extensions: str | None = None,
        wait_for_close: float = 0.0,
        linger: float = 5.0,
    ) -> None:
        self._listener = loop.run(_listen())

        async def serve() -> list[ClientFrame]:
            sock, _ = await asyncio.get_running_loop().sock_accept(self._listener)
            return await _play(sock, chunks, extensions, wait_for_close, linger)

        self._served = asyncio.run_coroutine_threadsafe(serve(), loop.loop)
        self.url = f"ws://127.0.0.1:{self._listener.getsockname()[1]}/"

    def result(self, timeout: float) -> list[ClientFrame]:
        return self._served.result(timeout)

    def __enter__(self) -> PlayedServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self._served.cancel()
        self._listener.close()
