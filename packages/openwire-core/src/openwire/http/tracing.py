"""Turning httpcore's ``trace`` callbacks into EventListener events.

httpcore already knows when it connects, negotiates TLS and sends each part
of a request; it reports those steps through the ``trace`` request extension.
One :class:`ExchangeTracer` per network attempt listens and fires the
matching events, so connection setup is not re-implemented here.

httpcore has no DNS step of its own (the socket library resolves inside
``connect``), so :class:`ReportingBackend` resolves explicitly with
``anyio.getaddrinfo``, fires ``dns_start``/``dns_end`` and ``connect_start``,
then connects to the resolved addresses in order. A failed lookup fires no
connect events: the call fails with a ConnectError, as in OkHttp.
"""

from __future__ import annotations

import contextvars
import functools
import ipaddress
import socket
import time
from collections.abc import Iterable
from typing import Any

import anyio
import httpcore

from openwire.events import ListenerDispatch
from openwire.http.failures import translate
from openwire.http.models import Request
from openwire.io.anyio_stream import ClosesOnFailedTLS
from openwire.io.backend import current_backend

__all__ = ["ExchangeTracer", "ReportingBackend", "current", "current_tracer"]


class _TracerSlot:
    __slots__ = ("tracer",)

    def __init__(self, tracer: ExchangeTracer | None) -> None:
        self.tracer = tracer


_CURRENT: contextvars.ContextVar[_TracerSlot | None] = contextvars.ContextVar(
    "openwire_current_tracer", default=None
)


class current:  # lower case: it reads as a function, ``with current(tracer):``
    """Make ``tracer`` the one the network backend reports to, inside the block.

    Connections opened inside keep a copy of this context for their
    callbacks (asyncio copies it when it registers a reader or a timer), for
    as long as they live: an open WebSocket, a pooled connection. So the
    context holds a slot that is emptied on the way out, never the tracer
    itself, or every open connection would keep its first exchange's
    tracer, listener and request alive. (A class, not a generator: entered
    once per attempt, it costs half the calls.)
    """

    __slots__ = ("_slot", "_token")

    def __init__(self, tracer: ExchangeTracer) -> None:
        self._slot = _TracerSlot(tracer)

    def __enter__(self) -> None:
        self._token = _CURRENT.set(self._slot)

    def __exit__(self, *exc_info: object) -> None:
        self._slot.tracer = None
        _CURRENT.reset(self._token)


def current_tracer() -> ExchangeTracer | None:
    slot = _CURRENT.get()
    return None if slot is None else slot.tracer


class ExchangeTracer:
    """Per-attempt event state; also the async ``trace`` callback httpcore calls."""

    def __init__(self, events: ListenerDispatch, request: Request, proxy: str | None) -> None:
        self.events = events
        self.request = request
        self.proxy = proxy
        self.core_request: httpcore.Request | None = None
        self.has_body = request.content is not None
        self.body_bytes = 0
        self.connecting = False  # connect_tcp happened in this attempt
        self.connect_announced = False
        self.tls_failed = False
        self.acquired = False
        self.released = False
        self._endpoint: tuple[str, int] = ("", 0)
        self._errors: dict[int, BaseException] = {}

    # -- called by ReportingBackend --------------------------------------------
    def connecting_to(self, host: str, port: int) -> None:
        """The address really dialled: a proxy's when the pool's connection is a tunnel."""
        self._endpoint = (host, port)

    def dns_resolved(self, host: str, addresses: list[str], port: int) -> None:
        self.events.dns_end(host, addresses)
        self.connect_announced = True
        self.events.connect_start(host, port)

    def translate(self, exc: BaseException) -> BaseException:
        """One openwire error per raw exception, so events and the caller see the same object."""
        if not isinstance(exc, Exception):
            return exc
        known = self._errors.get(id(exc))
        if known is None:
            known = translate(exc, self.request, tls_failed=self.tls_failed, proxy=self.proxy)
            self._errors[id(exc)] = known
        return known

    def release(self) -> None:
        if self.acquired and not self.released:
            self.released = True
            url = self.request.url
            self.events.connection_released(url.host, url.port)

    # -- httpcore trace callback ------------------------------------------------
    async def __call__(self, name: str, info: dict[str, Any]) -> None:
        owner = info.get("request")
        if owner is not None and owner is not self.core_request:
            return  # e.g. the CONNECT request of a proxy tunnel
        self.step(name.partition(".")[2], info)  # drop httpcore's logger prefix

    def step(self, step: str, info: dict[str, Any]) -> None:
        """One connection step, named as httpcore names it (``connect_tcp.started``...).

        The upgrade connector reports its steps here directly, so an
        upgrade's events are the ones httpcore's trace produces for a pool.
        """
        handler = _HANDLERS.get(step)
        if handler is not None:
            handler(self, info)

    def _tcp_started(self, info: dict[str, Any]) -> None:
        self.connecting = True
        self._endpoint = (str(info.get("host", "")), int(info.get("port", 0)))

    def _tcp_complete(self, info: dict[str, Any]) -> None:
        self.events.connect_end(*self._endpoint)

    def _tcp_failed(self, info: dict[str, Any]) -> None:
        if self.connect_announced:
            self.events.connect_failed(*self._endpoint, self.translate(info["exception"]))

    def _tls_started(self, info: dict[str, Any]) -> None:
        self.events.secure_connect_start(str(info.get("server_hostname", "")))

    def _tls_complete(self, info: dict[str, Any]) -> None:
        stream = info.get("return_value")
        version = None
        if stream is not None:
            ssl_object = stream.get_extra_info("ssl_object")
            version = ssl_object.version() if ssl_object is not None else None
        self.events.secure_connect_end(self.request.url.host, version)

    def _tls_failed(self, info: dict[str, Any]) -> None:
        # TCP already reported connect_end; the TLSError reaches call_failed.
        self.tls_failed = True

    def _headers_started(self, info: dict[str, Any]) -> None:
        if not self.acquired:
            self.acquired = True
            url = self.request.url
            self.events.connection_acquired(url.host, url.port, not self.connecting)
        self.events.request_headers_start(self.request)

    def _headers_complete(self, info: dict[str, Any]) -> None:
        self.events.request_headers_end(self.request)

    def _body_started(self, info: dict[str, Any]) -> None:
        if self.has_body:
            self.events.request_body_start(self.request)

    def _body_complete(self, info: dict[str, Any]) -> None:
        if self.has_body:
            self.events.request_body_end(self.request, self.body_bytes)

    def _response_headers_started(self, info: dict[str, Any]) -> None:
        self.events.response_headers_start(self.request)


