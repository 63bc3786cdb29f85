"""The network stream httpcore and the upgrade connector use on asyncio.

httpcore's anyio stream wraps every read and write in a cancel scope and a
memory of anyio's own; on asyncio that is most of the CPU of a short
exchange such as a WebSocket handshake. :class:`AsyncioStream` is a plain
protocol on the event loop's transport: reads wait on one future, timeouts
are one timer, and after a ``101`` the transport itself can be handed to the
WebSocket channel (see :meth:`AsyncioStream.take_transport`), so the
upgraded connection runs with no wrapper at all. On trio, anyio's stream is
used unchanged.

Rules:

- Nothing here depends on a transport's class, only on the documented
  ``asyncio.Transport`` interface: uvloop's transports are not subclasses of
  asyncio's, and uvloop is a first-class loop.
- A peer's EOF closes only its half of a plain TCP connection
  (``eof_received`` keeps the transport open): the WebSocket that takes the
  transport over may still owe the peer a Close frame (RFC 6455 §5.5.1), for
  example when a server sends ``101``, Close and FIN in one burst. Whoever
  owns the stream closes it. TLS cannot be half-closed in asyncio (its TLS
  layer ignores the answer and closes after flushing what was written).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Iterable
from typing import Any, cast

import httpcore

__all__ = ["AsyncioStream", "connect_tcp"]

# Longer than any sensible timeout: "no limit" where asyncio wants a number.
_NO_LIMIT = 365 * 24 * 3600.0
# Reading pauses once this much is buffered and nobody reads it.
_HIGH_WATER = 256 * 1024


class _StreamProtocol(asyncio.Protocol):
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.eof = False
        self.error: Exception | None = None
        self.read_waiter: asyncio.Future[None] | None = None
        self.drain_waiter: asyncio.Future[None] | None = None
        self.write_paused = False
        self.read_paused = False
        self.tls = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._wake_reader()
        if len(self.buffer) > _HIGH_WATER and not self.read_paused and self.transport is not None:
            self.read_paused = True
            self.transport.pause_reading()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake_reader()
        # Keep our sending half open (see the module's rules); asyncio's TLS
        # layer would log a warning for True and close anyway.
        return not self.tls

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self.error = exc
        self._wake_reader()
        waiter, self.drain_waiter = self.drain_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        waiter, self.drain_waiter = self.drain_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _wake_reader(self) -> None:
        waiter, self.read_waiter = self.read_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


async def _wait(
    loop: asyncio.AbstractEventLoop, waiter: asyncio.Future[None], timeout: float | None
) -> None:
    """One future and, if bounded, one timer: the whole cost of a timed wait."""
    if timeout is None:
        await waiter
        return
    timer = loop.call_later(timeout, _expire, waiter)
    try:
        await waiter
    finally:
        timer.cancel()


class AsyncioStream(httpcore.AsyncNetworkStream):
    """An httpcore network stream over an asyncio transport."""

    def __init__(self, transport: asyncio.Transport, protocol: _StreamProtocol) -> None:
        self._transport = transport
        self._protocol = protocol

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        protocol = self._protocol
        if not protocol.buffer:
            if protocol.eof:
                if protocol.error is not None:
                    raise httpcore.ReadError(str(protocol.error) or repr(protocol.error))
                return b""
            waiter = protocol.read_waiter = protocol.loop.create_future()
            try:
                await _wait(protocol.loop, waiter, timeout)
            except TimeoutError:
                raise httpcore.ReadTimeout(f"no data within {timeout}s") from None
            finally:
                protocol.read_waiter = None
            return await self.read(max_bytes, timeout)
        data = bytes(protocol.buffer[:max_bytes])
        del protocol.buffer[:max_bytes]
        if protocol.read_paused and len(protocol.buffer) < _HIGH_WATER // 4:
            protocol.read_paused = False
            self._transport.resume_reading()
        return data

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        protocol = self._protocol
        if self._transport.is_closing():
            raise httpcore.WriteError("the connection is closed")
        self._transport.write(buffer)
        if protocol.write_paused:
            waiter = protocol.drain_waiter = protocol.loop.create_future()
            try:
                await _wait(protocol.loop, waiter, timeout)
            except TimeoutError:
                raise httpcore.WriteTimeout(f"the peer read nothing for {timeout}s") from None
        if protocol.error is not None:
            raise httpcore.WriteError(str(protocol.error) or repr(protocol.error))

    async def aclose(self) -> None:
        """Close now, without waiting on the peer.

        ``close()`` alone waits for the write buffer to drain, and on TLS for
        the peer's ``close_notify``: a peer that stopped reading (a write
        timeout) or never answers would keep the socket open until the loop
        closes. The stream is closed because its exchange is over or failed,
        so what is still unsent is no longer wanted: ``close()`` hands the
        ``close_notify`` to the socket when it can, and ``abort()`` then
        releases the socket at once (a no-op when ``close()`` already did).
        """
        self._transport.close()
        self._transport.abort()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = self._protocol.loop
        try:
            # Our own timer: asyncio's ssl_handshake_timeout fails with
            # ConnectionAbortedError (indistinguishable from a broken
            # handshake) and cannot be disabled (None means 60 s).
            async with asyncio.timeout(timeout):
                transport = await loop.start_tls(
                    self._transport,
                    self._protocol,
                    ssl_context,
                    server_hostname=server_hostname,
                    ssl_handshake_timeout=_NO_LIMIT,
                )
        except TimeoutError as exc:
            self._transport.abort()
            raise httpcore.ConnectTimeout(f"the TLS handshake took over {timeout}s") from exc
        except (OSError, ssl.SSLError, ConnectionError) as exc:
            self._transport.abort()
            raise httpcore.ConnectError(str(exc) or repr(exc)) from exc
        if transport is None:  # the connection was lost during the handshake
            raise httpcore.ConnectError("the connection closed during the TLS handshake")
        self._protocol.transport = transport
        self._protocol.tls = True
        return AsyncioStream(transport, self._protocol)

    def get_extra_info(self, info: str) -> Any:
        transport = self._transport
        if info == "ssl_object":
            return transport.get_extra_info("ssl_object")
        if info == "client_addr":
            return transport.get_extra_info("sockname")
        if info == "server_addr":
            return transport.get_extra_info("peername")
        if info == "socket":
            return transport.get_extra_info("socket")
        if info == "is_readable":
            # httpcore asks before reusing a pooled connection: readable while
            # idle means the server closed it (or sent something unasked).
            return bool(self._protocol.buffer) or self._protocol.eof
        return None

    def take_transport(self) -> tuple[asyncio.Transport, bytes, bool]:
        """``(transport, bytes buffered so far, whether the peer already ended)``.

        "Ended" is the peer's EOF on a transport that is still open for our
        writes, or a transport that is already closing.

        The caller sets its own protocol on the transport right away (before
        yielding to the loop), so no byte can be delivered to this stream
        after the buffer was taken. This stream is dead after.

        Reading is left paused: the new owner resumes it once it can bound
        what it takes in. Resumed here, a loop that reads many times per turn
        (uvloop) could pile megabytes into the hand-over.
        """
        protocol = self._protocol
        pending = bytes(protocol.buffer)
        protocol.buffer.clear()
        if not protocol.read_paused:
            protocol.read_paused = True
            with contextlib.suppress(RuntimeError):  # a closing transport
                self._transport.pause_reading()
        # A closing transport may have sent its connection_lost to our
        # protocol already (asyncio's TLS layer picks the protocol when it
        # schedules the call): report it as ended, or nobody would hear of it.
        transport = self._transport
        return transport, pending, protocol.eof or transport.is_closing()


async def connect_tcp(
    host: str,
    port: int,
    timeout: float | None,
    socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
) -> AsyncioStream:
    """Connect to one resolved address, raising httpcore's connect errors."""
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(timeout):
            transport, protocol = await loop.create_connection(
                lambda: _StreamProtocol(loop), host, port
            )
    except TimeoutError as exc:
        raise httpcore.ConnectTimeout(f"connecting to {host}:{port} timed out") from exc
    except OSError as exc:
        raise httpcore.ConnectError(str(exc) or repr(exc)) from exc
    # asyncio already sets TCP_NODELAY on TCP sockets.
    sock = transport.get_extra_info("socket")
    for option in socket_options or ():
        sock.setsockopt(*option)
    return AsyncioStream(transport, protocol)
