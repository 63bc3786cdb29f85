"""HTTP/1.1 ``Upgrade`` exchanges (the WebSocket handshake) on a connection of their own.

An upgraded connection is never reused, so a pool has nothing to give it but
bookkeeping: its queue, locks and per-connection state cost more than half
the CPU of a WebSocket handshake and are all released again right after the
``101``. Upgrades therefore skip the pool and drive ``h11`` directly on a
fresh connection, opened with the same network backend (DNS and connect
events), TLS context, proxy choice and timeouts as the pools use, and traced
through the same :class:`~openwire.http.tracing.ExchangeTracer`, so the
events an EventListener sees are the ones of any other call.

Proxies: an HTTP(S) proxy is always tunnelled with ``CONNECT`` (a forwarding
proxy would rewrite the request and not pass the upgrade through), for
``ws://`` as for ``wss://``; a SOCKS5 proxy uses httpcore's SOCKS handshake.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import anyio
import h11
import httpcore
import socksio

# httpcore's SOCKS5 client handshake (socksio ships with openwire-core's httpcore[socks]).
from httpcore._async.socks_proxy import _init_socks5_connection

from openwire.config import Timeouts
from openwire.http.http11 import HEAD_END, parse_response_head, serialize_request
from openwire.http.models import Request
from openwire.http.tracing import ExchangeTracer

__all__ = ["UpgradeConnector", "UpgradeContent", "UpgradeResponse"]

_READ_SIZE = 64 * 1024
# httpcore's own bound for a response head; larger is a broken or hostile peer.
_MAX_HEAD = 100 * 1024


class UpgradeContent:
    """The connection of one upgrade exchange, as the body of its response.

    After a ``101`` it is the upgraded connection: :meth:`detach` hands the
    socket and the bytes that arrived with the ``101`` to the new owner.
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

    def detach(self) -> tuple[bytes, httpcore.AsyncNetworkStream]:
        """``(bytes read past the 101, the socket)``; the caller owns the socket now."""
        stream, self._stream = self._stream, None
        if stream is None:
            raise RuntimeError("the upgraded connection was already closed or handed over")
        leading, self._leading = self._leading, b""
        return leading, stream

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


@dataclass(slots=True)
class UpgradeResponse:
    """The answer to an upgrade request, shaped like the parts of an httpcore.Response
    the transport reads (building a real one re-validates every header)."""

    status: int
    headers: list[tuple[bytes, bytes]]
    stream: UpgradeContent
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
        proxy: httpcore.Proxy | None,
    ) -> UpgradeResponse:
        """Connect, send ``request`` and read the response head.

        Raises httpcore's exception types, like a pool would, so the
        transport translates both paths' failures the same way.
        """
        stream = await self._connect(request, tracer, proxy)
        try:
            info: dict[str, Any] = {}
            method = request.method.encode("ascii")
            headers = request.headers.raw()
            tracer.step("send_request_headers.started", info)
            await stream.write(serialize_request(method, target, headers), self._timeouts.write)
            tracer.step("send_request_headers.complete", info)
            tracer.step("receive_response_headers.started", info)
            buffer = b""
            while True:
                head, buffer = await self._read_head(stream, buffer)
                status, reason, fields = parse_response_head(head)
                if status == 101 or not 100 <= status < 200:
                    break
                # any other 1xx is interim: the final answer follows
            if status == 101:
                content = UpgradeContent(stream, self._timeouts, leading=buffer)
            else:
                content = _rejection(stream, self._timeouts, method, target, headers, head, buffer)
        except BaseException:
            await stream.aclose()
            raise
        return UpgradeResponse(
            status, fields, content, {"http_version": b"HTTP/1.1", "reason_phrase": reason}
        )

    async def _read_head(
        self, stream: httpcore.AsyncNetworkStream, buffer: bytes
    ) -> tuple[bytes, bytes]:
        """``(head without its blank line, what follows it)``, bounded by ``_MAX_HEAD``."""
        searched = 0  # a head dripping in byte by byte is not rescanned from the start
        while True:
            end = HEAD_END.search(buffer, searched)
            if end is not None:
                return buffer[: end.start()].removesuffix(b"\r"), buffer[end.end() :]
            if len(buffer) > _MAX_HEAD:
                raise httpcore.RemoteProtocolError(
                    f"the response head is over {_MAX_HEAD // 1024} KiB; refusing to buffer more"
                )
            data = await stream.read(_READ_SIZE, self._timeouts.read)
            if not data:
                if buffer:
                    raise httpcore.RemoteProtocolError(
                        "the server closed the connection in the middle of the response head"
                    )
                # The same words as httpcore's, so both paths translate alike.
                raise httpcore.RemoteProtocolError(
                    "Server disconnected without sending a response."
                )
            searched = max(0, len(buffer) - 2)  # "\n\r\n" may straddle two reads
            buffer += data

    async def _connect(
        self, request: Request, tracer: ExchangeTracer, proxy: httpcore.Proxy | None
    ) -> httpcore.AsyncNetworkStream:
        url = request.url
        host, port = url.host, url.port
        timeout = self._timeouts.connect
        if proxy is None:
            stream = await self._tcp(host, port, tracer)
        else:
            stream = await self._via_proxy(proxy, host, port, tracer)
        if url.scheme == "https":
            stream = await self._start_tls(stream, host, tracer, timeout)
        return stream

    async def _tcp(
        self, host: str, port: int, tracer: ExchangeTracer
    ) -> httpcore.AsyncNetworkStream:
        info: dict[str, Any] = {"host": host, "port": port}
        tracer.step("connect_tcp.started", info)
        try:
            stream = await self._backend.connect_tcp(host, port, self._timeouts.connect)
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
        try:
            tls = await stream.start_tls(context or self._tls(), host, timeout)
        except BaseException as exc:
            tracer.step("start_tls.failed", {**info, "exception": exc})
            await stream.aclose()
            raise
        tracer.step("start_tls.complete", {**info, "return_value": tls})
        return tls

    async def _via_proxy(
        self, proxy: httpcore.Proxy, host: str, port: int, tracer: ExchangeTracer
    ) -> httpcore.AsyncNetworkStream:
        proxy_url = proxy.url
        proxy_host = proxy_url.host.decode("ascii")
        scheme = proxy_url.scheme
        default_port = {b"http": 80, b"https": 443}.get(scheme, 1080)
        stream = await self._tcp(proxy_host, proxy_url.port or default_port, tracer)
        try:
            if scheme in (b"socks5", b"socks5h"):
                await _socks5(stream, host, port, proxy.auth, self._timeouts)
                return stream
            if scheme == b"https":
                # The upgrade context: HTTP/1.1 only by ALPN, as CONNECT needs.
                stream = await stream.start_tls(self._tls(), proxy_host, self._timeouts.connect)
            await _tunnel(stream, _authority(host, port), proxy.headers, self._timeouts)
        except (httpcore.RemoteProtocolError, httpcore.ReadError, socksio.ProtocolError) as exc:
            await stream.aclose()
            # The proxy, not the origin, broke off or spoke nonsense.
            raise httpcore.ProxyError(
                f"the proxy failed the tunnel to {host}:{port}: {exc}"
            ) from exc
        except BaseException:
            await stream.aclose()
            raise
        return stream


