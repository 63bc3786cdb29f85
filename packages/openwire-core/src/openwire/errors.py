"""Every error openwire raises, in one tree.

Users catch by meaning, not by the library underneath: httpcore, anyio, ssl and
engine exceptions are translated at the edge and never leak. Each message says
what happened, what was expected, and what to do::

    OpenWireError
    ├── RequestError                 an HTTP call failed (carries .request)
    │   ├── ConnectError             TCP connect or DNS failed
    │   ├── ProxyError               the proxy refused or broke the tunnel
    │   │   └── ProxyAuthError       the proxy refused our credentials (.status / .socks_reply)
    │   ├── TLSError                 certificate or TLS negotiation failed
    │   ├── HTTPProtocolError        the server broke HTTP/1.1 or HTTP/2
    │   │   └── HeadTooLarge         a response head over a limit (.limit, .maximum)
    │   ├── ReadError / WriteError   the connection broke mid-exchange
    │   │   └── HTTP2StreamError     an HTTP/2 stream reset, or an error GOAWAY, before
    │   │                            the answer (.error_code, .error_name, .retryable)
    │   ├── TooManyRedirects         more hops than max_redirects
    │   ├── RedirectRefused          e.g. https → http without permission
    │   ├── DecodingError            gzip/deflate body could not be decoded
    │   ├── HTTPStatusError          raise_for_status() on a 4xx/5xx (.response)
    │   └── TimeoutError             (.phase: connect/read/write/pool/call/handshake;
    │       │                        also the built-in TimeoutError, see below)
    │       ├── ConnectTimeout, ReadTimeout, WriteTimeout, PoolTimeout
    │       ├── CallTimeout          the whole-call deadline passed
    │       └── HandshakeTimeout     the WebSocket opening handshake took too long
    │                                (also a WebSocketError)
    ├── WebSocketError
    │   ├── HandshakeTimeout         (see above)
    │   ├── HandshakeError           the server did not accept the upgrade (RFC 6455 §4.1)
    │   │   ├── UnexpectedStatus     not 101 (.status, .headers, .body)
    │   │   │   └── AuthenticationFailed  401, 403 or 407: credentials missing or refused
    │   │   ├── InvalidHandshakeHead the answer's head is malformed or over a limit
    │   │   │                        (.limit, .maximum; also an HTTPProtocolError)
    │   │   ├── InvalidUpgrade       Upgrade is not "websocket"
    │   │   ├── InvalidConnection    Connection lacks "upgrade"
    │   │   ├── InvalidAccept        Sec-WebSocket-Accept does not match the key
    │   │   ├── InvalidSubprotocol   a subprotocol that was not offered
    │   │   ├── InvalidExtension     an extension not offered, or parameters refused
    │   │   └── HTTP2Unavailable     http_version="2" and the origin cannot (.reason)
    │   ├── ProtocolError            the peer broke RFC 6455 (.close_code to send)
    │   │   └── PayloadTooBig        a frame or message over the limit (1009)
    │   ├── ConnectionClosed         the connection is closed (.code, .reason, .by_peer)
    │   │   ├── ConnectionClosedOK   closed with 1000 or 1001
    │   │   └── ConnectionClosedError  anything else, including 1006
    │   │       ├── PongTimeout      no proof of life within pong_timeout (1011)
    │   │       └── WriteStalled     the peer stopped reading what we send (1006)
    │   ├── MessageTooBig            a message to send is larger than allowed
    │   ├── ReceiveTimeout           receive(timeout=) saw no message in time (also the
    │   │                            built-in TimeoutError; the connection stays open)
    │   ├── UnexpectedMessageType    receive_text() got binary or receive_bytes() text
    │   │                            (also a TypeError; the message is in .data)
    │   └── ReconnectGaveUp          a reconnecting loop hit its give-up limit (.cause)
    └── EngineError                  engine plugins
        ├── EngineNotFound           no engine by that name (.available)
        ├── EngineUnavailable        installed, but cannot run here (e.g. trio)
        └── PluginConflict           two plugins claim the same engine name

``openwire.TimeoutError`` is also the built-in :class:`TimeoutError`, as
asyncio's, anyio's, aiohttp's and websockets' timeouts are, so ``except
TimeoutError:`` catches every openwire timeout whichever name is in scope.
The built-in is an :class:`OSError`: its ``errno``, ``strerror`` and
``filename`` are ``None``, ``str()`` is the message, and ``except OSError:``
catches openwire timeouts too (not other openwire errors).
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from openwire.http.models import Request, Response

__all__ = [
    "AuthenticationFailed",
    "CallTimeout",
    "ConnectError",
    "ConnectTimeout",
    "ConnectionClosed",
    "ConnectionClosedError",
    "ConnectionClosedOK",
    "DecodingError",
    "EngineError",
    "EngineNotFound",
    "EngineUnavailable",
    "GoAway",
    "HTTP2StreamError",
    "HTTP2Unavailable",
    "HTTPProtocolError",
    "HTTPStatusError",
    "HandshakeError",
    "HandshakeTimeout",
    "HeadTooLarge",
    "InvalidAccept",
    "InvalidConnection",
    "InvalidExtension",
    "InvalidHandshakeHead",
    "InvalidSubprotocol",
    "InvalidUpgrade",
    "MessageTooBig",
    "OpenWireError",
    "PayloadTooBig",
    "PluginConflict",
    "PongTimeout",
    "PoolTimeout",
    "ProtocolError",
    "ProxyAuthError",
    "ProxyError",
    "ReadError",
    "ReadTimeout",
    "ReceiveTimeout",
    "ReconnectGaveUp",
    "RedirectRefused",
    "RequestError",
    "StreamReset",
    "TLSError",
    "TimeoutError",
    "TooManyRedirects",
    "UnexpectedMessageType",
    "UnexpectedStatus",
    "WebSocketError",
    "WriteError",
    "WriteStalled",
    "WriteTimeout",
]


class OpenWireError(Exception):
    """Root of every error openwire raises."""


class WebSocketError(OpenWireError):
    """Base class for WebSocket errors."""


# --------------------------------------------------------------------------- HTTP


class RequestError(OpenWireError):
    """An HTTP call failed before a usable response arrived."""

    def __init__(self, message: str, *, request: Request | None = None) -> None:
        super().__init__(message)
        self.request = request


class ConnectError(RequestError):
    """DNS resolution or the TCP connect failed."""


class ProxyError(RequestError):
    """The proxy refused the request or broke the tunnel."""


class ProxyAuthError(ProxyError):
    """The proxy refused the credentials it was given, or wants some and got none.

    Distinct from a proxy that is down or broken: the remedy is new
    credentials (``proxy_authenticator``, or the user and password in the
    proxy URL), not a retry. ``status`` is the HTTP proxy's answer (``407``,
    or another 4xx some proxies send to ``CONNECT``), ``socks_reply`` the
    SOCKS5 server's RFC 1929 status byte; the other one is ``None``.
    """

    def __init__(
        self,
        message: str,
        *,
        request: Request | None = None,
        status: int | None = None,
        socks_reply: int | None = None,
    ) -> None:
        super().__init__(message, request=request)
        self.status = status
        self.socks_reply = socks_reply


class TLSError(RequestError):
    """TLS negotiation or certificate verification failed."""


class HTTPProtocolError(RequestError):
    """The server sent something that is not valid HTTP."""


class HeadTooLarge(HTTPProtocolError):
    """A response head went over one of the limits openwire reads heads with.

    ``limit`` names which one (``"line"``: 8 KiB per line, ``"fields"``: 128
    field lines, ``"head"``: 64 KiB per head, ``"interim"``: 8 interim 1xx
    heads) and ``maximum`` its value; both are documented in
    :mod:`openwire.protocol.http11`. Not configurable: no legitimate server
    needs more, and a hostile one must not make the client buffer more.
    """

    def __init__(
        self,
        message: str,
        *,
        request: Request | None = None,
        limit: str | None = None,
        maximum: int | None = None,
    ) -> None:
        super().__init__(message, request=request)
        self.limit = limit
        self.maximum = maximum


class ReadError(RequestError):
    """The connection broke while reading the response."""


class WriteError(RequestError):
    """The connection broke while sending the request."""


_H2_ERRORS = (
    "NO_ERROR",
    "PROTOCOL_ERROR",
    "INTERNAL_ERROR",
    "FLOW_CONTROL_ERROR",
    "SETTINGS_TIMEOUT",
    "STREAM_CLOSED",
    "FRAME_SIZE_ERROR",
    "REFUSED_STREAM",
    "CANCEL",
    "COMPRESSION_ERROR",
    "CONNECT_ERROR",
    "ENHANCE_YOUR_CALM",
    "INADEQUATE_SECURITY",
    "HTTP_1_1_REQUIRED",
)


def h2_error_name(code: int) -> str:
    """The name of an HTTP/2 error code (RFC 9113 §7); unknown codes as hex."""
    return _H2_ERRORS[code] if 0 <= code < len(_H2_ERRORS) else f"0x{code:x}"


class HTTP2StreamError(ReadError):
    """The HTTP/2 stream of a call ended before its answer was complete.

    The server reset the stream (``RST_STREAM``) or ended the whole
    connection with an error ``GOAWAY``. ``error_code`` is the HTTP/2 error
    code (RFC 9113 §7) and ``error_name`` its name; ``goaway`` tells the two
    apart. ``retryable`` is true when the server says it did not process the
    request (``REFUSED_STREAM``, or a stream above a graceful GOAWAY's last
    stream id), so sending it again is safe.
    """

    def __init__(
        self,
        error_code: int,
        message: str,
        *,
        retry: bool = False,
        goaway: bool = False,
        request: Request | None = None,
    ) -> None:
        super().__init__(message, request=request)
        self.error_code = error_code
        self.error_name = h2_error_name(error_code)
        self.retryable = retry
        self.goaway = goaway


class TooManyRedirects(RequestError):
    """More redirects than ``max_redirects`` were followed."""


class RedirectRefused(RequestError):
    """A redirect was not followed because it is unsafe (e.g. https → http)."""


class DecodingError(RequestError):
    """The response body's Content-Encoding could not be decoded."""


