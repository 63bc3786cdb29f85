"""``client.new_websocket(...)``: a prepared call that opens a WebSocket.

The opening handshake is an ordinary call through the client's stack
(application interceptors, bridge, network interceptors, proxies, TLS),
started with :meth:`openwire.Client.start_call` and marked by the
:class:`~openwire.protocol.handshake.HandshakeOffer` in ``Request.websocket``
so the bridge adds the handshake headers and the transport picks the
connection: an HTTP/1.1 connection of its own, or a stream of a shared
HTTP/2 connection (RFC 8441) when :attr:`WebSocketCall.http_version` allows
it and the origin offers it (``docs/http2.md``). The call ends (``call_end``) once the ``101`` is
validated and the engine accepted, or fails; the WebSocket's own events
follow. Everything that can be refused without a network (engine name,
backend, options, headers the handshake owns) is refused before connecting.

Per-call request options (:func:`handshake_request`): ``headers=`` replace
the fields of the same name on the request, ``origin=`` sets ``Origin`` and
``user_agent=`` sets ``User-Agent`` (the bridge adds the client's only when a
request has none). Redirects are followed by the follow-ups, with the policy
the call puts in its :class:`HandshakeOffer` (``follow_redirects``,
``max_redirects``; ``None`` for the client's); the WebSocket's
``response.request.url`` is where the handshake landed.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Final, Protocol

import anyio

from openwire.compression import Deflate
from openwire.engines.connection import open_engine_connection
from openwire.engines.contract import EngineSettings
from openwire.engines.registry import registry
from openwire.errors import HandshakeTimeout, OpenWireError
from openwire.http.auth import userinfo_credentials
from openwire.http.call import Call
from openwire.http.headers import Headers, HeadersInput
from openwire.http.models import Request, Response
from openwire.http.url import URL
from openwire.io.backend import current_backend
from openwire.io.handover import Detached
from openwire.protocol.deflate import negotiate
from openwire.protocol.handshake import (
    BODY_PREVIEW_LIMIT,
    HandshakeOffer,
    HTTPVersion,
    accepted,
    check_status,
    validate_response,
)
from openwire.websocket.connection import WebSocket
from openwire.websocket.options import WebSocketOptions
from openwire.websocket.session import Session

if TYPE_CHECKING:
    from openwire.config import ClientConfig

__all__ = [
    "HandshakeClient",
    "WebSocketCall",
    "handshake_request",
    "to_http_url",
    "websocket_url",
]

_SCHEMES = {"ws": "http", "wss": "https", "http": "http", "https": "https"}

_OWNED: Final = {
    "host": "it is taken from the URL; put the host you want in the URL",
    "upgrade": "the handshake sets it",
    "connection": "the handshake sets it",
    "sec-websocket-key": "the handshake sets a fresh key per request",
    "sec-websocket-version": "the handshake sets it (13, RFC 6455)",
    "sec-websocket-accept": "it is the server's answer, not a request header",
    "sec-websocket-protocol": "pass subprotocols=[...] instead",
    "sec-websocket-extensions": 'pass compression= instead ("deflate" or None)',
}
"""Header fields the opening handshake owns, and what to do instead of setting them."""


def to_http_url(url: str) -> str:
    """``ws://`` → ``http://``, ``wss://`` → ``https://`` (RFC 6455 §3)."""
    scheme, sep, rest = url.partition("://")
    mapped = _SCHEMES.get(scheme.lower()) if sep else None
    if mapped is None:
        raise ValueError(
            f"WebSocket URL must start with ws://, wss://, http:// or https://: {url!r}"
        )
    if "#" in rest:
        raise ValueError(f"WebSocket URLs must not have a fragment (RFC 6455 §3): {url!r}")
    return f"{mapped}://{rest}"


def websocket_url(url: str) -> str:
    """``url`` as written, once checked: a ws/wss/http/https scheme and no fragment.

    The request keeps the scheme the caller wrote, so errors and events show
    it; the transport dials :attr:`URL.wire_scheme <openwire.URL.wire_scheme>`.
    """
    to_http_url(url)
    return url