def _rejection(
    stream: httpcore.AsyncNetworkStream,
    timeouts: Timeouts,
    method: bytes,
    target: bytes,
    headers: list[tuple[bytes, bytes]],
    head: bytes,
    rest: bytes,
) -> UpgradeContent:
    """A non-101 answer: h11 reads the head again and frames the body that follows."""
    conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=_MAX_HEAD)
    # h11 only needs the request's method to frame the answer; the headers
    # that went out (already checked) must not make it refuse to read it.
    host = next((v for k, v in headers if k.lower() == b"host"), b"_")
    try:
        conn.send(h11.Request(method=method, target=target, headers=[(b"Host", host)]))
        conn.send(h11.EndOfMessage())
        conn.receive_data(head + b"\r\n\r\n" + rest)
        while not isinstance(conn.next_event(), h11.Response):
            pass  # interim 1xx heads, already seen
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
            # The same words as httpcore's, so both paths translate alike.
            raise httpcore.RemoteProtocolError("Server disconnected without sending a response.")
        conn.receive_data(data)


async def _tunnel(
    stream: httpcore.AsyncNetworkStream,
    target: str,
    headers: list[tuple[bytes, bytes]],
    timeouts: Timeouts,
) -> None:
    """``CONNECT target`` on an HTTP proxy; returns once the tunnel is up."""
    conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=_MAX_HEAD)
    try:
        host: list[tuple[bytes, bytes]] = [(b"Host", target.encode("ascii"))]
        data = conn.send(h11.Request(method="CONNECT", target=target, headers=host + headers))
    except h11.LocalProtocolError as exc:
        raise httpcore.ProxyError(f"cannot send CONNECT {target}: {exc}") from exc
    await stream.write(data, timeouts.write)
    while True:
        event = await _next_event(conn, stream, timeouts)
        if isinstance(event, h11.Response):
            break
    if not 200 <= event.status_code < 300:
        reason = event.reason.decode("latin-1")
        raise httpcore.ProxyError(f"CONNECT {target} answered {event.status_code} {reason}")


def _authority(host: str, port: int) -> str:
    """``host:port`` for a request target: IDNA-encoded, IPv6 in brackets."""
    if ":" in host:
        return f"[{host}]:{port}"
    if not host.isascii():
        host = host.encode("idna").decode("ascii")
    return f"{host}:{port}"


async def _socks5(
    stream: httpcore.AsyncNetworkStream,
    host: str,
    port: int,
    auth: tuple[bytes, bytes] | None,
    timeouts: Timeouts,
) -> None:
    # httpcore's SOCKS reads have no timeout of their own.
    try:
        with anyio.fail_after(timeouts.connect):
            await _init_socks5_connection(stream, host=host.encode("idna"), port=port, auth=auth)
    except TimeoutError as exc:
        raise httpcore.ConnectTimeout(
            f"the SOCKS5 proxy did not set up the tunnel within {timeouts.connect}s"
        ) from exc
