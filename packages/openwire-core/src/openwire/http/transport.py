"""The last layer: hands one network attempt to httpcore, or to the upgrade connector.

HTTP requests go to an httpcore pool per proxy (HTTP/1.1), except that with
``http2=True`` requests to ``https`` origins go to the
:mod:`~openwire.http.multiplex` pool first: HTTP/2 streams on the
connections the WebSockets share, or back to HTTP/1.1 when ALPN says so
(see :meth:`Multiplexer.request <openwire.http.multiplex.Multiplexer.request>`).
httpcore pools are created on first use and share the TLS context,
the limits and the network backend. A response body stays on the connection
until read or closed; closing the body is what returns the connection to the
pool (or drops it, if the body was not read to the end).

Proxies: ``http://`` through an HTTP(S) proxy is forwarded by httpcore's
proxy pool (a ``407`` is then an ordinary response, for the follow-ups).
Anything that needs a tunnel (``https://`` through an HTTP proxy, anything
through SOCKS5) goes through an ordinary pool whose network backend opens
the tunnel (:mod:`~openwire.http.tunnels`), so refused proxy credentials are
a typed :class:`~openwire.ProxyAuthError` on every path.

Response heads from the pools were bounded by h11 while reading (100 KiB);
the per-line and field-count limits of :mod:`~openwire.protocol.http11` are
applied to them here, as to the heads the upgrade connector reads.

WebSocket handshakes go to the :mod:`~openwire.http.upgrade` connector
instead: an upgraded connection is never reused, so it gets a fresh
HTTP/1.1 connection of its own (same backend, TLS settings, proxies,
timeouts, per-host limit and events). After a ``101`` the connection waits
in ``response.upgraded`` (:class:`~openwire.io.handover.Upgraded`) for the
WebSocket to ``detach()`` it; closing the Response leaves it open.
Handshakes whose ``http_version`` allows HTTP/2 go to the
:mod:`~openwire.http.multiplex` pool (RFC 8441) instead: an extended
CONNECT on a stream of a shared HTTP/2 connection, whose ``200`` hands the
stream over through the same ``Upgraded`` door.
"""

from __future__ import annotations

import ssl
import string
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any
from urllib.parse import quote

import anyio
import httpcore

from openwire import _compat
from openwire.config import TransportSettings
from openwire.errors import HTTP2Unavailable, PoolTimeout, RequestError
from openwire.http import tracing
from openwire.http.chain import Chain, call_deadline
from openwire.http.headers import Headers
from openwire.http.models import Request, Response
from openwire.http.multiplex import H2Content, Multiplexer
from openwire.http.proxies import ProxySelector, redact
from openwire.http.tls import create_ssl_context
from openwire.http.tracing import ExchangeTracer, ReportingBackend
from openwire.http.tunnels import ProxyRoute, TunnelBackend, Tunnels
from openwire.http.upgrade import UpgradeConnector, UpgradeContent, UpgradeResponse
from openwire.http.url import URL
from openwire.io.handover import Detached, Upgraded
from openwire.protocol.http11 import check_fields

__all__ = ["Transport"]

ROUTE_HTTP2_REQUESTS = True
"""Internal switch: ``Client(http2=True)`` requests to https origins use our HTTP/2 layer."""

_PoolKey = tuple[str | None, bool]  # (proxy URL, TLS to the origin)


class _Exchange:
    """Owns one httpcore response: closes it once and frees the per-host slot."""

    def __init__(
        self, core: httpcore.Response | UpgradeResponse, slot: anyio.Semaphore | None
    ) -> None:
        self.core = core
        self._slot = slot
        self.closed = False

    def forget(self) -> None:
        """The connection was handed over (after a 101): free the slot, close nothing."""
        if not self.closed:
            self.closed = True
            if self._slot is not None:
                self._slot.release()

    async def aclose(self) -> None:
        if self.closed:
            return
        self.closed = True
        # Bytes past the end of the response are no answer to anything: the
        # connection they came on is closed, never reused (RFC 9112 §6.3).
        leftover = _compat.http11_connection_with_leftover(getattr(self.core, "stream", None))
        try:
            with anyio.CancelScope(shield=True):
                await self.core.aclose()
                if leftover is not None:
                    await leftover.aclose()
        except Exception:
            pass  # the connection is being dropped either way
        finally:
            if self._slot is not None:
                self._slot.release()


