"""The transport's pool of HTTP/2 connections: WebSockets (RFC 8441) and ordinary requests.

Rules of this module:

- Ordinary requests (``Client(http2=True)``, ``https`` origins) and
  WebSocket handshakes to one origin share its connections
  (:meth:`Multiplexer.request`, :meth:`Multiplexer.exchange`). A connection
  whose server lacks ``SETTINGS_ENABLE_CONNECT_PROTOCOL`` carries requests
  only; a WebSocket that finds one falls back (``"auto"``) or fails (``"2"``).

- Which version: the handshake request's
  :attr:`HandshakeOffer.http_version <openwire.protocol.handshake.HandshakeOffer>`.
  ``"1.1"`` never comes here. For ``wss://``, ``"auto"`` and ``"2"`` offer
  ``h2`` and ``http/1.1`` by ALPN; ``h2`` selected and
  ``SETTINGS_ENABLE_CONNECT_PROTOCOL = 1`` in the server's first SETTINGS
  mean an extended CONNECT on a stream of that connection. Otherwise
  ``"auto"`` falls back to the HTTP/1.1 upgrade (on the very TLS connection
  that settled on ``http/1.1``, or on a new one when the server spoke h2
  without the setting), fires ``websocket_http2_fallback`` and remembers the
  origin for :data:`FALLBACK_MEMORY` seconds so the next handshakes go
  straight to HTTP/1.1; ``"2"`` raises :class:`~openwire.errors.HTTP2Unavailable`.
  For ``ws://``, ``"2"`` is prior-knowledge h2c (RFC 9113 §3.3) and
  ``"auto"`` is HTTP/1.1 (there is nothing to negotiate with).
- Sharing: one connection per origin (and proxy, and event loop) carries
  every WebSocket it has room for. Opening a connection happens under the
  origin's lock, so handshakes that start together share the connection the
  first one opens instead of each dialling.
- ``MAX_CONCURRENT_STREAMS``: when every connection to the origin is at the
  server's limit, a new connection is opened rather than waiting. A
  WebSocket holds its stream for as long as it lives, so waiting for a slot
  could mean waiting forever.
- A stream the server refused without processing it (``REFUSED_STREAM``,
  or above a graceful GOAWAY's last stream id) is retried once on another
  connection; nothing was processed, so it is safe.
- A connection with no stream left closes after ``Limits.keepalive_expiry``;
  closing the client closes idle connections at once and the others when
  their last WebSocket ends (a WebSocket outlives its client over HTTP/1.1
  too).
"""

from __future__ import annotations

import ssl
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable
from typing import Any

import anyio
import httpcore

from openwire.config import Timeouts
from openwire.errors import HTTP2StreamError, HTTP2Unavailable
from openwire.http.models import Request, RequestTimeouts
from openwire.http.tracing import ExchangeTracer
from openwire.http.tunnels import Tunnels
from openwire.http.upgrade import UpgradeConnector, UpgradeResponse
from openwire.http2.channel import H2Channel
from openwire.http2.connection import H2Connection, H2Stream
from openwire.io.backend import current_backend
from openwire.io.channel import ChannelSink
from openwire.io.handover import Detached
from openwire.io.runtime import Runtime

__all__ = [
    "FALLBACK_MEMORY",
    "H2Content",
    "HTTP11Handoff",
    "Multiplexer",
    "connect_headers",
    "request_headers",
]

FALLBACK_MEMORY = 600.0
"""Seconds an origin that cannot carry a WebSocket over HTTP/2 is remembered (``"auto"``)."""

# Fields HTTP/2 forbids (RFC 9113 §8.2.2) or that belong to the HTTP/1.1
# upgrade only (RFC 8441 §5); Host becomes :authority.
_DROPPED = frozenset(
    {
        b"host",
        b"upgrade",
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"transfer-encoding",
        b"te",
        b"sec-websocket-key",
    }
)


def request_headers(request: Request, target: bytes) -> list[tuple[bytes, bytes]]:
    """An ordinary request's HEADERS (RFC 9113 §8.3.1): pseudo-fields, then lowercase fields."""
    url = request.url
    authority = request.headers.get("host") or url.netloc
    fields = [
        (b":method", request.method.encode("ascii")),
        (b":authority", authority.encode("idna" if not authority.isascii() else "ascii")),
        (b":scheme", url.wire_scheme.encode("ascii")),
        (b":path", target),
    ]
    for name, value in request.headers.raw():
        lower = name.lower()
        if lower == b"te" and value.strip().lower() == b"trailers":
            fields.append((lower, b"trailers"))  # the one TE value HTTP/2 allows
        elif lower not in _DROPPED:
            fields.append((lower, value))
    return fields


