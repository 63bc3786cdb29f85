"""The Client: configuration, connection pools, and the call chain.

One call runs, outermost first::

    application interceptors → follow-ups → bridge → network interceptors → transport

``execute()`` returns as soon as the response headers arrive, with the body
still streaming (as OkHttp does): read it, or close it to give the
connection back. The ``get()``/``post()``/... helpers read the whole body
before returning, so their responses need no closing.
"""

from __future__ import annotations

import dataclasses
import json as jsonlib
import logging
from collections.abc import AsyncIterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Any

import anyio

from openwire.config import ClientConfig
from openwire.events import EventListener, ListenerDispatch
from openwire.http.bridge import Bridge
from openwire.http.chain import CallContext, Chain, Interceptor, call_deadline
from openwire.http.followups import FollowUps
from openwire.http.headers import Headers, HeadersInput
from openwire.http.models import Request, Response
from openwire.http.transport import Transport
from openwire.http.url import URL
from openwire.websocket.call import WebSocketCall, to_http_url
from openwire.websocket.connection import WebSocket
from openwire.websocket.options import WebSocketOptions

__all__ = ["Client"]

_log = logging.getLogger("openwire.client")

Params = Mapping[str, str] | Sequence[tuple[str, str]]


class Client:
    """An HTTP (and WebSocket) client; share one per application.

    ``Client(**settings)`` takes any :class:`~openwire.ClientConfig` field
    as a keyword; ``Client(config=cfg, **overrides)`` starts from a config.
    Use it as ``async with Client() as client:`` so pools are closed.
    """

    def __init__(self, config: ClientConfig | None = None, **settings: Any) -> None:
        if config is None:
            config = ClientConfig(**settings)
        elif settings:
            config = dataclasses.replace(config, **settings)
        self.config = config
        self._transport = Transport(config)
        self._layers: tuple[Interceptor, ...] = (
            *config.interceptors,
            FollowUps(config),
            Bridge(config),
            *config.network_interceptors,
            self._transport,
        )

    # -- lifecycle -----------------------------------------------------------
    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close every pooled connection (HTTP and WebSocket pools)."""
        await self._transport.aclose()

    # -- calls ---------------------------------------------------------------
    def new_listener(self) -> ListenerDispatch:
        """A fresh per-call dispatch from ``event_listener_factory``.

        A factory that raises costs the call its events, not the call itself.
        """
        factory = self.config.event_listener_factory
        listener: EventListener | None = None
        if factory is not None:
            try:
                listener = factory()
            except Exception:
                _log.exception("event_listener_factory raised; this call has no listener")
        return ListenerDispatch(listener)

    async def _send(self, request: Request, events: ListenerDispatch) -> Response:
        """Run the whole chain; fires every HTTP event but call_start/call_end/call_failed."""
        limit = self.config.timeouts.call
        deadline = None if limit is None else anyio.current_time() + limit
        context = CallContext(events=events, deadline=deadline)
        with call_deadline(deadline, request):
            return await Chain(self._layers, context).proceed(request)

    async def execute(self, request: Request) -> Response:
        """Send ``request``; the response body is left streaming, unread.

        ``call_end`` (or ``call_failed``) fires when the body is read to the
        end, fails, or the response is closed or garbage-collected.
        """
        events = self.new_listener()
        events.call_start(request)
        try:
            response = await self._send(request, events)
        except BaseException as exc:
            events.call_failed(request, exc)
            raise

        def finished(error: BaseException | None) -> None:
            if error is None:
                events.call_end(request)
            else:
                events.call_failed(request, error)

        response.on_close(finished)
        return response

    # -- WebSocket -----------------------------------------------------------
    def new_websocket(self, request: Request | str | URL, **options: Any) -> WebSocketCall:
        """Prepare a WebSocket call to ``request`` (a ws/wss/http/https URL or a GET Request).

        ``options`` are :class:`~openwire.websocket.options.WebSocketOptions`
        fields (``handshake_timeout``, ``max_message_size``, ``subprotocols``,
        ``engine``, ...). Nothing touches the network until
        ``await call.execute()``.
        """
        if not isinstance(request, Request):
            request = Request("GET", to_http_url(str(request)))
        elif request.url.scheme in ("ws", "wss"):
            request = request.replace(url=to_http_url(str(request.url)))
        return WebSocketCall(self, request, WebSocketOptions.of(**options))

    def websocket(
        self, request: Request | str | URL, **options: Any
    ) -> AbstractAsyncContextManager[WebSocket]:
        """``async with client.websocket(url) as ws:`` — open, then close with 1000 on exit."""
        return self.new_websocket(request, **options).connect()

    async def request(
        self,
        method: str,
        url: str | URL,
        *,
        params: Params | None = None,
        headers: HeadersInput | None = None,
        content: bytes | str | AsyncIterable[bytes] | None = None,
        json: Any = None,
        extensions: dict[str, Any] | None = None,
    ) -> Response:
        """Send a request and read the whole body before returning."""
        target = url if isinstance(url, URL) else URL(url)
        if params:
            target = target.with_params(
                list(params.items()) if isinstance(params, Mapping) else list(params)
            )
        request_headers = Headers(headers)
        if json is not None:
            if content is not None:
                raise ValueError("pass either content= or json=, not both")
            content = jsonlib.dumps(json, separators=(",", ":")).encode("utf-8")
            request_headers.set_default("Content-Type", "application/json")
        request = Request(
            method, target, headers=request_headers, content=content, extensions=extensions
        )
        response = await self.execute(request)
        await response.aread()
        return response

    async def get(self, url: str | URL, **kwargs: Any) -> Response:
        return await self.request("GET", url, **kwargs)

    async def head(self, url: str | URL, **kwargs: Any) -> Response:
        return await self.request("HEAD", url, **kwargs)

    async def options(self, url: str | URL, **kwargs: Any) -> Response:
        return await self.request("OPTIONS", url, **kwargs)

    async def delete(self, url: str | URL, **kwargs: Any) -> Response:
        return await self.request("DELETE", url, **kwargs)

    async def post(self, url: str | URL, **kwargs: Any) -> Response:
        return await self.request("POST", url, **kwargs)

    async def put(self, url: str | URL, **kwargs: Any) -> Response:
        return await self.request("PUT", url, **kwargs)

    async def patch(self, url: str | URL, **kwargs: Any) -> Response:
        return await self.request("PATCH", url, **kwargs)