class HTTPStatusError(RequestError):
    """:meth:`Response.raise_for_status() <openwire.Response.raise_for_status>` met a 4xx or 5xx.

    ``response`` is that response (its status, headers and, unless already
    read or closed, its body); ``request`` the request that got it, the last
    hop's after redirects. The message names the method, the URL and the status.
    """

    response: Response

    def __init__(
        self, message: str, *, request: Request | None = None, response: Response | None = None
    ) -> None:
        super().__init__(message, request=request)
        # Optional only so copy.copy() can rebuild it from the message (the
        # attributes follow); raise_for_status() always passes the response.
        if response is not None:
            self.response = response


class TimeoutError(RequestError, builtins.TimeoutError):
    """A deadline passed; ``phase`` names which one.

    Also the built-in :class:`TimeoutError` (an :class:`OSError`), so code
    written for asyncio or anyio timeouts (``except TimeoutError:``) catches
    openwire's without importing them. The message is the only argument,
    so ``errno`` and ``strerror`` are ``None`` and ``str()`` is the message;
    pickling and copying keep ``request`` (see :class:`RequestError`).
    """

    phase: str = "call"


class ConnectTimeout(TimeoutError):
    """No connection (TCP and, for https, TLS) within ``Timeouts.connect``."""

    phase = "connect"


