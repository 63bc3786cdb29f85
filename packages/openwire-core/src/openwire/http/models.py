"""Request and Response: plain values the whole call stack passes around.

A :class:`Response` body is a stream. Nothing is buffered unless asked
(``aread()``), so a large download or a WebSocket handshake never sits in
memory, and closing an unread response is cheap: the transport decides whether
the connection can go back to the pool.
"""

from __future__ import annotations

import codecs
import json as jsonlib
import logging
import re
import weakref
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Callable
from http import HTTPStatus
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Protocol

from openwire.errors import HTTPStatusError
from openwire.http.headers import Headers, HeadersInput
from openwire.http.url import URL

if TYPE_CHECKING:
    from openwire.io.handover import Upgraded

__all__ = [
    "CREDENTIAL_HEADERS",
    "URL",
    "Headers",
    "Request",
    "RequestTimeouts",
    "Response",
    "WebSocketOffer",
]

# RFC 9110 §9.1: method = token. The common ones skip the pattern.
_COMMON_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})
_METHOD = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")

_log = logging.getLogger("openwire.http")

Content = bytes | str | AsyncIterable[bytes]
CloseHook = Callable[[BaseException | None], None]

IDEMPOTENT_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})

CREDENTIAL_HEADERS: Final = frozenset({"authorization", "cookie", "proxy-authorization"})
"""Headers that speak for the caller: meant for one origin (or one proxy), never another.

``Proxy-Authorization`` is among them because without a proxy, or inside a
CONNECT tunnel, it reaches the origin server like any other header (urllib3
CVE-2024-37891).
"""


class WebSocketOffer(Protocol):
    """What a request must carry to be a WebSocket opening handshake (RFC 6455 §4.1).

    The WebSocket call puts one in :attr:`Request.websocket`; the bridge sends
    its :meth:`headers` (``Upgrade``, ``Sec-WebSocket-Key``, ...) and the
    transport sends the request on an HTTP/1.1 connection of its own.
    """

    def headers(self) -> list[tuple[str, str]]:
        """The handshake's header fields, which replace any of the same name."""
        ...


class RequestTimeouts(Protocol):
    """The deadlines one request may carry instead of the client's (:class:`openwire.Timeouts`).

    Named here as a shape, because the vocabulary does not import the
    configuration; :class:`openwire.Timeouts` is the value to pass.
    """

    @property
    def connect(self) -> float | None: ...
    @property
    def read(self) -> float | None: ...
    @property
    def write(self) -> float | None: ...
    @property
    def pool(self) -> float | None: ...
    @property
    def call(self) -> float | None: ...


class _Unset:
    pass


_UNSET: Final = _Unset()


