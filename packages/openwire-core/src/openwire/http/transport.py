"""The last layer: hands requests to httpcore pools and wraps what comes back.

Two kinds of pool exist per proxy: the HTTP pool (HTTP/1.1, plus HTTP/2 when
``http2=True``) and an HTTP/1.1-only pool for WebSocket handshakes, because
RFC 6455 upgrades need HTTP/1.1 and ALPN must not offer ``h2`` to such a
connection. Pools are created on first use and share the TLS context, the
limits and the network backend.

A response body stays on the connection until read or closed; closing the
body is what returns the connection to the pool (or drops it, if the body was
not read to the end). A ``101 Switching Protocols`` answer to a WebSocket
request is different: the upgraded stream goes to the WebSocket in
``response.extensions["network_stream"]``, closing the Response leaves it
open, and the connection leaves the pool when that stream is closed.
"""

from __future__ import annotations

import ssl
import string
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any
from urllib.parse import quote

import anyio
import httpcore

# httpcore's wrapper that replays bytes read past the 101; detach() unwraps it.
from httpcore._async.http11 import AsyncHTTP11UpgradeStream

from openwire.config import ClientConfig
from openwire.errors import PoolTimeout, RequestError
from openwire.http.chain import Chain, call_deadline
from openwire.http.models import Request, Response
from openwire.http.proxies import ProxySelector, redact
from openwire.http.tls import create_ssl_context
from openwire.http.tracing import (
    CURRENT_TRACER,
    DetachableStream,
    ExchangeTracer,
    ReportingBackend,
)
from openwire.http.url import URL

__all__ = ["Transport"]

_PoolKey = tuple[str | None, bool, bool]  # (proxy URL, websocket, TLS to the origin)


class _PlainTunnelBackend(httpcore.AsyncNetworkBackend):
    """Connects to an origin through ``CONNECT`` on an HTTP proxy, without TLS after it.

    httpcore's tunnel always starts TLS once the tunnel is up, which only
    suits https origins; a ``ws://`` handshake needs a plain tunnel.
    """

    def __init__(self, inner: httpcore.AsyncNetworkBackend, proxy: httpcore.Proxy) -> None:
        self._inner = inner
        self._proxy = proxy

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.AsyncNetworkStream:
        proxy = self._proxy.url
        stream = await self._inner.connect_tcp(
            proxy.host.decode("ascii"), proxy.port or 80, timeout, local_address, socket_options
        )
        target = f"{host}:{port}"
        lines = [f"CONNECT {target} HTTP/1.1", f"Host: {target}"]
        lines += [f"{k.decode('latin-1')}: {v.decode('latin-1')}" for k, v in self._proxy.headers]
        await stream.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"), timeout)
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = await stream.read(4096, timeout)
            if not chunk or len(head) > 65536:
                await stream.aclose()
                raise httpcore.ProxyError("the proxy closed the connection during CONNECT")
            head += chunk
        status_line = head.split(b"\r\n", 1)[0].decode("latin-1")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[1].startswith("2"):
            await stream.aclose()
            raise httpcore.ProxyError(status_line)
        return stream

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _TunnellingPool(httpcore.AsyncConnectionPool):
    """A pool that tunnels (CONNECT) even plain-http origins through an HTTP proxy.

    A forwarding proxy rewrites absolute-form requests and would not pass a
    WebSocket upgrade through, so WebSocket handshakes always tunnel.
    """

    def __init__(self, *, tunnel_proxy: httpcore.Proxy, **kwargs: Any) -> None:
        super().__init__(proxy=tunnel_proxy, **kwargs)
        self._tunnel_proxy = tunnel_proxy

    def create_connection(self, origin: httpcore.Origin) -> httpcore.AsyncConnectionInterface:
        if origin.scheme != b"http":
            return super().create_connection(origin)
        return httpcore.AsyncHTTPConnection(
            origin=origin,
            keepalive_expiry=self._keepalive_expiry,
            http1=True,
            http2=False,
            network_backend=_PlainTunnelBackend(self._network_backend, self._tunnel_proxy),
        )