class ReadTimeout(TimeoutError):
    """The peer sent nothing for ``Timeouts.read`` while a response was awaited."""

    phase = "read"


class WriteTimeout(TimeoutError):
    """The request could not be written within ``Timeouts.write`` (the peer stopped reading)."""

    phase = "write"


class PoolTimeout(TimeoutError):
    """No connection became free within ``Timeouts.pool`` (see ``Limits``)."""

    phase = "pool"


class CallTimeout(TimeoutError):
    """The whole call, redirects and retries included, outlasted ``Timeouts.call``."""

    phase = "call"


class HandshakeTimeout(TimeoutError, WebSocketError):
    """The WebSocket opening handshake did not complete within ``handshake_timeout``.

    A :class:`TimeoutError` (it carries ``.request``) and, because opening
    the WebSocket is what failed, a :class:`WebSocketError`.
    """

    phase = "handshake"


# ---------------------------------------------------------------------- WebSocket


class HandshakeError(WebSocketError):
    """The server did not complete the opening handshake (RFC 6455 §4.1)."""


class UnexpectedStatus(HandshakeError):
    """The server answered the upgrade with a status other than 101.

    ``body`` holds at most the first 64 KiB, enough to read an error page
    without letting a hostile server fill memory.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        headers: Sequence[tuple[str, str]] = (),
        body: bytes = b"",
    ) -> None:
        super().__init__(message)
        self.status = status
        self.headers = list(headers)
        self.body = body


class AuthenticationFailed(UnexpectedStatus):
    """The server refused the handshake for want of credentials: 401, 403 or 407.

    401 (no or wrong credentials), 403 (credentials refused, or without the
    right to this resource) and 407 (a proxy wants credentials) are answers
    that the same request will get again, so a reconnecting loop raises this
    at once instead of retrying. ``reason`` is the status line's reason
    phrase and ``challenges`` the ``WWW-Authenticate`` (or, for 407,
    ``Proxy-Authenticate``) values, which say what the server accepts.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        reason: str = "",
        headers: Sequence[tuple[str, str]] = (),
        body: bytes = b"",
    ) -> None:
        super().__init__(message, status=status, headers=headers, body=body)
        self.reason = reason
        wanted = "proxy-authenticate" if status == 407 else "www-authenticate"
        self.challenges = [value for name, value in self.headers if name.lower() == wanted]