def handshake_request(
    target: Request | str | URL,
    *,
    headers: HeadersInput | None = None,
    origin: str | None = None,
    user_agent: str | None = None,
) -> Request:
    """The GET request of a handshake to ``target``, with the per-call options applied.

    ``target`` is a ws/wss/http/https URL or a :class:`Request`; its URL is
    kept as written (``ws://`` stays ``ws://``). ``headers`` (a mapping or ``(name, value)``
    pairs) replace the request's fields of the same names; a name given
    several times keeps every value. ``origin`` and ``user_agent`` set
    ``Origin`` and ``User-Agent`` (the client's ``user_agent`` is added only
    when a request has none). Naming one field twice (``origin=`` and an
    ``Origin`` in ``headers=``) is a :class:`ValueError`, as is any header
    the handshake owns (see :class:`WebSocketCall`).
    """
    if isinstance(target, Request):
        request = target
        websocket_url(str(request.url))
    else:
        url, userinfo = userinfo_credentials(URL(websocket_url(str(target))))
        request = Request("GET", url)
        if userinfo is not None:
            request = userinfo.apply(request)  # an Authorization in headers= still wins
    extra = Headers(headers)
    for name, value, keyword in (
        ("Origin", origin, "origin"),
        ("User-Agent", user_agent, "user_agent"),
    ):
        if value is None:
            continue
        if name in extra:
            raise ValueError(f"{name} is given twice, as {keyword}= and in headers=; pass it once")
        extra.add(name, value)
    if not extra:
        return request
    merged = request.headers.copy()
    for name in {n.lower() for n, _ in extra.items()}:
        merged.remove(name)
    for name, value in extra.items():
        merged.add(name, value)
    return request.replace(headers=merged)


def _check_headers(request: Request) -> None:
    for name, _ in request.headers.items():
        why = _OWNED.get(name.lower())
        if why is not None:
            raise ValueError(
                f"the WebSocket handshake does not take a {name} header from the application: {why}"
            )


class HandshakeClient(Protocol):
    """What a WebSocket call needs of its client (an :class:`openwire.Client` has it).

    Its settings, for the default engine, and its public way through the
    chain, so the handshake is an ordinary call whose end the WebSocket call
    decides.
    """

    @property
    def config(self) -> ClientConfig: ...

    def start_call(self, request: Request) -> Call: ...


