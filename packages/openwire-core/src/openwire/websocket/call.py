"""``client.new_websocket(...)``: a prepared call that opens a WebSocket.

The opening handshake is an ordinary call through the client's stack
(application interceptors, bridge, network interceptors, proxies, TLS, pool),
marked by a :class:`~openwire.websocket.handshake.HandshakeOffer` in its
extensions so the bridge adds the handshake headers and the transport uses an
HTTP/1.1-only connection. Everything that can be refused without a network
(engine name, backend, options) is refused before connecting.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import anyio

from openwire.errors import HandshakeTimeout
from openwire.http.models import Response
from openwire.plugins.registry import registry
from openwire.websocket.connection import WebSocket
from openwire.websocket.engine import EngineSettings
from openwire.websocket.handshake import (
    BODY_PREVIEW_LIMIT,
    HandshakeOffer,
    check_status,
    validate_response,
)
from openwire.websocket.options import WebSocketOptions
from openwire.websocket.runtime import current_runtime
from openwire.websocket.session import Session
from openwire.websocket.transport import open_channel

if TYPE_CHECKING:
    import httpcore

    from openwire.client import Client
    from openwire.http.models import Request

__all__ = ["WebSocketCall", "to_http_url"]

_SCHEMES = {"ws": "http", "wss": "https", "http": "http", "https": "https"}


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


class WebSocketCall:
    """A WebSocket call, ready to :meth:`execute`. Options are frozen at creation."""

    def __init__(self, client: Client, request: Request, options: WebSocketOptions) -> None:
        if request.method.upper() != "GET":
            raise ValueError(
                f"a WebSocket handshake is a GET request (RFC 6455 §4.1), got {request.method}"
            )
        self.client = client
        self.request = request
        self.options = options

    def with_options(self, **changes: Any) -> WebSocketCall:
        return WebSocketCall(self.client, self.request, self.options.with_changes(**changes))

    async def execute(self) -> WebSocket:
        """Run the handshake and return the open :class:`WebSocket`.

        Raises :class:`~openwire.errors.HandshakeError` subclasses when the
        server does not accept the upgrade, :class:`~openwire.errors.HandshakeTimeout`
        after ``handshake_timeout``, the client's connection errors, and
        :class:`~openwire.errors.EngineNotFound` /
        :class:`~openwire.errors.EngineUnavailable` before connecting.
        """
        options = self.options
        runtime = current_runtime()
        info = registry.resolve(
            options.engine, self.client.config.websocket_engine, runtime.backend
        )
        engine = info.engine
        deflate = "permessage-deflate" in engine.capabilities.extensions
        compression = options.compression if deflate else None
        offer = HandshakeOffer(options.subprotocols, tuple(engine.extension_offers(compression)))
        request = self.request.replace(
            extensions={**self.request.extensions, "openwire.websocket": offer}
        )
        events = self.client.new_listener()
        events.emit("call_start", request)
        response: Response | None = None
        owned: httpcore.AsyncNetworkStream | None = None
        try:
            try:
                async with runtime.fail_after(options.handshake_timeout):
                    response = await self.client._send(request, events)
                    if response.status != 101:
                        body = await _read_preview(response)
                        check_status(response, body)
                    result = validate_response(response, offer)
                    extensions = engine.accept_extensions(result.extensions)
            except TimeoutError:
                raise HandshakeTimeout(
                    f"the WebSocket handshake with {request.url} did not complete within "
                    f"handshake_timeout={options.handshake_timeout}s (DNS, connect, TLS and "
                    "the HTTP exchange together); check the server or raise the timeout",
                    request=request,
                ) from None
            stream = response.extensions["network_stream"]
            leading = b""
            if hasattr(stream, "detach"):
                # The WebSocket owns the socket now; the pool forgets the connection.
                leading, stream = await stream.detach()
            owned = stream
            conn = engine.connect(
                EngineSettings(
                    max_frame_size=options.max_frame_size,
                    max_message_size=options.max_message_size,
                    subprotocol=result.subprotocol,
                    extensions=tuple(extensions),
                )
            )
        except BaseException as exc:
            # Every path out of here releases the socket: nobody else owns it yet.
            if owned is not None:
                with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
                    await owned.aclose()
            elif response is not None:
                await _discard(response)
            events.emit("call_failed", request, exc)
            raise
        events.emit("call_end", request)
        handshake = Response(
            response.status,
            headers=response.headers,
            request=response.request,
            http_version=response.http_version,
            reason=response.reason,
        )
        session = Session(conn, options, events, runtime, engine.name)
        channel = open_channel(
            session,
            stream,
            runtime,
            leading=leading,
            max_messages=options.send_queue_size,
            max_bytes=options.send_queue_bytes,
        )
        session.attach(channel)
        events.emit("websocket_open", handshake)
        return WebSocket(session, handshake, result.subprotocol, extensions, engine.name)

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
        stream = response.extensions.get("network_stream")
        if stream is not None and response.status == 101:
            with contextlib.suppress(Exception):
                await stream.aclose()
