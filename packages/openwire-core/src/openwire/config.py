"""Everything a :class:`~openwire.Client` can be told, in frozen dataclasses.

``Client(**kwargs)`` builds a :class:`ClientConfig`; freezing it means a
client's behaviour cannot change under a call in flight, and one config can be
shared by many clients (``Client(config=cfg)``) or derived with
``dataclasses.replace``.

The client hands each layer of the call chain only the settings it uses
(:class:`TransportSettings`, :class:`FollowUpSettings`,
:class:`BridgeSettings`, built once per client by :meth:`ClientConfig.split`),
so a layer can be built and tested alone and its dependencies are visible in
its constructor.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias

from openwire._version import __version__
from openwire.compression import Deflate

if TYPE_CHECKING:
    from openwire.interfaces import Authenticator, CookieJar, EventListenerFactory, Interceptor

__all__ = [
    "BridgeSettings",
    "ClientConfig",
    "Deflate",
    "FollowUpSettings",
    "JSONDumps",
    "JSONLoads",
    "LayerSettings",
    "Limits",
    "Timeouts",
    "TransportSettings",
    "compact_json_dumps",
]

DEFAULT_USER_AGENT = f"openwire/{__version__}"

JSONDumps: TypeAlias = Callable[[Any], str | bytes]
"""Serialises a JSON value: ``json.dumps``-like, may return ``str`` or UTF-8 ``bytes`` (orjson)."""

JSONLoads: TypeAlias = Callable[[str | bytes], Any]
"""Parses JSON from ``str`` or ``bytes``: ``json.loads``-like; raises on invalid JSON."""


def compact_json_dumps(obj: Any) -> str:
    """``json.dumps`` without the spaces after ``,`` and ``:``: the default ``json_dumps``.

    Non-ASCII characters stay escaped (``ensure_ascii``), so any ``str``,
    lone surrogates included, gives valid UTF-8 on the wire; the same bytes
    as ``client.post(json=...)`` sends.
    """
    return json.dumps(obj, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Deadlines in seconds; ``None`` waits forever.

    ``connect`` covers DNS, TCP and TLS; ``read``/``write`` bound each single
    socket operation (a slow but steady download never trips them); ``pool``
    bounds the wait for a free connection; ``call`` bounds the whole call,
    redirects, retries and body reading included.
    """

    connect: float | None = 10.0
    read: float | None = 30.0
    write: float | None = 30.0
    pool: float | None = 10.0
    call: float | None = None

    def __post_init__(self) -> None:
        for name in ("connect", "read", "write", "pool", "call"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"Timeouts.{name} must be positive or None, got {value!r}")


@dataclass(frozen=True, slots=True)
class Limits:
    """Connection pool bounds.

    ``max_connections`` caps open connections per HTTP pool (one pool per
    proxy and scheme). ``max_connections_per_host`` caps in-flight exchanges
    per ``(scheme, host, port)``; ``None`` means no per-host cap. Idle
    connections beyond ``max_keepalive_connections``, or idle longer than
    ``keepalive_expiry`` seconds, are closed.

    WebSockets are not pooled: an upgraded connection is never reused, so
    each handshake opens a fresh HTTP/1.1 connection of its own. The
    per-host cap counts a handshake while it is in flight (a slot is freed
    once the ``101`` hands the connection to the WebSocket), and
    ``Timeouts.connect`` and the call's ``handshake_timeout`` bound it; an
    open WebSocket counts against neither limit.
    """

    max_connections: int = 100
    max_connections_per_host: int | None = None
    max_keepalive_connections: int = 20
    keepalive_expiry: float | None = 5.0

    def __post_init__(self) -> None:
        if self.max_connections < 1:
            raise ValueError("Limits.max_connections must be at least 1")
        if self.max_connections_per_host is not None and self.max_connections_per_host < 1:
            raise ValueError("Limits.max_connections_per_host must be at least 1 or None")
        if self.max_keepalive_connections < 0:
            raise ValueError("Limits.max_keepalive_connections must not be negative")