_HANDLERS = {
    "connect_tcp.started": ExchangeTracer._tcp_started,
    "connect_tcp.complete": ExchangeTracer._tcp_complete,
    "connect_tcp.failed": ExchangeTracer._tcp_failed,
    "start_tls.started": ExchangeTracer._tls_started,
    "start_tls.complete": ExchangeTracer._tls_complete,
    "start_tls.failed": ExchangeTracer._tls_failed,
    "send_request_headers.started": ExchangeTracer._headers_started,
    "send_request_headers.complete": ExchangeTracer._headers_complete,
    "send_request_body.started": ExchangeTracer._body_started,
    "send_request_body.complete": ExchangeTracer._body_complete,
    "receive_response_headers.started": ExchangeTracer._response_headers_started,
}


async def _connect_address(
    fallback: httpcore.AsyncNetworkBackend,
    address: str,
    port: int,
    timeout: float | None,
    local_address: str | None,
    socket_options: Iterable[httpcore.SOCKET_OPTION] | None,
) -> httpcore.AsyncNetworkStream:
    """Connect to one already-resolved address.

    The running loop's backend (:mod:`openwire.io.backend`) connects without
    happy eyeballs (the addresses are resolved and tried in order here
    already); on asyncio it returns openwire's own stream, which a
    WebSocket can later take the transport out of. Only a ``local_address``
    needs httpcore's own backend.
    """
    if local_address is not None:
        return ClosesOnFailedTLS(
            await fallback.connect_tcp(
                address,
                port,
                timeout=timeout,
                local_address=local_address,
                socket_options=socket_options,
            )
        )
    return await current_backend().connect_tcp(address, port, timeout, socket_options)


@functools.lru_cache(maxsize=1024)
def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class ReportingBackend(httpcore.AsyncNetworkBackend):
    """httpcore's anyio backend with an explicit, reported DNS step."""

    def __init__(self) -> None:
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        tracer = current_tracer()
        started = time.monotonic()
        if tracer is not None:
            tracer.connecting_to(host, port)
        if _is_ip_literal(host):
            # Nothing to resolve (asyncio would still go through a thread), and
            # no DNS events, as in OkHttp.
            if tracer is not None:
                tracer.connect_announced = True
                tracer.events.connect_start(host, port)
            stream = await _connect_address(
                self._inner, host, port, timeout, local_address, socket_options
            )
            return stream
        if tracer is not None:
            tracer.events.dns_start(host)
        try:
            with anyio.fail_after(timeout):
                infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"resolving {host!r} timed out") from None
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host!r}: {exc}") from exc
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        if tracer is not None:
            tracer.dns_resolved(host, addresses, port)
        last: Exception | None = None
        for address in addresses:
            remaining = (
                None if timeout is None else max(0.0, timeout - (time.monotonic() - started))
            )
            try:
                stream = await _connect_address(
                    self._inner, address, port, remaining, local_address, socket_options
                )
                return stream
            except httpcore.ConnectError as exc:
                last = exc
        raise last or httpcore.ConnectError(f"{host!r} resolved to no address")

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return await self._inner.connect_unix_socket(path, timeout, socket_options)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)
