"""Translating httpcore, anyio and ssl exceptions into the openwire tree.

This is the only place that knows httpcore's exception types; everything
above the transport catches openwire errors. Messages name the request and
suggest the next step, because "ReadError" alone helps nobody.

Errors are chosen by type, never by the wording of a message. The one case
httpcore gives no type for, a server that closes the connection before
sending a response (the usual stale keep-alive connection, retried as a
:class:`~openwire.ReadError`), is recognised by where it is raised (see
:func:`_disconnected_before_response`); openwire's own raise sites raise
:class:`ServerDisconnected`.
"""

from __future__ import annotations

import ssl

import h11
import httpcore

from openwire.errors import (
    ConnectError,
    ConnectTimeout,
    HeadTooLarge,
    HTTPProtocolError,
    InvalidHandshakeHead,
    PoolTimeout,
    ProxyError,
    ReadError,
    ReadTimeout,
    RequestError,
    TLSError,
    WriteError,
    WriteTimeout,
)
from openwire.http.models import Request
from openwire.protocol.http11 import HeadRefused, InvalidRequestHead

__all__ = ["ServerDisconnected", "translate"]


class ServerDisconnected(httpcore.RemoteProtocolError):
    """The server closed the connection before sending any byte of a response.

    Raised by openwire's own connections (the upgrade connector) where
    httpcore's pool would raise its own ``RemoteProtocolError``, so both are
    translated alike: a :class:`~openwire.ReadError`, which the follow-ups
    may retry.
    """

    def __init__(self) -> None:
        super().__init__("the server closed the connection without sending a response")


_HTTPCORE_HTTP11 = "httpcore._async.http11"


def _disconnected_before_response(exc: BaseException) -> bool:
    """Whether ``exc`` says the server closed the connection before any response byte.

    httpcore's HTTP/1.1 connection raises a bare ``RemoteProtocolError`` for
    exactly that (``_receive_event``, when a read returns nothing while the
    response is awaited); every other ``RemoteProtocolError`` it raises is an
    h11 error re-raised with ``from``. So the raise site is recognised by its
    shape: that exact type, no cause, raised in that module.
    ``tests/http/test_failures.py`` pins it against the installed httpcore.
    """
    if isinstance(exc, ServerDisconnected):
        return True
    if type(exc) is not httpcore.RemoteProtocolError or exc.__cause__ is not None:
        return False
    tb = exc.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    return tb.tb_frame.f_globals.get("__name__") == _HTTPCORE_HTTP11


def _ssl_cause(exc: BaseException) -> ssl.SSLError | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def translate(
    exc: BaseException, request: Request, *, tls_failed: bool = False, proxy: str | None = None
) -> RequestError:
    """The openwire error for ``exc``; openwire errors pass through unchanged.

    Errors raised below the transport without a request (a proxy tunnel's
    :class:`~openwire.ProxyAuthError`, raised inside httpcore's pool) get
    this one, so the caller always learns which call failed.
    """
    if isinstance(exc, RequestError):
        if exc.request is None:
            exc.request = request
        return exc
    where = f"{request.method} {request.url}"
    host = f"{request.url.host}:{request.url.port}"
    detail = str(exc) or type(exc).__name__
    via = f" via proxy {proxy}" if proxy else ""

    if isinstance(exc, httpcore.ConnectTimeout):
        return ConnectTimeout(
            f"connecting to {host}{via} timed out ({detail}) for {where}; check the host is "
            "reachable, or raise Timeouts.connect",
            request=request,
        )
    if isinstance(exc, httpcore.ReadTimeout):
        return ReadTimeout(
            f"the server did not send data in time for {where}; raise Timeouts.read "
            "if it is known to be slow",
            request=request,
        )
    if isinstance(exc, httpcore.WriteTimeout):
        return WriteTimeout(
            f"sending {where} stalled; the server is not reading. Raise Timeouts.write "
            "if it is known to be slow",
            request=request,
        )
    if isinstance(exc, httpcore.PoolTimeout):
        return PoolTimeout(
            f"no free connection for {where} within Timeouts.pool; close responses you do "
            "not read, or raise Limits.max_connections",
            request=request,
        )
    if isinstance(exc, httpcore.ProxyError):
        return ProxyError(
            f"the proxy{via} refused {where}: {detail}; check the proxy URL and credentials",
            request=request,
        )
    cause = _ssl_cause(exc)
    if tls_failed or cause is not None:
        reason = str(cause) if cause is not None else detail
        hint = (
            "pass verify=<CA bundle> or an ssl.SSLContext that trusts the server's issuer"
            if isinstance(cause, ssl.SSLCertVerificationError)
            else "check that the server speaks TLS on this port"
        )
        return TLSError(f"TLS with {host} failed for {where}: {reason}; {hint}", request=request)
    if isinstance(exc, httpcore.UnsupportedProtocol):
        return ConnectError(
            f"cannot send {where}: {detail}; only http and https URLs are supported",
            request=request,
        )
    if isinstance(exc, httpcore.ConnectError):
        return ConnectError(
            f"could not connect to {host}{via} for {where}: {detail}; check the host name, "
            "that the server is listening, and any proxy settings",
            request=request,
        )
    if isinstance(exc, HeadRefused):
        return _head_refused(exc, request, where, detail)
    if isinstance(exc, httpcore.RemoteProtocolError):
        if _disconnected_before_response(exc):
            # The usual stale keep-alive case: a connection failure, not bad HTTP.
            return ReadError(
                f"the server closed the connection before responding to {where}",
                request=request,
            )
        return HTTPProtocolError(
            f"the server broke the HTTP protocol answering {where}: {detail}",
            request=request,
        )
    # h11's own type escapes httpcore while a body is being sent (a streamed
    # body shorter or longer than its Content-Length).
    if isinstance(exc, httpcore.LocalProtocolError | h11.LocalProtocolError | InvalidRequestHead):
        return HTTPProtocolError(
            f"{where} cannot be sent as valid HTTP: {detail}; check header names and values, "
            "and that a body's length matches its Content-Length",
            request=request,
        )
    if isinstance(exc, httpcore.WriteError):
        return WriteError(f"the connection broke while sending {where}: {detail}", request=request)
    if isinstance(exc, httpcore.ReadError | httpcore.NetworkError | OSError):
        return ReadError(
            f"the connection broke while receiving the response to {where}: {detail}",
            request=request,
        )
    return RequestError(f"{where} failed: {type(exc).__name__}: {detail}", request=request)


def _head_refused(exc: HeadRefused, request: Request, where: str, detail: str) -> RequestError:
    """A head the reader refused: a handshake error for upgrades, else an HTTP error."""
    limit, maximum = exc.limit, exc.maximum
    hint = (
        "the server (or something on the way) is broken or hostile; openwire reads no larger heads"
        if limit is not None
        else "the server does not speak HTTP/1.1 correctly"
    )
    message = f"the server broke the HTTP protocol answering {where}: {detail}; {hint}"
    if request.is_websocket:
        return InvalidHandshakeHead(message, request=request, limit=limit, maximum=maximum)
    if limit is not None:
        return HeadTooLarge(message, request=request, limit=limit, maximum=maximum)
    return HTTPProtocolError(message, request=request)