@dataclass(frozen=True, slots=True)
class TransportSettings:
    """What the transport uses: connections, TLS, proxies, and 407s to ``CONNECT``.

    Field meanings and defaults are :class:`ClientConfig`'s of the same name.
    """

    timeouts: Timeouts
    limits: Limits
    http2: bool
    verify: bool | str | ssl.SSLContext
    cert: str | tuple[str, str] | tuple[str, str, str] | None
    proxy: str | None
    trust_env: bool
    proxy_authenticator: Authenticator | None
    max_auth_attempts: int


@dataclass(frozen=True, slots=True)
class FollowUpSettings:
    """What the follow-ups use: redirects, the retry, and the authenticators.

    Field meanings and defaults are :class:`ClientConfig`'s of the same name.
    """

    follow_redirects: bool
    max_redirects: int
    allow_insecure_redirects: bool
    retry_on_connection_failure: bool
    authenticator: Authenticator | None
    proxy_authenticator: Authenticator | None
    max_auth_attempts: int


@dataclass(frozen=True, slots=True)
class BridgeSettings:
    """What the bridge adds to each attempt: ``User-Agent``, default headers, cookies.

    Field meanings and defaults are :class:`ClientConfig`'s of the same name.
    """

    user_agent: str
    headers: tuple[tuple[str, str], ...]
    cookie_jar: CookieJar | None


@dataclass(frozen=True, slots=True)
class LayerSettings:
    """One :class:`ClientConfig` split into what each layer of the chain uses."""

    transport: TransportSettings
    follow_ups: FollowUpSettings
    bridge: BridgeSettings


