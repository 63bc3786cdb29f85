"""HTTP/1.1 ``Upgrade`` exchanges (the WebSocket handshake) on a connection of their own.

An upgraded connection is never reused, so a pool has nothing to give it but
bookkeeping: its queue, locks and per-connection state cost more than half
the CPU of a WebSocket handshake and are all released again right after the
``101``. Upgrades therefore skip the pool and drive ``h11`` directly on a
fresh connection, opened with the same network backend (DNS and connect
events), TLS context, proxy choice and timeouts as the pools use, and traced
through the same :class:`~openwire.http.tracing.ExchangeTracer`, so the
events an EventListener sees are the ones of any other call.

The answer's heads are read with :class:`~openwire.protocol.http11.HeadReader`,
bounded while they arrive (8 KiB per line, 128 field lines, 64 KiB per head,
8 interim 1xx heads); a ``101`` hands the connection over, anything else is
handed to h11 to frame its body.

Proxies: an HTTP(S) proxy is always tunnelled with ``CONNECT`` (a forwarding
proxy would rewrite the request and not pass the upgrade through), for
``ws://`` as for ``wss://``; SOCKS5 likewise. Both are opened by
:mod:`~openwire.http.tunnels`, as for plain calls.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import h11
import httpcore

from openwire.config import Timeouts
from openwire.errors import TLSError
from openwire.http.failures import ServerDisconnected
from openwire.http.models import Request
from openwire.http.tls import ALPN_H2, ALPN_HTTP11
from openwire.http.tracing import ExchangeTracer
from openwire.http.tunnels import Tunnels
from openwire.io.handover import Detached
from openwire.protocol.http11 import MAX_HEAD, Head, HeadReader, serialize_request

__all__ = ["AnswerContent", "UpgradeConnector", "UpgradeContent", "UpgradeResponse"]

_READ_SIZE = 64 * 1024


class _Configured:
    """The default of a timeout argument: the configured one (``None`` means no limit)."""


_CONFIGURED = _Configured()


class UpgradeContent:
    """The connection of one upgrade exchange, as the body of its response.

    After a ``101`` it is the upgraded connection: :meth:`detach` hands the
    connection and the bytes that arrived with the ``101`` to the new owner,
    as one :class:`~openwire.io.handover.Detached`.
    Otherwise h11 frames the (rejection's) body from it. Either way
    :meth:`aclose` closes the socket unless it was detached.
    """

    def __init__(
        self,
        stream: httpcore.AsyncNetworkStream,
        timeouts: Timeouts,
        *,
        leading: bytes = b"",
        conn: h11.Connection | None = None,
    ) -> None:
        self._stream: httpcore.AsyncNetworkStream | None = stream
        self._timeouts = timeouts
        self._leading = leading
        self._conn = conn

    def detach(self) -> Detached:
        """The connection and the bytes read past the 101; the caller owns the connection now."""
        stream, self._stream = self._stream, None
        if stream is None:
            raise RuntimeError("the upgraded connection was already closed or handed over")
        leading, self._leading = self._leading, b""
        return Detached(leading, stream)

    @property
    def stream(self) -> httpcore.AsyncNetworkStream:
        if self._stream is None:
            raise RuntimeError("the upgraded connection was already closed or handed over")
        return self._stream

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        """Reads the upgraded connection, starting with the bytes that came with the 101."""
        if self._leading:
            data, self._leading = self._leading[:max_bytes], self._leading[max_bytes:]
            return data
        return await self.stream.read(max_bytes, timeout)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        conn = self._conn
        while conn is not None and self._stream is not None:
            event = await _next_event(conn, self._stream, self._timeouts)
            if isinstance(event, h11.Data):
                yield bytes(event.data)
            elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                break
        await self.aclose()

    async def aclose(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            await stream.aclose()


class AnswerContent(Protocol):
    """What carries an upgrade's answer: :class:`UpgradeContent`, or an HTTP/2 stream's."""

    def detach(self) -> Detached: ...
    def __aiter__(self) -> AsyncIterator[bytes]: ...
    async def aclose(self) -> None: ...


@dataclass(slots=True)
class UpgradeResponse:
    """The answer to an upgrade request, shaped like the parts of an httpcore.Response
    the transport reads (building a real one re-validates every header)."""

    status: int
    headers: list[tuple[bytes, bytes]]
    stream: AnswerContent
    extensions: dict[str, Any]

    async def aclose(self) -> None:
        await self.stream.aclose()


class UpgradeConnector:
    """Opens a connection and sends one upgrade request on it."""

    def __init__(
        self,
        backend: httpcore.AsyncNetworkBackend,
        tls: Callable[[], ssl.SSLContext],
        timeouts: Timeouts,
    ) -> None:
        self._backend = backend
        self._tls = tls
        self._timeouts = timeouts

    async def exchange(
        self,
        request: Request,
        target: bytes,
        tracer: ExchangeTracer,
        tunnels: Tunnels | None,
        stream: httpcore.AsyncNetworkStream | None = None,
        *,
        within: float | None = None,
    ) -> UpgradeResponse:
        """Connect (unless given a fresh ``stream``), send ``request`` and read the head.

        ``stream`` is a connection opened for this request that is not used
        yet: one whose TLS handshake offered ``h2`` but settled on
        ``http/1.1`` (the HTTP/2 pool falls back on it rather than dialling
        again). Raises httpcore's exception types, like a pool would, so the
        transport translates both paths' failures the same way.

        ``within`` is the call's enclosing deadline
        (:attr:`~openwire.http.chain.CallContext.enclosing_deadline`): the
        connect (DNS, TCP, TLS) and the read of the answer arm no timer of
        their own when theirs could only expire after it. With the defaults
        (``handshake_timeout`` 10 s, ``Timeouts.connect`` 10 s, ``read``
        30 s) that is both, and a handshake arms one timer instead of three.
        """
        timeouts = self._timeouts
        connect_timeout, read_timeout = timeouts.connect, timeouts.read
        if within is not None:
            now = time.monotonic()
            connect_timeout = _unless_enclosed(connect_timeout, now, within)
            read_timeout = _unless_enclosed(read_timeout, now, within)
        if stream is None:
            stream = await self.connect(request, tracer, tunnels, timeout=connect_timeout)
        try:
            info: dict[str, Any] = {}
            method = request.method.encode("ascii")
            headers = request.headers.raw()
            tracer.step("send_request_headers.started", info)
            await stream.write(serialize_request(method, target, headers), self._timeouts.write)
            tracer.step("send_request_headers.complete", info)
            tracer.step("receive_response_headers.started", info)
            head, reader = await self._read_head(stream, read_timeout)
            if head.status == 101:
                content = UpgradeContent(stream, self._timeouts, leading=reader.rest)
            else:
                content = _rejection(
                    stream, self._timeouts, method, target, headers, reader.raw + reader.rest
                )
        except BaseException:
            await stream.aclose()
            raise
        extensions = {"http_version": b"HTTP/" + head.version, "reason_phrase": head.reason}
        return UpgradeResponse(head.status, head.fields, content, extensions)

    async def _read_head(
        self, stream: httpcore.AsyncNetworkStream, timeout: float | None
    ) -> tuple[Head, HeadReader]:
        """The final head (after any interim 1xx), bounded while it arrives."""
        reader = HeadReader()
        while True:
            data = await stream.read(_READ_SIZE, timeout)
            if not data:
                if reader.buffered:
                    raise httpcore.RemoteProtocolError(
                        "the server closed the connection in the middle of the response head"
                    )
                raise ServerDisconnected
            head = reader.feed(data)
            if head is not None:
                return head, reader

    async def connect(
        self,
        request: Request,
        tracer: ExchangeTracer,
        tunnels: Tunnels | None,
        tls: ssl.SSLContext | None = None,
        *,
        timeout: float | _Configured | None = _CONFIGURED,
    ) -> httpcore.AsyncNetworkStream:
        """A new connection to ``request``'s origin (through ``tunnels``), TLS for https.

        ``tls`` replaces the upgrade context (which offers only ``http/1.1``):
        the HTTP/2 pool passes one that offers ``h2`` too. ``timeout`` bounds
        the DNS, TCP and TLS steps each (default: ``Timeouts.connect``).
        """
        url = request.url
        host, port = url.host, url.port
        if isinstance(timeout, _Configured):
            timeout = self._timeouts.connect
        if tunnels is None:
            stream = await self._tcp(host, port, tracer, timeout)
        else:
            stream = await self._tunnel(tunnels, url.wire_scheme, host, port, tracer)
        if url.wire_scheme == "https":
            stream = await self._start_tls(stream, host, tracer, timeout, tls)
        return stream

    async def _tunnel(
        self, tunnels: Tunnels, scheme: str, host: str, port: int, tracer: ExchangeTracer
    ) -> httpcore.AsyncNetworkStream:
        """A tunnel through the proxy, reported as one connect step, as a pool's is."""
        route = tunnels.route
        info: dict[str, Any] = {"host": route.host, "port": route.port}
        tracer.step("connect_tcp.started", info)
        try:
            stream = await tunnels.open(scheme, host, port)
        except BaseException as exc:
            tracer.step("connect_tcp.failed", {**info, "exception": exc})
            raise
        tracer.step("connect_tcp.complete", {**info, "return_value": stream})
        return stream

    async def _tcp(
        self, host: str, port: int, tracer: ExchangeTracer, timeout: float | None
    ) -> httpcore.AsyncNetworkStream:
        info: dict[str, Any] = {"host": host, "port": port}
        tracer.step("connect_tcp.started", info)
        try:
            stream = await self._backend.connect_tcp(host, port, timeout)
        except BaseException as exc:
            tracer.step("connect_tcp.failed", {**info, "exception": exc})
            raise
        tracer.step("connect_tcp.complete", {**info, "return_value": stream})
        return stream

    async def _start_tls(
        self,
        stream: httpcore.AsyncNetworkStream,
        host: str,
        tracer: ExchangeTracer,
        timeout: float | None,
        context: ssl.SSLContext | None = None,
    ) -> httpcore.AsyncNetworkStream:
        info: dict[str, Any] = {"server_hostname": host, "timeout": timeout}
        tracer.step("start_tls.started", info)
        upgrade = context is None
        tls_context = self._tls() if context is None else context
        # Set right before the handshake (see openwire.http.tls).
        tls_context.set_alpn_protocols(ALPN_HTTP11 if upgrade else ALPN_H2)
        try:
            tls = await stream.start_tls(tls_context, host, timeout)
            if upgrade:
                _check_http11(tls, host)
        except BaseException as exc:
            tracer.step("start_tls.failed", {**info, "exception": exc})
            await stream.aclose()
            raise
        tracer.step("start_tls.complete", {**info, "return_value": tls})
        return tls


def _check_http11(stream: httpcore.AsyncNetworkStream, host: str) -> None:
    """An upgrade speaks HTTP/1.1: refuse a TLS session that agreed on anything else."""
    ssl_object = stream.get_extra_info("ssl_object")
    chosen = ssl_object.selected_alpn_protocol() if ssl_object is not None else None
    if chosen not in (None, "http/1.1"):
        raise TLSError(
            f"the TLS handshake with {host} agreed on {chosen!r} by ALPN, but a WebSocket "
            "upgrade (RFC 6455) needs HTTP/1.1, which is all it offered; the server "
            "chose a protocol it was not offered. Use http_version='2' for WebSockets "
            "over HTTP/2"
        )


def _unless_enclosed(timeout: float | None, now: float, within: float) -> float | None:
    """``timeout`` for a step starting now, or ``None`` if it could only expire after ``within``.

    A step starts at ``now`` or later, so its deadline is at least
    ``now + timeout``; when that is at or after the enclosing deadline,
    whose timer was armed first, the enclosing timer fires first.
    """
    if timeout is None or now + timeout < within:
        return timeout
    return None


def _rejection(
    stream: httpcore.AsyncNetworkStream,
    timeouts: Timeouts,
    method: bytes,
    target: bytes,
    headers: list[tuple[bytes, bytes]],
    received: bytes,
) -> UpgradeContent:
    """A non-101 answer: h11 reads the final head again and frames the body that follows."""
    conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD)
    # h11 only needs the request's method to frame the answer; the headers
    # that went out (already checked) must not make it refuse to read it.
    host = next((v for k, v in headers if k.lower() == b"host"), b"_")
    try:
        conn.send(h11.Request(method=method, target=target, headers=[(b"Host", host)]))
        conn.send(h11.EndOfMessage())
        conn.receive_data(received)
        event = conn.next_event()
        if not isinstance(event, h11.Response):
            raise h11.RemoteProtocolError(f"h11 read {event!r} where the final head was")
    except h11.ProtocolError as exc:
        raise httpcore.RemoteProtocolError(str(exc)) from exc
    return UpgradeContent(stream, timeouts, conn=conn)


async def _next_event(
    conn: h11.Connection, stream: httpcore.AsyncNetworkStream, timeouts: Timeouts
) -> Any:
    while True:
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError as exc:
            raise httpcore.RemoteProtocolError(str(exc)) from exc
        if event is not h11.NEED_DATA:
            return event
        data = await stream.read(_READ_SIZE, timeouts.read)
        if not data and conn.their_state == h11.SEND_RESPONSE:
            raise ServerDisconnected
        conn.receive_data(data)