class _BodyStream:
    """The response body as the Response sees it: events, deadline, error translation."""

    def __init__(
        self, exchange: _Exchange, tracer: ExchangeTracer, deadline: float | None, upgraded: bool
    ) -> None:
        self._exchange = exchange
        self._tracer = tracer
        self._deadline = deadline
        self._upgraded = upgraded
        self._iterator: AsyncIterator[bytes] | None = None
        self.response: Response | None = None

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self._upgraded:
            return
        events, request = self._tracer.events, self._tracer.request
        response = self.response
        assert response is not None  # set by the transport right after building it
        events.response_body_start(response)
        stream = self._exchange.core.stream
        assert isinstance(stream, AsyncIterable)
        self._iterator = aiter(stream)
        count = 0
        while True:
            try:
                with call_deadline(self._deadline, request):
                    chunk = await anext(self._iterator)
            except StopAsyncIteration:
                break
            except Exception as exc:
                error = self._tracer.translate(exc)
                if error is exc:
                    raise
                raise error from exc
            count += len(chunk)
            yield chunk
        events.response_body_end(response, count)

    async def aclose(self) -> None:
        iterator, self._iterator = self._iterator, None
        try:
            if not self._upgraded:
                if iterator is not None and hasattr(iterator, "aclose"):
                    with anyio.CancelScope(shield=True):
                        try:
                            await iterator.aclose()
                        except Exception:
                            pass
                await self._exchange.aclose()
        finally:
            self._tracer.release()


def _upgraded(content: UpgradeContent | H2Content, exchange: _Exchange) -> Upgraded:
    """The handle of a ``101``: detaching forgets the exchange (frees its slot, closes nothing)."""

    def detach() -> Detached:
        detached = content.detach()
        exchange.forget()
        return detached

    return Upgraded(detach, exchange.aclose)


class _RequestBody:
    """The request body as httpcore iterates it, counting bytes for ``request_body_end``.

    httpcore stops iterating a request body without closing it when sending
    ends early (a write timeout, a server that answers before the body is
    sent). An async generator left like that is finalized by the garbage
    collector, which trio reports as a leak, and a streamed source would
    stay open until then. So the iterators here are plain objects (httpcore
    would wrap ``bytes`` in a generator of its own), and the transport
    closes the body, and with it the application's source, once the
    exchange is past sending.
    """

    def __init__(self, content: bytes | AsyncIterable[bytes], tracer: ExchangeTracer) -> None:
        self._content = content
        self._tracer = tracer
        self._sources: list[AsyncIterator[bytes]] = []

    def __aiter__(self) -> AsyncIterator[bytes]:
        if isinstance(self._content, bytes):
            return _Once(self._content)
        source = aiter(self._content)
        self._sources.append(source)
        return _Counting(source, self._tracer)

    async def aclose(self) -> None:
        sources, self._sources = self._sources, []
        for source in sources:
            aclose = getattr(source, "aclose", None)
            if aclose is not None:
                await aclose()


class _Once:
    __slots__ = ("_data",)

    def __init__(self, data: bytes) -> None:
        self._data: bytes | None = data

    def __aiter__(self) -> _Once:
        return self

    async def __anext__(self) -> bytes:
        data, self._data = self._data, None
        if not data:
            raise StopAsyncIteration
        return data


class _Counting:
    __slots__ = ("_source", "_tracer")

    def __init__(self, source: AsyncIterator[bytes], tracer: ExchangeTracer) -> None:
        self._source = source
        self._tracer = tracer

    def __aiter__(self) -> _Counting:
        return self

    async def __anext__(self) -> bytes:
        chunk = await anext(self._source)
        self._tracer.body_bytes += len(chunk)
        return chunk


class _ClosingBody:
    """A one-shot HTTP/1.1 connection's response body: closing it closes the connection."""

    def __init__(self, body: AsyncIterable[bytes], connection: httpcore.AsyncHTTP11Connection):
        self._body = body
        self._connection = connection

    def __aiter__(self) -> AsyncIterator[bytes]:
        return aiter(self._body)

    async def aclose(self) -> None:
        try:
            aclose = getattr(self._body, "aclose", None)
            if aclose is not None:
                await aclose()
        finally:
            await self._connection.aclose()