@dataclass(frozen=True, slots=True)
class ClientConfig:
    """All client settings. Every field has a safe default.

    Attributes:
        timeouts: see :class:`Timeouts` (connect 10 s, read/write 30 s, pool
            10 s, no whole-call deadline).
        limits: see :class:`Limits` (100 connections, 20 kept alive for 5 s).
        http2: offer HTTP/2 via ALPN on https (default ``False``; HTTP/1.1 is
            always available).
        verify: ``True`` (default) verifies certificates against certifi's
            bundle; ``"system"`` against the operating system's trust store
            (needs ``openwire-core[truststore]``); a path to a CA file or
            directory; an ``ssl.SSLContext`` used as-is; ``False`` disables
            verification (tests only).
        cert: client certificate: a PEM path holding cert and key,
            ``(cert, key)`` or ``(cert, key, password)``.
        proxy: a proxy URL for every request (``http://``, ``https://``,
            ``socks5://``); credentials in the URL become Proxy-Authorization.
        trust_env: read ``HTTP_PROXY``/``HTTPS_PROXY``/``ALL_PROXY``/``NO_PROXY``
            (either case) when ``proxy`` is not set; on by default, like curl.
        follow_redirects: follow 301/302/303/307/308 (default ``True``).
        max_redirects: hops before :class:`~openwire.TooManyRedirects` (10).
        allow_insecure_redirects: follow https → http hops instead of raising
            :class:`~openwire.RedirectRefused` (default ``False``).
        retry_on_connection_failure: retry once when the connection fails
            before a response, for idempotent requests with replayable bodies.
        authenticator: async ``(response) -> Request | None`` asked on 401
            from the origin.
        proxy_authenticator: async ``(response) -> Request | None`` asked when
            a proxy answers 407 (to a forwarded request or to ``CONNECT``);
            the request it returns carries ``Proxy-Authorization``. ``None``
            (default): a 407 raises :class:`~openwire.ProxyAuthError`.
        max_auth_attempts: authenticator rounds per call before the 401 is
            returned as-is, or the 407 raised (3).
        interceptors: application interceptors, first = outermost; they see
            each call once.
        network_interceptors: see every network attempt (each redirect hop).
        cookie_jar: a :class:`~openwire.CookieJar`; ``None`` (default) sends
            and stores no cookies.
        user_agent: the ``User-Agent`` added when a request has none.
        headers: headers added to every request that does not set them.
        event_listener_factory: called once per call to get its
            :class:`~openwire.EventListener`; ``None`` means no events.
        websocket_engine: WebSocket engine name; ``None`` picks the default.
        json_dumps: how ``WebSocket.send_json`` and ``client.post(json=...)``
            serialise: any callable
            taking the value and returning ``str`` or UTF-8 ``bytes``, so
            ``orjson.dumps`` fits as is. Default :func:`compact_json_dumps`.
        json_loads: how ``WebSocket.receive_json`` (and ``iter(decode="json")``)
            parses a message: any callable taking ``str`` (a text message) or
            ``bytes`` (a binary one) and raising on invalid JSON, like
            ``json.loads`` (the default) or ``orjson.loads``.
        websocket_compression: the permessage-deflate policy of every
            WebSocket of this client unless a call passes ``compression=``:
            ``"deflate"`` (default, ``Deflate()``), a :class:`Deflate`, or
            ``None`` to offer nothing.
    """

    timeouts: Timeouts = field(default_factory=Timeouts)
    limits: Limits = field(default_factory=Limits)
    http2: bool = False
    verify: bool | str | ssl.SSLContext = True
    cert: str | tuple[str, str] | tuple[str, str, str] | None = None
    proxy: str | None = None
    trust_env: bool = True
    follow_redirects: bool = True
    max_redirects: int = 10
    allow_insecure_redirects: bool = False
    retry_on_connection_failure: bool = True
    authenticator: Authenticator | None = None
    proxy_authenticator: Authenticator | None = None
    max_auth_attempts: int = 3
    interceptors: tuple[Interceptor, ...] = ()
    network_interceptors: tuple[Interceptor, ...] = ()
    cookie_jar: CookieJar | None = None
    user_agent: str = DEFAULT_USER_AGENT
    headers: tuple[tuple[str, str], ...] = ()
    event_listener_factory: EventListenerFactory | None = None
    websocket_engine: str | None = None
    json_dumps: JSONDumps = compact_json_dumps
    json_loads: JSONLoads = json.loads
    websocket_compression: Deflate | str | None = "deflate"

    def __post_init__(self) -> None:
        object.__setattr__(self, "websocket_compression", Deflate.of(self.websocket_compression))
        # Accept lists and mappings from keyword callers; store immutable tuples.
        for name in ("interceptors", "network_interceptors"):
            value: Sequence[Interceptor] = getattr(self, name)
            if not isinstance(value, tuple):
                object.__setattr__(self, name, tuple(value))
        headers: object = self.headers
        if isinstance(headers, dict):
            object.__setattr__(self, "headers", tuple(headers.items()))
        elif not isinstance(headers, tuple):
            object.__setattr__(self, "headers", tuple(self.headers))
        if self.max_redirects < 0:
            raise ValueError("max_redirects must not be negative")
        if self.max_auth_attempts < 0:
            raise ValueError("max_auth_attempts must not be negative")

    def split(self) -> LayerSettings:
        """The settings of each layer, so no layer sees the ones it does not use."""
        return LayerSettings(
            transport=TransportSettings(
                timeouts=self.timeouts,
                limits=self.limits,
                http2=self.http2,
                verify=self.verify,
                cert=self.cert,
                proxy=self.proxy,
                trust_env=self.trust_env,
                proxy_authenticator=self.proxy_authenticator,
                max_auth_attempts=self.max_auth_attempts,
            ),
            follow_ups=FollowUpSettings(
                follow_redirects=self.follow_redirects,
                max_redirects=self.max_redirects,
                allow_insecure_redirects=self.allow_insecure_redirects,
                retry_on_connection_failure=self.retry_on_connection_failure,
                authenticator=self.authenticator,
                proxy_authenticator=self.proxy_authenticator,
                max_auth_attempts=self.max_auth_attempts,
            ),
            bridge=BridgeSettings(
                user_agent=self.user_agent, headers=self.headers, cookie_jar=self.cookie_jar
            ),
        )