class InvalidHandshakeHead(HandshakeError, HTTPProtocolError):
    """The head of the answer to the upgrade is not one we read.

    Malformed (``limit`` is ``None``: a bad status or header line,
    ``HTTP/1.0 101``, which cannot upgrade (RFC 9110 §7.8)), or over a limit
    (``limit`` and ``maximum`` as in :class:`HeadTooLarge`). Both a
    :class:`HandshakeError`, because the handshake failed, and an
    :class:`HTTPProtocolError` carrying ``.request``, because the server
    broke HTTP/1.1 before any WebSocket rule applied.
    """

    def __init__(
        self,
        message: str,
        *,
        request: Request | None = None,
        limit: str | None = None,
        maximum: int | None = None,
    ) -> None:
        super().__init__(message, request=request)
        self.limit = limit
        self.maximum = maximum


class InvalidUpgrade(HandshakeError):
    """The 101 response's ``Upgrade`` header is not ``websocket``."""


class InvalidConnection(HandshakeError):
    """The 101 response's ``Connection`` header does not contain ``upgrade``."""


class InvalidAccept(HandshakeError):
    """``Sec-WebSocket-Accept`` does not match the key that was sent."""


class InvalidSubprotocol(HandshakeError):
    """The server chose a subprotocol that was not offered, or several."""


class InvalidExtension(HandshakeError):
    """The server accepted an extension that was not offered, or with parameters we must refuse."""


class HTTP2Unavailable(HandshakeError):
    """``http_version="2"`` was asked for and the origin cannot carry a WebSocket over HTTP/2.

    ``reason`` says why: ``"alpn"`` (the server did not select ``h2`` by
    TLS ALPN), or ``"setting"`` (its SETTINGS lack ``SETTINGS_ENABLE_CONNECT_PROTOCOL
    = 1``, RFC 8441 §3). ``http_version="auto"`` falls back to HTTP/1.1 in
    each of these cases instead.
    """

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class ProtocolError(WebSocketError):
    """The peer broke RFC 6455; the connection is failed with ``close_code``.

    Engines raise this (never their own exception types) so the core can send
    the right close code (RFC 6455 §7.4.1) before dropping the connection.
    """

    def __init__(self, message: str, *, close_code: int = 1002) -> None:
        super().__init__(message)
        self.close_code = close_code
        # Events an engine completed in the same chunk before the violation;
        # the session delivers them first, so nothing valid is lost.
        self.events: list[Any] = []

    def repeat(self) -> ProtocolError:
        """The same failure again, without its events: for an engine fed after failing."""
        if isinstance(self, PayloadTooBig):
            return PayloadTooBig(str(self))
        return ProtocolError(str(self), close_code=self.close_code)


