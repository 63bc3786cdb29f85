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

import contextlib
import dataclasses
from collections.abc import AsyncIterable, AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Any

import anyio

from openwire.config import ClientConfig, Timeouts
from openwire.events import ListenerDispatch
from openwire.http.auth import BasicAuth, userinfo_credentials
from openwire.http.bridge import Bridge
from openwire.http.call import Call, CallRunner
from openwire.http.followups import FollowUps
from openwire.http.forms import FilesInput, FormInput, encode_form, encode_multipart
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

    def build_request(
        self,
        method: str,
        url: str | URL,
        *,
        params: Params | None = None,
        headers: HeadersInput | None = None,
        content: bytes | str | AsyncIterable[bytes] | None = None,
        data: FormInput | None = None,
        files: FilesInput | None = None,
        json: Any = None,
        auth: tuple[str, str] | BasicAuth | None = None,
        timeout: float | Timeouts | None = None,
        extensions: dict[str, Any] | None = None,
    ) -> Request:
        """The :class:`Request` that :meth:`request` would send, for :meth:`execute` or a test.

        Takes the keywords of :meth:`request`.
        """
        target, userinfo = userinfo_credentials(
            url if isinstance(url, URL) else URL(url), wanted=auth is None
        )
        if params:
            target = target.with_params(
                list(params.items()) if isinstance(params, Mapping) else list(params)
            )
        request_headers = Headers(headers)
        given = [
            name for name, value in (("content", content), ("json", json)) if value is not None
        ]
        if data is not None or files is not None:
            given.append("data/files")
        if len(given) > 1:
            raise ValueError(
                f"pass one body: {' and '.join(given)} were given; content= is raw bytes, "
                "json= a JSON document, data= a form (with files= for multipart)"
            )
        if isinstance(data, (bytes, str)):
            raise TypeError("data= is a form (a mapping of fields); pass raw bytes as content=")
        if json is not None:
            encoded = self.config.json_dumps(json)
            content = encoded.encode("utf-8") if isinstance(encoded, str) else bytes(encoded)
            request_headers.set_default("Content-Type", "application/json")
        elif files is not None:
            body, content_type, length = encode_multipart(data, files)
            content = body
            request_headers.set_default("Content-Type", content_type)
            if length is not None and not isinstance(body, bytes):
                request_headers.set_default("Content-Length", str(length))
        elif data is not None:
            content, content_type = encode_form(data)
            request_headers.set_default("Content-Type", content_type)
        request = Request(
            method,
            target,
            headers=request_headers,
            content=content,
            extensions=extensions,
            timeouts=_timeouts(timeout, self.config.timeouts),
        )
        if auth is not None:
            request = (auth if isinstance(auth, BasicAuth) else BasicAuth(*auth)).apply(request)
        elif userinfo is not None and "authorization" not in request_headers:
            request = userinfo.apply(request)
        return request

    async def request(
        self,
        method: str,
        url: str | URL,
        *,
        params: Params | None = None,
        headers: HeadersInput | None = None,
        content: bytes | str | AsyncIterable[bytes] | None = None,
        data: FormInput | None = None,
        files: FilesInput | None = None,
        json: Any = None,
        auth: tuple[str, str] | BasicAuth | None = None,
        timeout: float | Timeouts | None = None,
        extensions: dict[str, Any] | None = None,
    ) -> Response:
        """Send a request and read the whole body before returning.

        One body at most: ``content`` (bytes, str, or an async iterable of
        bytes, streamed), ``json`` (encoded with the client's ``json_dumps``),
        ``data`` (a form: ``application/x-www-form-urlencoded``) or ``files``
        (with ``data`` as its text fields: ``multipart/form-data``; see
        :mod:`openwire.http.forms` for the file forms accepted).
        ``params`` are added to the URL's query.

        ``auth``: ``(username, password)`` or a :class:`~openwire.BasicAuth`,
        sent as ``Authorization: Basic`` with the request; like every
        credential header, it is dropped by a redirect that leaves the
        origin. ``timeout``: a number sets the connect, read, write and pool
        timeouts of this request (as httpx's ``timeout=`` does; the client's
        ``Timeouts.call`` stays); a :class:`~openwire.Timeouts` replaces them
        all, ``call`` included. ``None`` keeps the client's.

        Returns after the body is read; ``response.url`` is where the call
        landed and ``response.history`` the redirects on the way. A 4xx or
        5xx is returned, not raised: call ``response.raise_for_status()``.
        To read the body as it arrives, use :meth:`stream`.
        """
        response = await self.execute(
            self.build_request(
                method,
                url,
                params=params,
                headers=headers,
                content=content,
                data=data,
                files=files,
                json=json,
                auth=auth,
                timeout=timeout,
                extensions=extensions,
            )
        )
        await response.aread()
        return response

    @contextlib.asynccontextmanager
    async def stream(self, method: str, url: str | URL, **kwargs: Any) -> AsyncIterator[Response]:
        """``async with client.stream("GET", url) as response:`` the body unread, closed on exit.

        Takes the keywords of :meth:`request`. Inside the block, read the body
        as it arrives (``async for chunk in response.aiter_bytes()``) or
        whole (``await response.aread()``); on exit the response is closed,
        read or not, so its connection goes back to the pool (or is dropped,
        when the body was left unread).
        """
        response = await self.execute(self.build_request(method, url, **kwargs))
        try:
            yield response
        finally:
            with anyio.CancelScope(shield=True):
                await response.aclose()

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


def _timeouts(timeout: float | Timeouts | None, client: Timeouts) -> Timeouts | None:
    """A request's own deadlines: a number for each step (httpx's meaning), or a Timeouts."""
    if timeout is None or isinstance(timeout, Timeouts):
        return timeout
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(
            f"timeout= takes seconds (a number) or a Timeouts, got {type(timeout).__name__}"
        )
    seconds = float(timeout)
    return Timeouts(connect=seconds, read=seconds, write=seconds, pool=seconds, call=client.call)
