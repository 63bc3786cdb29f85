"""Every private name of a dependency the core relies on, in one place.

Rules of this module:

- Nothing else in ``openwire`` imports a private module or touches a private
  attribute of httpcore or anyio; what it needs is here, behind a function
  with a public-looking shape.
- Each name is used for speed, never for correctness: if an upstream release
  moves it, the import below fails softly and the callers take the public,
  slower path (:data:`FAST_ANYIO` is false).
- ``pyproject.toml`` bounds httpcore and anyio to the releases these names
  were checked against (:data:`HTTPCORE_SUPPORTED`, :data:`ANYIO_SUPPORTED`),
  and ``tests/test_compat.py`` imports every name listed in
  :data:`PRIVATE_NAMES` and checks the attributes relied on, failing with the
  package and its version when one changes. Raising a bound is a decision
  made with that test passing, not a surprise in production.

What is used, and why:

``httpcore._backends.anyio.AnyIOStream``
    httpcore's network stream over an anyio stream. The trio connect builds
    one around the socket it opened (httpcore then speaks HTTP on it), and
    after a ``101`` the trio channel reads and writes the anyio stream inside
    (``._stream``), skipping a timeout scope and an exception map per call.
``anyio._core._eventloop.get_async_backend``
    The running loop's plain ``connect_tcp``. ``anyio.connect_tcp`` runs happy
    eyeballs in a task group even for one address, about a quarter of a
    WebSocket handshake; openwire resolves and tries addresses itself.

``h2.connection.H2Connection.state_machine``
    h2 moves its whole connection state machine to CLOSED on any GOAWAY,
    graceful ones included, and then refuses every frame, even the DATA of
    the streams RFC 9113 §6.8 lets finish. :func:`h2_reopen_after_goaway`
    puts it back to CLIENT_OPEN after a graceful GOAWAY (the connection then
    starts no new stream). This one is for correctness: without it, a
    graceful GOAWAY fails the streams it should let finish, as if it were an
    error; ``H2_SUPPORTED`` bounds h2 to the releases checked.

``httpcore`` HTTP/1.1 response internals: ``PoolByteStream._stream``,
``HTTP11ConnectionByteStream._connection``, ``AsyncHTTP11Connection._h11_state``
    For correctness. httpcore keeps bytes that arrive after a complete
    response (past its ``Content-Length``) in h11's buffer and reads them as
    the start of the next response on that connection: a server that sends
    more than it announced could answer the next, unrelated request.
    RFC 9112 §6.3 forbids that; :func:`http11_connection_with_leftover`
    finds such a connection so the transport closes it instead of pooling
    it. If the names move, it returns ``None`` (the upstream behaviour) and
    ``tests/test_compat.py`` fails naming them.

One name of the standard library is also used, not for speed but for the
precision of a measure, with the same soft fallback:

``asyncio.sslproto``: an app transport's ``_ssl_protocol._transport``
    The socket transport below asyncio's TLS layer (Python 3.11+). The TLS
    layer hands all it holds to that transport whenever it is not paused,
    so what waits to be sent mostly waits there, out of sight of the TLS
    transport's ``get_write_buffer_size``; the WebSocket heartbeat adds it
    in (see ``AsyncioChannel``). uvloop's TLS transport exposes no such
    attribute: there :func:`tls_inner_transport` returns ``None`` and only
    the TLS layer's own buffer is counted. ``tests/websocket/test_heartbeat.py``
    checks that it is found on asyncio's own loop.
"""

from __future__ import annotations

from typing import Any

import anyio.abc
import h2.connection
import httpcore

__all__ = [
    "ANYIO_SUPPORTED",
    "FAST_ANYIO",
    "H2_SUPPORTED",
    "HTTPCORE_SUPPORTED",
    "PRIVATE_NAMES",
    "anyio_stream_inside",
    "connect_tcp_plain",
    "h2_reopen_after_goaway",
    "http11_connection_with_leftover",
    "httpcore_stream_over",
    "tls_inner_transport",
]

# Keep in step with packages/openwire-core/pyproject.toml.
HTTPCORE_SUPPORTED = ">=1.0.5,<1.1"
ANYIO_SUPPORTED = ">=4.4,<5"
H2_SUPPORTED = ">=4.1,<4.5"