class _Exchange:
    """Owns one httpcore response: closes it once and frees the per-host slot."""

    def __init__(self, core: httpcore.Response, slot: anyio.Semaphore | None) -> None:
        self.core = core
        self._slot = slot
        self.closed = False

    async def aclose(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            with anyio.CancelScope(shield=True):
                await self.core.aclose()
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
        events.emit("response_body_start", self.response)
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
        events.emit("response_body_end", self.response, count)

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


class UpgradedStream(httpcore.AsyncNetworkStream):
    """The connection after ``101``: owned by the WebSocket, closed by it.

    Closing it closes the httpcore exchange, which drops the connection from
    the pool (an upgraded connection is never reused) and closes the socket.
    """

    def __init__(self, stream: httpcore.AsyncNetworkStream, exchange: _Exchange) -> None:
        self._stream = stream
        self._exchange = exchange

    async def detach(self) -> tuple[bytes, httpcore.AsyncNetworkStream]:
        """Take the socket away from httpcore: ``(bytes read after the 101, stream)``.

        The exchange is closed, so the pool forgets the connection: its slot
        is free for other calls and httpcore's per-connection state is
        released. The caller owns (and must close) the returned stream.
        """
        leading = b""
        stream = self._stream
        if isinstance(stream, AsyncHTTP11UpgradeStream):
            leading = bytes(stream._leading_data)
            stream._leading_data = b""
            stream = stream._stream
        if not isinstance(stream, DetachableStream):
            return leading, stream  # not ours to detach: keep httpcore's ownership
        inner = stream.detach()
        await self._exchange.aclose()
        return leading, inner

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._stream.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._stream.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._exchange.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return await self._stream.start_tls(ssl_context, server_hostname, timeout)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _CountingBody:
    """Counts request body bytes for ``request_body_end``."""

    def __init__(self, source: AsyncIterable[bytes], tracer: ExchangeTracer) -> None:
        self._source = source
        self._tracer = tracer

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._source:
            self._tracer.body_bytes += len(chunk)
            yield chunk


_SAFE_TARGET = string.ascii_letters + string.digits + string.punctuation


def _core_url(url: URL) -> httpcore.URL:
    try:
        host = url.host.encode("ascii")
    except UnicodeEncodeError:
        host = url.host.encode("idna")
    return httpcore.URL(
        scheme=url.scheme.encode("ascii"),
        host=host,
        port=url.port,
        target=quote(url.target, safe=_SAFE_TARGET).encode("ascii"),
    )


class Transport:
    """The innermost interceptor: one network attempt per ``__call__``."""

    def __init__(self, config: ClientConfig) -> None:
        self._config = config
        self._proxies = ProxySelector(config.proxy, trust_env=config.trust_env)
        self._pools: dict[_PoolKey, httpcore.AsyncConnectionPool] = {}
        self._ssl_contexts: dict[bool, ssl.SSLContext] = {}
        self._backend = ReportingBackend()
        self._host_slots: dict[tuple[str, str, int], anyio.Semaphore] = {}
        self._closed = False

    # -- pools ----------------------------------------------------------------
    def _ssl(self, websocket: bool = False) -> ssl.SSLContext:
        """The TLS context, built on first https use (loading CAs costs ~50 ms).

        WebSocket pools get a context of their own: httpcore sets the ALPN
        list on the context right before each TLS handshake, and a shared one
        could let an HTTP/2 pool's ``h2`` leak into an upgrade.
        """
        context = self._ssl_contexts.get(websocket)
        if context is None:
            context = create_ssl_context(self._config.verify, self._config.cert)
            self._ssl_contexts[websocket] = context
        return context

    def _pool(self, proxy: URL | None, websocket: bool, tls: bool) -> httpcore.AsyncConnectionPool:
        key: _PoolKey = (str(proxy) if proxy else None, websocket, tls)
        pool = self._pools.get(key)
        if pool is not None:
            return pool
        limits = self._config.limits
        kwargs: dict[str, Any] = {
            "ssl_context": self._ssl(websocket) if tls else None,
            "max_connections": limits.max_connections,
            "max_keepalive_connections": limits.max_keepalive_connections,
            "keepalive_expiry": limits.keepalive_expiry,
            "http1": True,
            "http2": self._config.http2 and not websocket,
            "network_backend": self._backend,
        }
        core_proxy = self._core_proxy(proxy) if proxy else None
        if core_proxy is not None and websocket and proxy and proxy.scheme in ("http", "https"):
            pool = _TunnellingPool(tunnel_proxy=core_proxy, **kwargs)
        else:
            pool = httpcore.AsyncConnectionPool(proxy=core_proxy, **kwargs)
        self._pools[key] = pool
        return pool

    def _core_proxy(self, proxy: URL) -> httpcore.Proxy:
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
        if request.url.scheme not in ("http", "https"):
            raise RequestError(
                f"cannot send {request.method} {request.url}: only http and https are "
                "supported (WebSocket URLs go through client.websocket())",
                request=request,
            )
        context = chain.context
        events = context.events
        events.emit("proxy_select_start", str(request.url))
        proxy = self._proxies.select(request.url)
        proxy_label = redact(proxy) if proxy else None
        events.emit("proxy_select_end", str(request.url), proxy_label)

        pool = self._pool(proxy, request.is_websocket, request.url.scheme == "https")
        tracer = ExchangeTracer(events, request, proxy_label)
        timeouts = self._config.timeouts
        content: bytes | AsyncIterable[bytes] = b""
        if isinstance(request.content, bytes):
            content = request.content
            tracer.body_bytes = len(content)
        elif request.content is not None:
            content = _CountingBody(request.content, tracer)
        core_request = httpcore.Request(
            request.method.encode("ascii"),
            _core_url(request.url),
            headers=request.headers.raw(),
            content=content,
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
        slot = self._host_slot(request.url)
        token = CURRENT_TRACER.set(tracer)
        acquired_slot = False
        try:
            with call_deadline(context.deadline, request):
                if slot is not None:
                    await self._acquire_slot(slot, request)
                    acquired_slot = True
                core = await pool.handle_async_request(core_request)
        except BaseException as exc:
            if acquired_slot and slot is not None:
                slot.release()
            tracer.release()
            error = tracer.translate(exc)
            if error is exc:
                raise
            raise error from exc
        finally:
            CURRENT_TRACER.reset(token)
        return self._wrap(request, core, slot, tracer, context.deadline)

    async def _acquire_slot(self, slot: anyio.Semaphore, request: Request) -> None:
        try:
            with anyio.fail_after(self._config.timeouts.pool):
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
        core: httpcore.Response,
        slot: anyio.Semaphore | None,
        tracer: ExchangeTracer,
        deadline: float | None,
    ) -> Response:
        ext = core.extensions
        exchange = _Exchange(core, slot)
        upgraded = request.is_websocket and core.status == 101
        extensions: dict[str, Any] = {}
        if upgraded:
            extensions["network_stream"] = UpgradedStream(ext["network_stream"], exchange)
        body = _BodyStream(exchange, tracer, deadline, upgraded)
        reason = ext.get("reason_phrase", b"")
        response = Response(
            core.status,
            headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in core.headers],
            content=body,
            request=request,
            http_version=ext.get("http_version", b"HTTP/1.1").decode("ascii"),
            reason=reason.decode("latin-1") if reason else None,
            extensions=extensions,
        )
        body.response = response
        tracer.events.emit("response_headers_end", response)
        return response