class Request:
    """One HTTP request. Mutable, but layers that change it work on a ``replace()`` copy.

    ``content`` is ``bytes`` (replayable: redirects with 307/308 and retries
    may send it again) or an async iterable of ``bytes`` (streamed once, sent
    chunked unless a Content-Length is set). ``extensions`` carries the
    application's own per-request values for its interceptors; openwire's
    layers pass nothing through it.

    ``websocket`` is the :class:`WebSocketOffer` of an opening handshake, set
    by the WebSocket call; ``None`` (default) for every other request.

    ``timeouts`` (an :class:`openwire.Timeouts`) replaces the client's
    deadlines for this request only: the transport's connect/read/write/pool
    and the whole-call deadline; ``None`` (default) keeps the client's.

    ``url`` stays as the caller wrote it, ``ws://`` and ``wss://`` included:
    errors, events and interceptors show that URL, and the transport dials
    :attr:`URL.wire_scheme <openwire.URL.wire_scheme>` (RFC 6455 §3: ``ws``
    is ``http`` on the wire, ``wss`` is ``https``).

    ``default_credentials`` (default ``True``) lets the bridge add the
    :data:`CREDENTIAL_HEADERS` among the client's default headers
    (``Client(headers=...)``). The follow-ups clear it, with
    :meth:`without_credentials`, once a redirect leaves the call's origin, so
    a client-wide ``Authorization`` or ``Cookie`` never reaches a server it was
    not meant for; a caller may clear it to keep client-wide credentials off
    one request. Cookies from the cookie jar are not affected: the jar applies
    its own domain and path rules.
    """

    __slots__ = (
        "content",
        "default_credentials",
        "extensions",
        "headers",
        "method",
        "timeouts",
        "url",
        "websocket",
    )

    def __init__(
        self,
        method: str,
        url: str | URL,
        *,
        headers: HeadersInput | None = None,
        content: Content | None = None,
        extensions: dict[str, Any] | None = None,
        default_credentials: bool = True,
        websocket: WebSocketOffer | None = None,
        timeouts: RequestTimeouts | None = None,
    ) -> None:
        self.method = method.upper()
        if self.method not in _COMMON_METHODS and not _METHOD.fullmatch(self.method):
            raise ValueError(
                f"{method!r} is not an HTTP method: a method is a token (RFC 9110 §9.1), "
                "letters and a few symbols, no spaces"
            )
        self.url = url if isinstance(url, URL) else URL(url)
        self.headers = Headers(headers)
        self.content: bytes | AsyncIterable[bytes] | None = (
            content.encode("utf-8") if isinstance(content, str) else content
        )
        self.extensions: dict[str, Any] = dict(extensions or {})
        self.default_credentials = default_credentials
        self.websocket = websocket
        self.timeouts = timeouts

    @property
    def is_replayable(self) -> bool:
        """Whether the body can be sent again (a redirect or a retry needs that)."""
        return self.content is None or isinstance(self.content, bytes)

    @property
    def is_idempotent(self) -> bool:
        """Whether the method is idempotent (RFC 9110 §9.2.2): only then is a lost call retried."""
        return self.method in IDEMPOTENT_METHODS

    @property
    def is_websocket(self) -> bool:
        """Whether this is a WebSocket opening handshake (it carries a :attr:`websocket` offer)."""
        return self.websocket is not None

    def replace(
        self,
        *,
        method: str | _Unset = _UNSET,
        url: str | URL | _Unset = _UNSET,
        headers: HeadersInput | _Unset | None = _UNSET,
        content: Content | _Unset | None = _UNSET,
        extensions: dict[str, Any] | _Unset = _UNSET,
        default_credentials: bool | _Unset = _UNSET,
        websocket: WebSocketOffer | _Unset | None = _UNSET,
        timeouts: RequestTimeouts | _Unset | None = _UNSET,
    ) -> Request:
        """A copy with some fields changed; headers and extensions are copied, never shared."""
        copy = self._copy(self.headers.copy() if isinstance(headers, _Unset) else Headers(headers))
        if not isinstance(method, _Unset):
            copy.method = method.upper()
        if not isinstance(url, _Unset):
            copy.url = url if isinstance(url, URL) else URL(url)
        if not isinstance(content, _Unset):
            copy.content = content.encode("utf-8") if isinstance(content, str) else content
        if not isinstance(extensions, _Unset):
            copy.extensions = dict(extensions or {})
        if not isinstance(default_credentials, _Unset):
            copy.default_credentials = default_credentials
        if not isinstance(websocket, _Unset):
            copy.websocket = websocket
        if not isinstance(timeouts, _Unset):
            copy.timeouts = timeouts
        return copy

    def _copy(self, headers: Headers) -> Request:
        """This request with ``headers`` itself (not copied again); extensions copied.

        :meth:`replace` without the keyword handling, for a layer that built
        the headers of the copy itself (the bridge, once per attempt).
        """
        copy = Request.__new__(Request)
        copy.method = self.method
        copy.url = self.url
        copy.headers = headers
        copy.content = self.content
        copy.extensions = dict(self.extensions) if self.extensions else {}
        copy.default_credentials = self.default_credentials
        copy.websocket = self.websocket
        copy.timeouts = self.timeouts
        return copy

    def without_credentials(self) -> Request:
        """A copy fit for an origin the credentials were not meant for.

        It carries none of the :data:`CREDENTIAL_HEADERS`, and the bridge will
        not add them back from the client's defaults.
        """
        headers = self.headers.copy()
        for name in CREDENTIAL_HEADERS:
            headers.remove(name)
        return self.replace(headers=headers, default_credentials=False)

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.url}>"


