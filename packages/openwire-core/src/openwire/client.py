"""The Client: configuration, connection pools, and the call chain.

One call runs, outermost first::

    application interceptors → follow-ups → bridge → network interceptors → transport

``execute()`` returns as soon as the response headers arrive, with the body
still streaming (as OkHttp does): read it, or close it to give the
connection back. The ``get()``/``post()``/... helpers read the whole body
before returning, so their responses need no closing.

Every call runs between ``call_start`` and one of ``call_end`` /
``call_failed``; :meth:`Client.start_call` is that run, public, for callers
with their own rule for when a call ends (the WebSocket handshake ends its
call when the ``101`` is validated, not when a body is read).
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Any

from openwire.config import ClientConfig
from openwire.events import ListenerDispatch
from openwire.http.bridge import Bridge
from openwire.http.call import Call, CallRunner
from openwire.http.followups import FollowUps
from openwire.http.headers import Headers, HeadersInput
from openwire.http.models import Request, Response
from openwire.http.transport import Transport
from openwire.http.url import URL
from openwire.websocket.call import WebSocketCall, handshake_request
from openwire.websocket.connection import WebSocket
from openwire.websocket.options import WebSocketOptions
from openwire.websocket.reconnect import OnConnect, ReconnectingWebSocket, ReconnectPolicy

__all__ = ["Client"]

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
        layers = config.split()
        self._transport = Transport(layers.transport)
        self._calls = CallRunner(
            (
                *config.interceptors,
                FollowUps(layers.follow_ups),
                Bridge(layers.bridge),
                *config.network_interceptors,
                self._transport,
            ),
            call_timeout=config.timeouts.call,
            listener_factory=config.event_listener_factory,
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
        """Close every pooled HTTP connection.

        WebSockets are not pooled (each has its own connection): an open one is
        closed by its own ``close()`` or ``async with`` block, not by this.
        """
        await self._transport.aclose()

    # -- calls ---------------------------------------------------------------
    def new_listener(self) -> ListenerDispatch:
        """A fresh per-call dispatch from ``event_listener_factory``.

        A factory that raises costs the call its events, not the call itself.
        """
        return self._calls.new_listener()

    def start_call(self, request: Request) -> Call:
        """Start a call to ``request`` through the whole chain; the caller says when it ends.

        ``call_start`` fires now. ``await call.send()`` runs the chain
        (interceptors, follow-ups, bridge, transport) and returns the response
        with its body unread. End the call on every path, exactly as your
        rule says: ``call.end()`` when it is over, ``call.end(error)`` when it
        failed (``send()`` raising included), or
        ``call.end_with_body(response)`` to end it with the body, as
        :meth:`execute` does. ``Timeouts.call`` bounds ``send()``::

            call = client.start_call(request)
            try:
                response = await call.send()
                ...  # your own checks
            except BaseException as exc:
                call.end(exc)
                raise
            call.end()

        """
        return self._calls.start(request)

    async def execute(self, request: Request) -> Response:
        """Send ``request``; the response body is left streaming, unread.

        ``call_end`` (or ``call_failed``) fires when the body is read to the
        end, fails, or the response is closed or garbage-collected. Raises the
        :class:`~openwire.RequestError` subclasses of the chain.
        """
        call = self._calls.start(request)
        try:
            response = await call.send()
        except BaseException as exc:
            call.end(exc)
            raise
        return call.end_with_body(response)

    # -- WebSocket -----------------------------------------------------------
    def new_websocket(
        self,
        request: Request | str | URL,
        *,
        headers: HeadersInput | None = None,
        origin: str | None = None,
        user_agent: str | None = None,
        follow_redirects: bool | None = None,
        max_redirects: int | None = None,
        **options: Any,
    ) -> WebSocketCall:
        """Prepare a WebSocket call to ``request`` (a ws/wss/http/https URL or a GET Request).

        ``headers`` (a mapping or ``(name, value)`` pairs) replace the
        request's fields of the same names; ``origin`` sets ``Origin``;
        ``user_agent`` replaces the client's ``User-Agent`` for this call.
        Headers the handshake sets itself (``Host``, ``Upgrade``,
        ``Connection``, ``Sec-WebSocket-*``) are a :class:`ValueError` naming
        the option to use instead (``subprotocols=``, ``compression=``).
        ``follow_redirects`` and ``max_redirects`` override the client's
        settings for this handshake (``None``: the client's; redirects are
        followed by default, and ``ws.response.request.url`` is where the
        handshake landed).

        ``options`` are :class:`~openwire.websocket.options.WebSocketOptions`
        fields (``handshake_timeout``, ``max_message_size``, ``subprotocols``,
        ``engine``, ...). Nothing touches the network until
        ``await call.execute()``.
        """
        options.setdefault("compression", self.config.websocket_compression)
        return WebSocketCall(
            self,
            handshake_request(request, headers=headers, origin=origin, user_agent=user_agent),
            WebSocketOptions.of(**options),
            follow_redirects=follow_redirects,
            max_redirects=max_redirects,
        )

    def websocket(
        self,
        request: Request | str | URL,
        *,
        headers: HeadersInput | None = None,
        origin: str | None = None,
        user_agent: str | None = None,
        follow_redirects: bool | None = None,
        max_redirects: int | None = None,
        **options: Any,
    ) -> AbstractAsyncContextManager[WebSocket]:
        """``async with client.websocket(url) as ws:`` — open, then close with 1000 on exit.

        Takes the same arguments as :meth:`new_websocket`.
        """
        return self.new_websocket(
            request,
            headers=headers,
            origin=origin,
            user_agent=user_agent,
            follow_redirects=follow_redirects,
            max_redirects=max_redirects,
            **options,
        ).connect()

    def websocket_reconnecting(
        self,
        request: Request | str | URL,
        *,
        policy: ReconnectPolicy | None = None,
        on_connect: OnConnect | None = None,
        **options: Any,
    ) -> ReconnectingWebSocket:
        """``async for ws in client.websocket_reconnecting(url):`` a new connection per loss.

        ``options`` are those of :meth:`websocket`, checked now. Each
        iteration yields an open WebSocket; when the body is done with it,
        the loop decides from how it ended (see :class:`ReconnectingWebSocket`)
        whether to wait ``policy``'s backoff and connect again, end, or
        raise. ``on_connect(ws)`` runs on every new connection before it is
        yielded (to log in or resubscribe). Wrap the loop in ``async with``
        to have the last connection closed (1000) and awaited on exit;
        otherwise ``break`` or an exception closes it in the background.
        """
        return ReconnectingWebSocket(
            self.new_websocket(request, **options),
            policy if policy is not None else ReconnectPolicy(),
            on_connect,
            self.new_listener,
        )

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
            encoded = self.config.json_dumps(json)
            content = encoded.encode("utf-8") if isinstance(encoded, str) else bytes(encoded)
            request_headers.set_default("Content-Type", "application/json")
        request = Request(
            method, target, headers=request_headers, content=content, extensions=extensions
        )
        response = await self.execute(request)
        await response.aread()
        return response

    async def get(self, url: str | URL, **kwargs: Any) -> Response:
        """``request("GET", url, **kwargs)``: send, read the whole body, return."""
        return await self.request("GET", url, **kwargs)

    async def head(self, url: str | URL, **kwargs: Any) -> Response:
        """``request("HEAD", url, **kwargs)``: send, read the whole body, return."""
        return await self.request("HEAD", url, **kwargs)

    async def options(self, url: str | URL, **kwargs: Any) -> Response:
        """``request("OPTIONS", url, **kwargs)``: send, read the whole body, return."""
        return await self.request("OPTIONS", url, **kwargs)

    async def delete(self, url: str | URL, **kwargs: Any) -> Response:
        """``request("DELETE", url, **kwargs)``: send, read the whole body, return."""
        return await self.request("DELETE", url, **kwargs)

    async def post(self, url: str | URL, **kwargs: Any) -> Response:
        """``request("POST", url, **kwargs)``: send, read the whole body, return."""
        return await self.request("POST", url, **kwargs)

    async def put(self, url: str | URL, **kwargs: Any) -> Response:
        """``request("PUT", url, **kwargs)``: send, read the whole body, return."""
        return await self.request("PUT", url, **kwargs)

    async def patch(self, url: str | URL, **kwargs: Any) -> Response:
        """``request("PATCH", url, **kwargs)``: send, read the whole body, return."""
        return await self.request("PATCH", url, **kwargs)