class WebSocketCall:
    """A WebSocket call, ready to :meth:`execute`. Options are frozen at creation.

    The request must be a GET and must not carry the header fields the
    handshake sets itself (``Host``, ``Upgrade``, ``Connection``,
    ``Sec-WebSocket-Key``/``-Version``/``-Accept``/``-Protocol``/``-Extensions``):
    each is a :class:`ValueError` naming the option to use instead, because
    the bridge would overwrite it silently (``Host``: it would contradict the
    URL the connection is opened to). ``follow_redirects`` and
    ``max_redirects`` override the client's settings for this call
    (``None``: the client's).
    """

    def __init__(
        self,
        client: HandshakeClient,
        request: Request,
        options: WebSocketOptions,
        *,
        follow_redirects: bool | None = None,
        max_redirects: int | None = None,
    ) -> None:
        if request.method.upper() != "GET":
            raise ValueError(
                f"a WebSocket handshake is a GET request (RFC 6455 §4.1), got {request.method}"
            )
        _check_headers(request)
        if max_redirects is not None and max_redirects < 0:
            raise ValueError(f"max_redirects must not be negative, got {max_redirects}")
        self.client = client
        self.request = request
        self.options = options
        self.follow_redirects = follow_redirects
        self.max_redirects = max_redirects

    def with_options(self, **changes: Any) -> WebSocketCall:
        """A copy with some options changed (``follow_redirects``/``max_redirects`` too)."""
        follow_redirects = changes.pop("follow_redirects", self.follow_redirects)
        max_redirects = changes.pop("max_redirects", self.max_redirects)
        return WebSocketCall(
            self.client,
            self.request,
            self.options.with_changes(**changes),
            follow_redirects=follow_redirects,
            max_redirects=max_redirects,
        )

    @property
    def http_version(self) -> HTTPVersion:
        """The HTTP version this call's handshake may use: the option, else the client's default.

        ``Client(http2=True)`` makes it ``"auto"``, otherwise ``"1.1"``.
        """
        chosen = self.options.http_version
        if chosen is not None:
            return chosen
        return "auto" if self.client.config.http2 else "1.1"

    async def execute(self) -> WebSocket:
        """Run the handshake and return the open :class:`WebSocket`.

        Raises :class:`~openwire.errors.HandshakeError` subclasses when the
        server does not accept the upgrade, :class:`~openwire.errors.HandshakeTimeout`
        after ``handshake_timeout``, the client's connection errors, and
        :class:`~openwire.errors.EngineNotFound` /
        :class:`~openwire.errors.EngineUnavailable` before connecting.
        """
        options = self.options
        backend = current_backend()
        runtime = backend.runtime()
        info = registry.resolve(options.engine, self.client.config.websocket_engine, backend.name)
        engine = info.engine
        deflate = "permessage-deflate" in engine.capabilities.extensions
        compression = Deflate.of(options.compression) if deflate else None
        offer = HandshakeOffer(
            options.subprotocols,
            tuple(engine.extension_offers(compression)),
            follow_redirects=self.follow_redirects,
            max_redirects=self.max_redirects,
            http_version=self.http_version,
        )
        request = self.request.replace(websocket=offer)
        call = self.client.start_call(request)
        events = call.events
        response: Response | None = None
        owned: Detached | None = None
        try:
            try:
                async with runtime.fail_after(options.handshake_timeout):
                    if options.handshake_timeout is not None:
                        # Read after the timer above was armed (see Call.enclose).
                        call.enclose(time.monotonic() + options.handshake_timeout)
                    response = await call.send()
                    if not accepted(response):
                        body = await _read_preview(response)
                        check_status(response, body)
                    # After a redirect the 101 answers the last hop's key.
                    sent = response.request.websocket if response.request is not None else None
                    result = validate_response(
                        response, sent if isinstance(sent, HandshakeOffer) else offer
                    )
                    extensions = engine.accept_extensions(result.extensions)
            except TimeoutError as exc:
                if isinstance(exc, OpenWireError):
                    raise  # a timeout of one step (connect, read, ...), already typed
                raise HandshakeTimeout(
                    f"the WebSocket handshake with {request.url} did not complete within "
                    f"handshake_timeout={options.handshake_timeout}s (DNS, connect, TLS and "
                    "the HTTP exchange together); check the server or raise the timeout",
                    request=request,
                ) from None
            upgraded = response.upgraded
            if upgraded is None:
                raise RuntimeError(
                    f"the 101 answering {request.url} carries no connection to take over: "
                    "an interceptor replaced the handshake's response; return the one "
                    "chain.proceed() gave"
                )
            # The WebSocket owns the connection now; the exchange forgets it.
            owned = detached = upgraded.detach()
            conn = open_engine_connection(
                engine,
                EngineSettings(
                    max_frame_size=options.max_frame_size,
                    max_message_size=options.max_message_size,
                    subprotocol=result.subprotocol,
                    extensions=tuple(extensions),
                    compression=compression,
                ),
            )
        except BaseException as exc:
            # Every path out of here releases the socket: nobody else owns it yet.
            if owned is not None:
                with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
                    await owned.aclose()
            elif response is not None:
                await _discard(response)
            call.end(exc)
            raise
        call.end()
        handshake = Response(
            response.status,
            headers=response.headers,
            request=response.request,
            http_version=response.http_version,
            reason=response.reason,
        )
        session = Session(conn, options, events, runtime, engine.name)
        channel = backend.open_channel(
            session,
            detached,
            runtime,
            max_messages=options.send_queue_size,
            max_bytes=options.send_queue_bytes,
        )
        session.attach(channel)
        events.websocket_open(handshake)
        if compression is not None and events.wants("websocket_compression"):
            agreed = negotiate(extensions, compression)
            if agreed is not None:
                events.websocket_compression(
                    agreed.client_max_window_bits,
                    agreed.server_max_window_bits,
                    agreed.client_no_context_takeover,
                    agreed.server_no_context_takeover,
                )
        if events.wants("websocket_negotiated"):
            events.websocket_negotiated(result.subprotocol, list(extensions), engine.name)
        config = self.client.config
        return WebSocket(
            session,
            handshake,
            result.subprotocol,
            extensions,
            engine.name,
            runtime=runtime,
            json_dumps=config.json_dumps,
            json_loads=config.json_loads,
        )

    @contextlib.asynccontextmanager
    async def connect(self) -> AsyncIterator[WebSocket]:
        """``async with call.connect() as ws``: execute, then close with 1000 on exit."""
        ws = await self.execute()
        try:
            yield ws
        finally:
            with anyio.CancelScope(shield=True):
                await ws.close()


async def _read_preview(response: Response) -> bytes:
    """At most 64 KiB of a rejection's body: enough to explain, bounded for safety."""
    chunks: list[bytes] = []
    size = 0
    with contextlib.suppress(Exception):
        # Closed here when the preview stops early: left to the garbage
        # collector, the generator would be finalized at some later point
        # (trio reports it as abandoned).
        async with contextlib.aclosing(response.aiter_bytes()) as body:
            async for chunk in body:
                chunks.append(chunk)
                size += len(chunk)
                if size >= BODY_PREVIEW_LIMIT:
                    break
    await _discard(response)
    return b"".join(chunks)[:BODY_PREVIEW_LIMIT]


async def _discard(response: Response) -> None:
    with anyio.CancelScope(shield=True):
        with contextlib.suppress(Exception):
            await response.aclose()
        if response.upgraded is not None:
            with contextlib.suppress(Exception):
                await response.upgraded.aclose()