class _CloseHooks:
    """Runs once, on close or on garbage collection; holds no reference to the response."""

    __slots__ = ("fired", "hooks")

    def __init__(self) -> None:
        self.hooks: list[CloseHook] = []
        self.fired = False

    def fire(self, error: BaseException | None) -> None:
        if self.fired:
            return
        self.fired = True
        for hook in self.hooks:
            try:
                hook(error)
            except Exception:
                _log.exception("response close hook raised")

    def abandoned(self) -> None:
        if not self.fired:
            _log.warning(
                "a Response was garbage-collected without being closed; its connection "
                "could not return to the pool. Use 'async with response' or aclose()."
            )
            self.fire(None)


class Response:
    """An HTTP response whose body streams on demand.

    Read it with ``aread()``, ``aiter_bytes()``, ``text()`` or ``json()``, or
    leave it unread and ``aclose()`` it (or use ``async with response``); a
    fully read body closes itself. Interceptors may build one directly:
    ``Response(200, headers={...}, content=b"...", request=request)``.

    ``upgraded`` is set only on the ``101`` that answers a WebSocket
    handshake: the connection (:class:`~openwire.io.handover.Upgraded`),
    left open when the response is closed, for the WebSocket to
    ``detach()``; ``None`` on every other response.

    ``history`` lists the redirect responses the call followed to get here,
    oldest first (their bodies already closed: read the status and headers);
    empty when there was no redirect. :attr:`url` is where the call landed.
    """

    def __init__(
        self,
        status: int,
        *,
        headers: HeadersInput | None = None,
        content: Content | None = None,
        request: Request | None = None,
        http_version: str = "HTTP/1.1",
        reason: str | None = None,
        extensions: dict[str, Any] | None = None,
        upgraded: Upgraded | None = None,
    ) -> None:
        self.status = status
        self.headers = Headers(headers)
        self.request = request
        self.http_version = http_version
        self.reason = reason if reason is not None else _default_reason(status)
        self.extensions: dict[str, Any] = dict(extensions or {})
        self.upgraded = upgraded
        self.history: list[Response] = []
        self._content: bytes | None = None
        self._stream: AsyncIterable[bytes] | None = None
        if content is None:
            self._content = b""
        elif isinstance(content, str):
            self._content = content.encode("utf-8")
        elif isinstance(content, bytes):
            self._content = content
        else:
            self._stream = content
        self._iterator: AsyncIterator[bytes] | None = None
        self._consumed = False
        self._closed = False
        self._hooks = _CloseHooks()
        self._finalizer: weakref.finalize[Any, Any] | None = None

    # -- state ---------------------------------------------------------------
    @property
    def is_success(self) -> bool:
        """A 2xx."""
        return 200 <= self.status < 300

    @property
    def is_redirect(self) -> bool:
        """A 301, 302, 303, 307 or 308 with a ``Location``: one that could be followed."""
        return self.status in (301, 302, 303, 307, 308) and "location" in self.headers

    @property
    def is_closed(self) -> bool:
        """Whether the body is released (read to the end, closed, or failed)."""
        return self._closed

    @property
    def is_error(self) -> bool:
        """A 4xx or 5xx: what :meth:`raise_for_status` raises for."""
        return 400 <= self.status < 600

    @property
    def url(self) -> URL:
        """The URL that answered: after redirects, the last hop's (``history`` has the others).

        A ``ws://`` or ``wss://`` URL stays one. A :class:`RuntimeError` for a
        response built without a request and never passed through a chain.
        """
        if self.request is None:
            raise RuntimeError(
                "this Response has no request, so no URL; pass request= when building it"
            )
        return self.request.url

    def raise_for_status(self) -> Response:
        """Raise :class:`~openwire.HTTPStatusError` for a 4xx or 5xx; return the response otherwise.

        Like requests and aiohttp (and unlike httpx), a 1xx or 3xx is not an
        error: a 3xx reaches the application only when it did not follow it
        (``follow_redirects=False``, or a ``Location`` openwire may not
        follow), so it is the answer asked for. The error carries
        ``.response`` and ``.request``; a streamed body is left open for the
        caller to read or close (``async with`` does it).
        """
        if not self.is_error:
            return self
        kind = "client error" if self.status < 500 else "server error"
        request = self.request
        what = f"{request.method} {request.url}" if request is not None else "the request"
        raise HTTPStatusError(
            f"{what} answered {self.status} {self.reason} ({kind}); read "
            "error.response for the server's explanation, or check the status "
            "before calling raise_for_status() if this answer is expected",
            request=request,
            response=self,
        )

    @property
    def content(self) -> bytes:
        """The whole body, once ``aread()`` has run."""
        if self._content is None:
            raise RuntimeError("the body has not been read; call 'await response.aread()' first")
        return self._content

    @property
    def encoding(self) -> str:
        """The Content-Type charset if it names a known codec, else UTF-8."""
        ctype = self.headers.get("content-type", "")
        for param in ctype.split(";")[1:]:
            key, _, value = param.strip().partition("=")
            if key.lower() == "charset" and value:
                name = value.strip("\"' ")
                try:
                    return codecs.lookup(name).name
                except LookupError:
                    break
        return "utf-8"

    def on_close(self, hook: CloseHook) -> None:
        """Run ``hook(error)`` exactly once: when the body ends, fails, is closed, or is lost.

        ``error`` is the exception that ended reading, else ``None``. The
        client uses this for ``call_end``/``call_failed``.
        """
        if self._hooks.fired:
            hook(None)
            return
        self._hooks.hooks.append(hook)
        if self._finalizer is None:
            self._finalizer = weakref.finalize(self, self._hooks.abandoned)

    # -- body ----------------------------------------------------------------
    def body_stream(self) -> AsyncIterable[bytes]:
        """The body source as given, for layers that wrap it (e.g. decoding).

        Whoever takes it owns it: iterate it once and ``aclose`` it if it has
        that method.
        """
        if self._stream is not None:
            return self._stream
        return _BytesStream(self._content or b"")

    async def aiter_bytes(self) -> AsyncGenerator[bytes, None]:
        """Yield the body as it arrives (decoded, when the client asked for gzip/deflate)."""
        if self._content is not None:
            if self._content:
                yield self._content
            await self.aclose()
            return
        if self._consumed:
            raise RuntimeError("the body stream was already consumed")
        if self._closed:
            raise RuntimeError("the response is closed; its body can no longer be read")
        self._consumed = True
        assert self._stream is not None
        self._iterator = aiter(self._stream)
        try:
            while True:
                try:
                    chunk = await anext(self._iterator)
                except StopAsyncIteration:
                    break
                if chunk:
                    yield chunk
        except GeneratorExit:
            raise
        except BaseException as exc:
            await self._finish(exc)
            raise
        await self._finish(None)

    async def aread(self) -> bytes:
        """Read the whole body once (later calls return the same bytes); frees the connection."""
        if self._content is None:
            self._content = b"".join([chunk async for chunk in self.aiter_bytes()])
        else:
            await self.aclose()
        return self._content

    async def text(self) -> str:
        """The body decoded with the response's charset (else UTF-8); bad bytes become U+FFFD.

        Async, unlike httpx's ``response.text`` property: the body may still be streaming.
        """
        return (await self.aread()).decode(self.encoding, errors="replace")

    async def json(self) -> Any:
        """The body parsed as JSON: ``await response.json()``.

        Unlike httpx's ``response.json()``, this is a coroutine: the body may
        still be streaming, and it is read first (``aread()``), then parsed
        with :func:`json.loads` (``json.JSONDecodeError``, a ``ValueError``,
        for a body that is not JSON). The bytes are decoded by ``json.loads``
        itself (UTF-8/16/32, RFC 8259), not with :attr:`encoding`.
        """
        return jsonlib.loads(await self.aread())

    async def aclose(self) -> None:
        """Release the body; an unread body lets the transport decide about the connection."""
        await self._finish(None)

    async def _finish(self, error: BaseException | None) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            iterator, self._iterator = self._iterator, None
            for source in (iterator, self._stream):
                aclose = getattr(source, "aclose", None)
                if aclose is not None:
                    await aclose()
        finally:
            if self._finalizer is not None:
                self._finalizer.detach()
            self._hooks.fire(error)

    async def __aenter__(self) -> Response:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"<Response [{self.status} {self.reason}]>"


class _BytesStream:
    __slots__ = ("_data",)

    def __init__(self, data: bytes) -> None:
        self._data = data

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self._data:
            yield self._data


def _default_reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""