# (distribution, module, name, attributes of it relied on)
PRIVATE_NAMES: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("httpcore", "httpcore._backends.anyio", "AnyIOStream", ("read", "write", "start_tls")),
    ("anyio", "anyio._core._eventloop", "get_async_backend", ()),
    ("h2", "h2.connection", "ConnectionState", ("CLOSED", "CLIENT_OPEN")),
    ("httpcore", "httpcore._async.http11", "HTTP11ConnectionByteStream", ("aclose",)),
    ("httpcore", "httpcore._async.http11", "AsyncHTTP11Connection", ("aclose",)),
)

try:
    from anyio._core._eventloop import get_async_backend as _get_async_backend
    from httpcore._backends.anyio import AnyIOStream as _AnyIOStream
except ImportError:  # pragma: no cover - tests/test_compat.py names the culprit
    FAST_ANYIO = False
else:
    FAST_ANYIO = True


def httpcore_stream_over(stream: anyio.abc.ByteStream) -> httpcore.AsyncNetworkStream:
    """httpcore's own network stream over an anyio stream (only when :data:`FAST_ANYIO`)."""
    return _AnyIOStream(stream)


def anyio_stream_inside(stream: object) -> anyio.abc.ByteStream | None:
    """The anyio stream inside one of httpcore's network streams, or ``None``.

    ``None`` for anything else (openwire's asyncio stream, a test's fake), and
    when the private name is gone: callers then use the stream as it is.
    """
    if FAST_ANYIO and isinstance(stream, _AnyIOStream):
        return stream._stream
    return None


async def connect_tcp_plain(host: str, port: int) -> anyio.abc.SocketStream:
    """The running loop's own TCP connect to one address (only when :data:`FAST_ANYIO`)."""
    return await _get_async_backend().connect_tcp(host, port, None)


def shrink_tls_read_buffer(transport: object, size: int) -> bool:
    """Give asyncio's TLS protocol a ``size``-byte read buffer instead of 256 KiB.

    ``asyncio.sslproto.SSLProtocol`` allocates (and zero-fills, so it is
    resident) a ``max_size`` = 256 KiB receive buffer per connection, most
    of an idle ``wss`` connection's memory. Its ``get_buffer`` hands out at
    most ``max_size`` bytes and grows the buffer when it is smaller, so an
    instance attribute plus a smaller buffer is all it takes; a read then
    takes at most ``size`` bytes per ``recv`` (TLS records are ≤ 16 KiB
    anyway). uvloop's protocol is compiled and keeps its own; ``False``
    when the private names are not there.
    """
    protocol = getattr(transport, "_ssl_protocol", None)
    if protocol is None or not isinstance(getattr(protocol, "_ssl_buffer", None), bytearray):
        return False
    try:
        protocol.max_size = size
        protocol._ssl_buffer = bytearray(size)
        protocol._ssl_buffer_view = memoryview(protocol._ssl_buffer)
    except AttributeError:  # a compiled protocol with fixed slots
        return False
    return True


def tls_inner_transport(transport: object) -> Any:
    """The socket transport below an asyncio TLS app transport, or ``None`` (see above)."""
    inner = getattr(getattr(transport, "_ssl_protocol", None), "_transport", None)
    return inner if callable(getattr(inner, "get_write_buffer_size", None)) else None


def h2_reopen_after_goaway(connection: h2.connection.H2Connection) -> None:
    """After a graceful GOAWAY, let h2 accept the frames of the streams that may finish."""
    machine = connection.state_machine
    if machine.state is h2.connection.ConnectionState.CLOSED:
        machine.state = h2.connection.ConnectionState.CLIENT_OPEN


def http11_connection_with_leftover(body: object) -> Any:
    """The HTTP/1.1 connection behind a finished response ``body``, if bytes came past its end.

    ``body`` is an ``httpcore.Response.stream`` (the pool's wrapper or the
    connection's own). ``None`` when nothing is left over, for HTTP/2, or if
    httpcore's names moved.
    """
    inner = getattr(body, "_stream", body)
    connection = getattr(inner, "_connection", None)
    state = getattr(connection, "_h11_state", None)
    trailing = getattr(state, "trailing_data", None)
    if not trailing or not trailing[0]:
        return None
    return connection