async def _one_shot_http11(
    request: Request, core_request: httpcore.Request, stream: httpcore.AsyncNetworkStream
) -> httpcore.Response:
    """``core_request`` over HTTP/1.1 on ``stream``: a TLS connection whose ALPN refused ``h2``.

    The HTTP/2 pool dialled it; using it saves a second TCP and TLS
    handshake. It serves this one exchange and closes with the response
    (the origin is remembered as HTTP/1.1, so the next requests go to the
    pool).
    """
    url = request.url
    origin = httpcore.Origin(url.wire_scheme.encode("ascii"), core_request.url.host, url.port)
    connection = httpcore.AsyncHTTP11Connection(origin, stream)
    try:
        core = await connection.handle_async_request(core_request)
    except BaseException:
        with anyio.CancelScope(shield=True):
            await connection.aclose()
        raise
    assert isinstance(core.stream, AsyncIterable)
    core.stream = _ClosingBody(core.stream, connection)
    return core


async def _check_head(core: httpcore.Response | UpgradeResponse) -> None:
    """The head limits h11 did not apply while reading; the connection is dropped if over."""
    try:
        check_fields(core.extensions.get("reason_phrase", b""), core.headers)
    except Exception:
        await core.aclose()
        raise


_SAFE_TARGET = string.ascii_letters + string.digits + string.punctuation


def _core_url(url: URL) -> httpcore.URL:
    return httpcore.URL(
        scheme=url.wire_scheme.encode("ascii"),
        host=_core_host(url),
        port=url.port,
        target=_core_target(url),
    )


def _core_host(url: URL) -> bytes:
    try:
        return url.host.encode("ascii")
    except UnicodeEncodeError:
        return url.host.encode("idna")


def _core_target(url: URL) -> bytes:
    """The request target as :func:`_core_url` writes it.

    An upgrade needs only this (and the host checked as :func:`_core_url`
    checks it), not an ``httpcore.URL``.
    """
    return quote(url.target, safe=_SAFE_TARGET).encode("ascii")