class PayloadTooBig(ProtocolError):
    """An incoming frame or message is larger than the configured limit (1009)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, close_code=1009)


class MessageTooBig(WebSocketError, ValueError):
    """A message passed to ``send`` is larger than ``max_message_size``."""


class ReceiveTimeout(WebSocketError, builtins.TimeoutError):
    """``receive(timeout=...)`` (or a typed ``receive_*``) waited ``timeout`` seconds for nothing.

    Not a failure: the connection stays open and no message is lost (one
    arriving just after the deadline waits for the next call). A built-in
    :class:`TimeoutError`, so ``except TimeoutError`` catches it as it
    catches asyncio's and trio's timeouts; not an :class:`openwire.TimeoutError`,
    which is a :class:`RequestError`: an HTTP call that failed.
    """

    def __init__(self, message: str, *, timeout: float) -> None:
        super().__init__(message)
        self.timeout = timeout


class UnexpectedMessageType(WebSocketError, TypeError):
    """A typed receive got the other kind of message: binary for text, or text for bytes.

    The message was taken from the connection, so it travels here and
    nothing is lost: ``data`` is ``str`` for a text message and ``bytes`` for
    a binary one. ``expected`` and ``received`` are ``"text"`` or
    ``"binary"``. The connection stays open.
    """

    def __init__(self, message: str, *, data: str | bytes, expected: str) -> None:
        super().__init__(message)
        self.data = data
        self.expected = expected

    @property
    def received(self) -> str:
        """What arrived instead: ``"text"`` or ``"binary"``, for the message."""
        return "text" if isinstance(self.data, str) else "binary"


class ReconnectGaveUp(WebSocketError):
    """A reconnecting WebSocket loop stopped retrying: its give-up limit was reached.

    ``attempts`` counts the connection attempts that failed in a row (a
    connection that closed before it was stable counts as failed), ``elapsed``
    the seconds since the loop lost its last stable connection (or started),
    and ``cause`` (also ``__cause__``) is the last failure: what to look at.
    """

    def __init__(
        self, message: str, *, attempts: int, elapsed: float, cause: BaseException
    ) -> None:
        super().__init__(message)
        self.attempts = attempts
        self.elapsed = elapsed
        self.cause = cause


class ConnectionClosed(WebSocketError):
    """The WebSocket is closed; no more messages can be sent or received.

    ``code`` and ``reason`` are those of the close handshake (1006 and an
    empty reason when the TCP connection ended without one). ``by_peer`` says
    which side started the close; ``None`` when the connection was dropped.
    """

    def __init__(
        self,
        code: int,
        reason: str = "",
        *,
        by_peer: bool | None = None,
        message: str | None = None,
    ) -> None:
        self.code = code
        self.reason = reason
        self.by_peer = by_peer
        if message is None:
            who = {True: "by the peer", False: "locally", None: "abnormally"}[by_peer]
            message = f"WebSocket closed {who} with code {code}"
            if reason:
                message += f" ({reason!r})"
        super().__init__(message)


class ConnectionClosedOK(ConnectionClosed):
    """Closed normally (1000 or 1001): ``async for`` ends quietly on this."""


class ConnectionClosedError(ConnectionClosed):
    """Closed with an error code, or dropped without a close handshake (1006)."""


class StreamReset(ConnectionClosedError):
    """HTTP/2: the peer reset the WebSocket's stream (``RST_STREAM``) without a close handshake.

    ``code`` is the WebSocket close code the reset is reported as (the table
    in ``docs/http2.md``), ``error_code`` / ``error_name`` the HTTP/2 error
    code the peer sent. Other WebSockets on the same connection go on.
    """

    def __init__(self, code: int, message: str, *, error_code: int) -> None:
        super().__init__(code, "", by_peer=True, message=message)
        self.error_code = error_code
        self.error_name = h2_error_name(error_code)


class GoAway(ConnectionClosedError):
    """HTTP/2: the connection carrying the WebSocket ended with an error ``GOAWAY``.

    Every WebSocket on that connection fails with this, each once. ``code``
    follows the table in ``docs/http2.md``; ``error_code`` / ``error_name``
    are the HTTP/2 error code of the GOAWAY. A graceful GOAWAY (``NO_ERROR``)
    does not end open WebSockets.
    """

    def __init__(self, code: int, message: str, *, error_code: int) -> None:
        super().__init__(code, "", by_peer=True, message=message)
        self.error_code = error_code
        self.error_name = h2_error_name(error_code)


class PongTimeout(ConnectionClosedError):
    """No frame arrived within ``pong_timeout`` after a heartbeat ping left our write buffer.

    The connection was closed with 1011; raise ``pong_timeout`` or disable
    the heartbeat (``ping_interval=None``) if the peer is known to be slow.
    """


class WriteStalled(ConnectionClosedError):
    """Our write buffer did not move for ``pong_timeout``: the peer stopped reading.

    Raised instead of :class:`PongTimeout` when a heartbeat ping (or our
    Close) could not even leave our buffer, because not one byte of what was
    queued before it was taken by the peer. A Close frame cannot get through
    that buffer either, so none is sent: the connection is dropped and the
    code is 1006, as for any connection that ends without a close handshake
    (RFC 6455 §7.1.5). The peer (or a proxy in between) is stuck or
    overloaded; raise ``pong_timeout`` if it is known to pause its reading
    for that long.
    """


# ------------------------------------------------------------------------ Engines


class EngineError(OpenWireError):
    """Base class for engine plugin errors."""


class EngineNotFound(EngineError, LookupError):
    """No installed engine has the requested name."""

    def __init__(self, message: str, *, name: str, available: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.name = name
        self.available = list(available)


class EngineUnavailable(EngineError):
    """The engine is installed but cannot run here (e.g. asyncio-only on trio)."""


class PluginConflict(EngineError):
    """Two plugins registered an engine under the same name."""