def connect_headers(request: Request, target: bytes) -> list[tuple[bytes, bytes]]:
    """The extended CONNECT (RFC 8441 §4) for a WebSocket handshake request as built."""
    url = request.url
    authority = request.headers.get("host") or url.netloc
    fields = [
        (b":method", b"CONNECT"),
        (b":protocol", b"websocket"),
        (b":scheme", url.wire_scheme.encode("ascii")),
        (b":authority", authority.encode("idna" if not authority.isascii() else "ascii")),
        (b":path", target),
    ]
    for name, value in request.headers.raw():
        lower = name.lower()
        if lower not in _DROPPED:
            fields.append((lower, value))
    return fields


class H2Content:
    """An HTTP/2 answer's stream, as the transport sees an upgrade's content.

    After a 2xx it is the WebSocket's byte stream (:meth:`detach`); for
    anything else, the body of the rejection.
    """

    def __init__(self, stream: H2Stream, read_timeout: float | None) -> None:
        self._stream: H2Stream | None = stream
        self._timeout = read_timeout

    def detach(self) -> Detached:
        stream, self._stream = self._stream, None
        if stream is None:
            raise RuntimeError("the HTTP/2 stream was already closed or handed over")
        stream.take_over()
        return Detached(b"", stream, open_channel=_channel_for(stream))

    async def __aiter__(self) -> AsyncIterator[bytes]:
        stream = self._stream
        while stream is not None:
            try:
                data = await stream.read(64 * 1024, self._timeout)
            except TimeoutError:
                raise httpcore.ReadTimeout(
                    f"no data on HTTP/2 stream {stream.stream_id} within {self._timeout}s"
                ) from None
            if not data:
                break
            yield data
        await self.aclose()

    async def aclose(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            await stream.aclose()


def _channel_for(stream: H2Stream) -> Callable[[ChannelSink, Runtime, int], H2Channel]:
    def open_channel(sink: ChannelSink, runtime: Runtime, max_bytes: int) -> H2Channel:
        channel = H2Channel(sink, stream, runtime, max_bytes)
        runtime.call_later(0, channel.start)  # once the session holds the channel
        return channel

    return open_channel


class HTTP11Handoff:
    """An ordinary request that HTTP/2 will not carry: the origin chose ``http/1.1``.

    ``stream`` is the fresh TLS connection whose ALPN settled on
    ``http/1.1`` (the transport runs the request on it, rather than dialling
    again), or ``None`` when the origin is remembered as HTTP/1.1 only (the
    transport uses its HTTP/1.1 pool).
    """

    def __init__(self, stream: httpcore.AsyncNetworkStream | None) -> None:
        self.stream = stream


class _Fallback:
    """The HTTP/1.1 way, when HTTP/2 cannot carry this handshake (``"auto"`` only)."""

    def __init__(self, reason: str, stream: httpcore.AsyncNetworkStream | None) -> None:
        self.reason = reason
        self.stream = stream


_Key = tuple[str, str, str, int, str | None]  # (event loop, scheme, host, port, proxy)


class Multiplexer:
    """HTTP/2 connections per origin, carrying WebSocket handshakes: see the module's rules."""

    def __init__(
        self,
        connector: UpgradeConnector,
        tls: Callable[[], ssl.SSLContext],
        timeouts: Timeouts,
        keepalive_expiry: float | None,
    ) -> None:
        self._connector = connector
        self._tls = tls
        self._timeouts = timeouts
        self._keepalive = keepalive_expiry
        self._connections: dict[_Key, list[H2Connection]] = {}
        self._locks: dict[_Key, anyio.Lock] = {}
        self._no_h2: dict[tuple[str, str, int], tuple[float, str]] = {}
        self._closed = False

    def wants(self, request: Request) -> bool:
        """Whether this handshake should try HTTP/2 at all.

        The version is the offer's ``http_version``
        (:class:`~openwire.protocol.handshake.HandshakeOffer`); an offer of
        an application's own without one is an HTTP/1.1 handshake.
        """
        version = getattr(request.websocket, "http_version", "1.1")
        if version == "1.1":
            return False
        return request.url.wire_scheme == "https" or version == "2"

    def remembered(self, request: Request) -> str | None:
        """Why the origin is known not to carry WebSockets over HTTP/2, if it is (and fresh)."""
        origin = request.url.origin
        entry = self._no_h2.get(origin)
        if entry is None:
            return None
        if entry[0] <= time.monotonic():
            del self._no_h2[origin]
            return None
        return entry[1]

    async def request(
        self,
        request: Request,
        target: bytes,
        body: AsyncIterable[bytes],
        tracer: ExchangeTracer,
        tunnels: Tunnels | None,
        proxy: str | None,
    ) -> UpgradeResponse | HTTP11Handoff:
        """An ordinary ``https`` request on a stream of the origin's shared HTTP/2 connection.

        The same connections as the WebSockets' (so requests and WebSockets
        to one origin share one TCP+TLS connection). An origin whose ALPN
        chose ``http/1.1`` gets an :class:`HTTP11Handoff` (and is remembered
        for :data:`FALLBACK_MEMORY` seconds). A stream the server did not
        process (``REFUSED_STREAM``, above a graceful GOAWAY's last stream
        id) is retried once on another connection when its body can be sent
        again (no body, bytes, or a streamed body not yet read from).
        """
        if self.remembered(request) == "alpn":
            return HTTP11Handoff(None)
        url = request.url
        key: _Key = (current_backend().name, url.wire_scheme, url.host, url.port, proxy)
        timeouts = request.timeouts or self._timeouts
        replayable = request.content is None or isinstance(request.content, bytes)
        refused: H2Connection | None = None
        for attempt in range(2):
            chosen = await self._connection(key, request, tracer, tunnels, "plain", exclude=refused)
            if isinstance(chosen, _Fallback):
                return HTTP11Handoff(chosen.stream)
            pulled: list[bool] = [False]
            try:
                return await self._send_request(
                    chosen, request, target, body, tracer, timeouts, pulled
                )
            except HTTP2StreamError as exc:
                if not exc.retryable or attempt or (pulled[0] and not replayable):
                    raise
                refused = chosen
        raise AssertionError("unreachable")  # pragma: no cover

    async def _send_request(
        self,
        conn: H2Connection,
        request: Request,
        target: bytes,
        body: AsyncIterable[bytes],
        tracer: ExchangeTracer,
        timeouts: RequestTimeouts | Timeouts,
        pulled: list[bool],
    ) -> UpgradeResponse:
        info: dict[str, Any] = {}
        stream: H2Stream | None = None
        has_body = request.content is not None
        try:
            tracer.step("send_request_headers.started", info)
            try:
                stream = conn.open_stream(request_headers(request, target), end_stream=not has_body)
            finally:
                conn.reserved -= 1
            tracer.step("send_request_headers.complete", info)
            if has_body:
                tracer.step("send_request_body.started", info)
                async for chunk in body:
                    pulled[0] = True
                    if chunk:
                        await stream.send(chunk, False, timeouts.write)
                await stream.send(b"", True, timeouts.write)
                tracer.step("send_request_body.complete", info)
            tracer.step("receive_response_headers.started", info)
            try:
                with anyio.fail_after(timeouts.read):
                    status, fields = await stream.response()
            except TimeoutError:
                raise httpcore.ReadTimeout(
                    f"no response head on HTTP/2 stream {stream.stream_id} within {timeouts.read}s"
                ) from None
        except BaseException:
            if stream is not None:
                with anyio.CancelScope(shield=True):
                    await stream.aclose()
            raise
        content = H2Content(stream, timeouts.read)
        return UpgradeResponse(status, fields, content, {"http_version": b"HTTP/2"})

    async def exchange(
        self,
        request: Request,
        target: bytes,
        tracer: ExchangeTracer,
        tunnels: Tunnels | None,
        proxy: str | None,
    ) -> UpgradeResponse:
        version = getattr(request.websocket, "http_version", "1.1")
        url = request.url
        key: _Key = (current_backend().name, url.wire_scheme, url.host, url.port, proxy)
        refused: H2Connection | None = None
        for attempt in range(2):
            chosen: H2Connection | _Fallback
            remembered = self.remembered(request) if version == "auto" else None
            if remembered is not None:
                chosen = _Fallback(remembered, None)
            else:
                chosen = await self._connection(
                    key, request, tracer, tunnels, version, exclude=refused
                )
            if isinstance(chosen, _Fallback):
                tracer.events.websocket_http2_fallback(str(url), chosen.reason)
                return await self._connector.exchange(
                    request, target, tracer, tunnels, stream=chosen.stream
                )
            try:
                return await self._send(chosen, request, target, tracer)
            except HTTP2StreamError as exc:
                if not exc.retryable or attempt:
                    raise
                refused = chosen  # once more, on another connection than the one that refused
        raise AssertionError("unreachable")  # pragma: no cover

    async def _send(
        self, conn: H2Connection, request: Request, target: bytes, tracer: ExchangeTracer
    ) -> UpgradeResponse:
        info: dict[str, Any] = {}
        stream: H2Stream | None = None
        try:
            tracer.step("send_request_headers.started", info)
            try:
                stream = conn.open_stream(connect_headers(request, target), end_stream=False)
            finally:
                conn.reserved -= 1
            tracer.step("send_request_headers.complete", info)
            tracer.step("receive_response_headers.started", info)
            timeout = self._timeouts.read
            try:
                with anyio.fail_after(timeout):
                    status, fields = await stream.response()
            except TimeoutError:
                raise httpcore.ReadTimeout(
                    f"no answer to the extended CONNECT within {timeout}s"
                ) from None
        except BaseException:
            if stream is not None:
                with anyio.CancelScope(shield=True):
                    await stream.aclose()
            raise
        content = H2Content(stream, self._timeouts.read)
        return UpgradeResponse(status, fields, content, {"http_version": b"HTTP/2"})

    async def _connection(
        self,
        key: _Key,
        request: Request,
        tracer: ExchangeTracer,
        tunnels: Tunnels | None,
        version: str,
        exclude: H2Connection | None = None,
    ) -> H2Connection | _Fallback:
        """A connection with room for one more stream (reserved), or the way back to HTTP/1.1.

        ``exclude`` is a connection that refused the request: another is used
        or dialled, since the same server state would likely refuse it again.
        """
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = anyio.Lock()
        async with lock:
            alive = [c for c in self._connections.get(key, ()) if c.usable()]
            self._connections[key] = alive
            websocket = version != "plain"
            for conn in alive:
                if conn is not exclude and conn.has_room():
                    if websocket and not conn.connect_protocol:
                        # Opened for ordinary requests: this origin speaks h2
                        # but cannot carry a WebSocket over it.
                        return self._no_connect_protocol(request, version)
                    conn.reserved += 1
                    return conn
            if version == "plain":
                remembered = "alpn" if self.remembered(request) == "alpn" else None
            else:
                remembered = self.remembered(request) if version == "auto" else None
            if remembered is not None:  # learnt while this one waited for the lock
                return _Fallback(remembered, None)
            chosen = await self._dial(request, tracer, tunnels, version)
            if not isinstance(chosen, H2Connection):
                return chosen
            alive.append(chosen)
            if websocket and not chosen.connect_protocol:
                # Kept for the origin's ordinary requests; closes when idle.
                chosen.idle_after(self._keepalive)
                return self._no_connect_protocol(request, version)
            chosen.reserved += 1
            return chosen

    async def _dial(
        self, request: Request, tracer: ExchangeTracer, tunnels: Tunnels | None, version: str
    ) -> H2Connection | _Fallback:
        url = request.url
        tls = url.wire_scheme == "https"
        stream = await self._connector.connect(
            request, tracer, tunnels, self._tls() if tls else None
        )
        if tls:
            ssl_object = stream.get_extra_info("ssl_object")
            alpn = ssl_object.selected_alpn_protocol() if ssl_object is not None else None
            if alpn != "h2":
                self._remember(request, "alpn")
                if version == "2":
                    await stream.aclose()
                    raise HTTP2Unavailable(
                        f"http_version='2' was asked for {url}, but the server selected "
                        f"{alpn or 'no protocol'!r} instead of 'h2' by TLS ALPN: it does not "
                        "speak HTTP/2 there. Use http_version='auto' (falls back to HTTP/1.1) "
                        "or '1.1'",
                        reason="alpn",
                    )
                return _Fallback("alpn", stream)
        conn = H2Connection(stream, current_backend().runtime(), f"{url.host}:{url.port}")
        conn.keepalive = self._keepalive
        conn.start()
        try:
            with anyio.fail_after(self._timeouts.read):
                await conn.wait_settings()
        except BaseException as exc:
            with anyio.CancelScope(shield=True):
                await conn.aclose()
            if isinstance(exc, TimeoutError):
                raise httpcore.ReadTimeout(
                    f"the server sent no HTTP/2 SETTINGS within {self._timeouts.read}s"
                ) from None
            raise
        return conn

    def _no_connect_protocol(self, request: Request, version: str) -> _Fallback:
        """The origin speaks h2 without ``SETTINGS_ENABLE_CONNECT_PROTOCOL``: ``"2"`` fails."""
        self._remember(request, "setting")
        if version == "2":
            raise HTTP2Unavailable(
                f"http_version='2' was asked for {request.url}, but the server's HTTP/2 "
                "SETTINGS do not enable the extended CONNECT (SETTINGS_ENABLE_CONNECT_PROTOCOL "
                "= 1, RFC 8441 §3), so it cannot carry a WebSocket over HTTP/2. Use "
                "http_version='auto' (falls back to HTTP/1.1) or '1.1'",
                reason="setting",
            )
        return _Fallback("setting", None)

    def _remember(self, request: Request, reason: str) -> None:
        self._no_h2[request.url.origin] = (time.monotonic() + FALLBACK_MEMORY, reason)

    async def aclose(self) -> None:
        """Close idle connections now, the others once their last stream ends."""
        self._closed = True
        connections, self._connections = self._connections, {}
        for group in connections.values():
            for conn in group:
                conn.keepalive = 0.0
                if conn.stream_count == 0:
                    with anyio.CancelScope(shield=True):
                        await conn.aclose()