class Transport:
    """The innermost interceptor: one network attempt per ``__call__``."""

    def __init__(self, config: TransportSettings) -> None:
        self._config = config
        self._proxies = ProxySelector(config.proxy, trust_env=config.trust_env)
        self._pools: dict[_PoolKey, httpcore.AsyncConnectionPool] = {}
        self._ssl_contexts: dict[str, ssl.SSLContext] = {}
        self._backend = ReportingBackend()
        self._host_slots: dict[tuple[str, str, int], anyio.Semaphore] = {}
        self._upgrades = UpgradeConnector(self._backend, self._upgrade_tls, config.timeouts)
        self._multiplexer = Multiplexer(
            self._upgrades, self._h2_tls, config.timeouts, config.limits.keepalive_expiry
        )
        self._h2_plain = config.http2 and ROUTE_HTTP2_REQUESTS
        """Ordinary https requests go over the shared HTTP/2 connections (httpcore: HTTP/1.1)."""
        self._core_proxies: dict[str, httpcore.Proxy] = {}
        self._tunnels: dict[str, Tunnels] = {}
        self._closed = False

    # -- pools ----------------------------------------------------------------
    def _ssl(self, upgrade: bool = False, h2: bool = False) -> ssl.SSLContext:
        """The TLS context, built on first https use (loading CAs costs ~50 ms).

        Upgrades and WebSockets over HTTP/2 (RFC 8441) get contexts of their
        own, apart from httpcore's pool: each side sets its ALPN list on its
        context right before a TLS handshake (``UpgradeConnector`` offers
        only ``http/1.1`` to an upgrade, ``h2`` first to HTTP/2), so one
        kind of connection never offers another's. A context the
        application passed is a single object for all three; setting the
        list at each handshake is what keeps that correct too.
        """
        key = "h2" if h2 else "upgrade" if upgrade else "pool"
        context = self._ssl_contexts.get(key)
        if context is None:
            context = create_ssl_context(self._config.verify, self._config.cert)
            self._ssl_contexts[key] = context
        return context

    def _upgrade_tls(self) -> ssl.SSLContext:
        return self._ssl(upgrade=True)

    def _h2_tls(self) -> ssl.SSLContext:
        return self._ssl(h2=True)

    def _pool(self, proxy: URL | None, tls: bool) -> httpcore.AsyncConnectionPool:
        key: _PoolKey = (str(proxy) if proxy else None, tls)
        pool = self._pools.get(key)
        if pool is not None:
            return pool
        limits = self._config.limits
        kwargs: dict[str, Any] = {
            "ssl_context": self._ssl() if tls else None,
            "max_connections": limits.max_connections,
            "max_keepalive_connections": limits.max_keepalive_connections,
            "keepalive_expiry": limits.keepalive_expiry,
            "http1": True,
            "http2": self._config.http2 and not self._h2_plain,
            "network_backend": self._backend,
        }
        if proxy is None:
            pool = httpcore.AsyncConnectionPool(**kwargs)
        elif tls or proxy.scheme not in ("http", "https"):
            # A tunnel per connection, opened by our backend: the pool only sees the origin.
            backend = TunnelBackend(self._tunnels_for(proxy), "https" if tls else "http")
            pool = httpcore.AsyncConnectionPool(**{**kwargs, "network_backend": backend})
        else:
            pool = httpcore.AsyncConnectionPool(proxy=self._core_proxy(proxy), **kwargs)
        self._pools[key] = pool
        return pool

    def _tunnels_for(self, proxy: URL) -> Tunnels:
        key = str(proxy)
        tunnels = self._tunnels.get(key)
        if tunnels is None:
            config = self._config
            tunnels = self._tunnels[key] = Tunnels(
                self._backend,
                ProxyRoute.from_url(proxy),
                self._upgrade_tls,
                config.timeouts,
                config.proxy_authenticator,
                config.max_auth_attempts,
            )
        return tunnels

    def _core_proxy(self, proxy: URL) -> httpcore.Proxy:
        key = str(proxy)
        core = self._core_proxies.get(key)
        if core is None:
            core = self._core_proxies[key] = self._build_core_proxy(proxy)
        return core

    def _build_core_proxy(self, proxy: URL) -> httpcore.Proxy:
        auth = None
        if proxy.username is not None:
            from urllib.parse import unquote

            auth = (unquote(proxy.username), unquote(proxy.password or ""))
        bare = f"{proxy.scheme}://{proxy.netloc}"
        ssl_context = self._ssl() if proxy.scheme == "https" else None
        return httpcore.Proxy(url=bare, auth=auth, ssl_context=ssl_context)

    def _host_slot(self, url: URL) -> anyio.Semaphore | None:
        per_host = self._config.limits.max_connections_per_host
        if per_host is None:
            return None
        slot = self._host_slots.get(url.origin)
        if slot is None:
            slot = self._host_slots[url.origin] = anyio.Semaphore(per_host)
        return slot

    async def aclose(self) -> None:
        self._closed = True
        await self._multiplexer.aclose()
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            with anyio.CancelScope(shield=True):
                try:
                    await pool.aclose()
                except Exception:
                    pass

    # -- one attempt ----------------------------------------------------------
    async def __call__(self, request: Request, chain: Chain) -> Response:
        if self._closed:
            raise RuntimeError("the client is closed; create a new Client")
        if request.url.wire_scheme not in ("http", "https") or (
            request.url.scheme != request.url.wire_scheme and not request.is_websocket
        ):
            raise RequestError(
                f"cannot send {request.method} {request.url}: only http and https are "
                "supported (WebSocket URLs go through client.websocket())",
                request=request,
            )
        context = chain.context
        events = context.events
        # The URL's text only for a listener that takes it: most have none.
        if events.wants("proxy_select_start"):
            events.proxy_select_start(str(request.url))
        proxy = self._proxies.select(request.url)
        proxy_label = redact(proxy) if proxy else None
        if events.wants("proxy_select_end"):
            events.proxy_select_end(str(request.url), proxy_label)

        tracer = ExchangeTracer(events, request, proxy_label)
        slot = self._host_slot(request.url)
        acquired_slot = False
        try:
            with call_deadline(context.deadline, request), tracing.current(tracer):
                if slot is not None:
                    await self._acquire_slot(slot, request)
                    acquired_slot = True
                core: httpcore.Response | UpgradeResponse
                if request.is_websocket:
                    tunnels = self._tunnels_for(proxy) if proxy else None
                    _core_host(request.url)  # fails as _core_url would on a bad host
                    target = _core_target(request.url)
                    if self._multiplexer.wants(request):
                        core = await self._multiplexer.exchange(
                            request, target, tracer, tunnels, proxy_label
                        )
                    else:
                        core = await self._upgrades.exchange(
                            request, target, tracer, tunnels, within=context.enclosing_deadline
                        )
                else:
                    tls = request.url.wire_scheme == "https"
                    core_request, body = self._core_request(request, tracer)
                    try:
                        core = await self._plain(request, core_request, body, tracer, proxy, tls)
                    finally:
                        # Sent, abandoned or failed: the connection is done with the body.
                        with anyio.CancelScope(shield=True):
                            await body.aclose()
                    await _check_head(core)
        except BaseException as exc:
            if acquired_slot and slot is not None:
                slot.release()
            tracer.release()
            if isinstance(exc, HTTP2Unavailable):
                raise  # a WebSocket handshake's own verdict, typed already
            error = tracer.translate(exc)
            if error is exc:
                raise
            raise error from exc
        return self._wrap(request, core, slot, tracer, context.deadline)

    async def _plain(
        self,
        request: Request,
        core_request: httpcore.Request,
        body: _RequestBody,
        tracer: ExchangeTracer,
        proxy: URL | None,
        tls: bool,
    ) -> httpcore.Response | UpgradeResponse:
        """An ordinary request: HTTP/2 on the shared connections, else httpcore's HTTP/1.1."""
        if tls and self._h2_plain:
            tunnels = self._tunnels_for(proxy) if proxy else None
            answer = await self._multiplexer.request(
                request,
                core_request.url.target,
                body,
                tracer,
                tunnels,
                redact(proxy) if proxy else None,
            )
            if isinstance(answer, UpgradeResponse):
                return answer
            if answer.stream is not None:
                return await _one_shot_http11(request, core_request, answer.stream)
        return await self._pool(proxy, tls).handle_async_request(core_request)

    def _core_request(
        self, request: Request, tracer: ExchangeTracer
    ) -> tuple[httpcore.Request, _RequestBody]:
        timeouts = request.timeouts or self._config.timeouts
        content: bytes | AsyncIterable[bytes] = b""
        if isinstance(request.content, bytes):
            content = request.content
            tracer.body_bytes = len(content)
        elif request.content is not None:
            content = request.content
        body = _RequestBody(content, tracer)
        core_request = httpcore.Request(
            request.method.encode("ascii"),
            _core_url(request.url),
            headers=request.headers.raw(),
            content=body,
            extensions={
                "timeout": {
                    "connect": timeouts.connect,
                    "read": timeouts.read,
                    "write": timeouts.write,
                    "pool": timeouts.pool,
                },
                "trace": tracer,
            },
        )
        tracer.core_request = core_request
        return core_request, body

    async def _acquire_slot(self, slot: anyio.Semaphore, request: Request) -> None:
        try:
            with anyio.fail_after((request.timeouts or self._config.timeouts).pool):
                await slot.acquire()
        except TimeoutError:
            raise PoolTimeout(
                f"more than Limits.max_connections_per_host exchanges with "
                f"{request.url.host}:{request.url.port} are in flight; close responses you "
                "do not read, or raise the limit",
                request=request,
            ) from None

    def _wrap(
        self,
        request: Request,
        core: httpcore.Response | UpgradeResponse,
        slot: anyio.Semaphore | None,
        tracer: ExchangeTracer,
        deadline: float | None,
    ) -> Response:
        ext = core.extensions
        exchange = _Exchange(core, slot)
        http2 = isinstance(core.stream, H2Content)
        upgraded = request.is_websocket and (
            200 <= core.status < 300 if http2 else core.status == 101
        )
        handle: Upgraded | None = None
        if upgraded:
            assert isinstance(core.stream, UpgradeContent | H2Content)
            handle = _upgraded(core.stream, exchange)
        body = _BodyStream(exchange, tracer, deadline, upgraded)
        reason = ext.get("reason_phrase", b"")
        response = Response(
            core.status,
            headers=Headers.adopt(
                [(k.decode("latin-1"), v.decode("latin-1")) for k, v in core.headers]
            ),
            content=body,
            request=request,
            http_version=ext.get("http_version", b"HTTP/1.1").decode("ascii"),
            reason=reason.decode("latin-1") if reason else None,
            upgraded=handle,
        )
        body.response = response
        tracer.events.response_headers_end(response)
        return response
