"""The EventListener: one object that sees a call's whole lifecycle.

Subclass :class:`EventListener` and override what you need; every method is a
no-op by default. The client takes a *factory* (``event_listener_factory``) so
each call, HTTP or WebSocket, gets its own listener and can keep per-call
state without locks.

Order of the HTTP events for one call (each fired exactly once per occurrence)::

    call_start
      proxy_select_start → proxy_select_end
      dns_start → dns_end                       (new connection only)
      connect_start → connect_end | connect_failed
      secure_connect_start → secure_connect_end (https only)
      connection_acquired
      request_headers_start → request_headers_end
      request_body_start → request_body_end     (when there is a body)
      response_headers_start → response_headers_end
      response_body_start → response_body_end
      connection_released
    call_end | call_failed                      (exactly one of the two)

A redirect or retry repeats the middle block. A WebSocket call fires the HTTP
events for its opening handshake (ending in ``call_end`` once the 101 is
validated, or ``call_failed``; ``websocket_http2_fallback`` among them when
``http_version="auto"`` goes to HTTP/1.1 instead of HTTP/2), then::

    websocket_open
      websocket_compression                      (once, when permessage-deflate was agreed)
      websocket_negotiated                       (once: subprotocol, extensions, engine)
      websocket_message_sent / websocket_message_received (any order, many)
      websocket_ping_sent / websocket_pong_received
      websocket_closing                          (when a close handshake starts)
    websocket_closed | websocket_failed          (exactly one of the two)

A reconnecting loop (``client.websocket_reconnecting``) takes one listener of
its own from the factory when it starts; each connection attempt is a call
with its own listener as above, and the loop's listener sees only::

    websocket_reconnect_connected                (a connection is ready: one per ws yielded)
    websocket_reconnect_scheduled                (one per retry: attempt, delay, cause)
      ... repeated as the loop goes on ...
    websocket_reconnect_stopped                  (exactly once: the error it raised, or None)

A listener that raises never breaks the call: :class:`ListenerDispatch` logs the
error on the ``openwire.events`` logger and carries on.
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from openwire.http.models import Request, Response

__all__ = [
    "EventListener",
    "EventListenerFactory",
    "FanOutListener",
    "ListenerDispatch",
    "LoggingEventListener",
    "fan_out",
]

_log = logging.getLogger("openwire.events")


class EventListener:
    """Receives lifecycle events of one call. Override any subset."""

    # -- HTTP call ------------------------------------------------------------
    def call_start(self, request: Request) -> None: ...
    def proxy_select_start(self, url: str) -> None: ...
    def proxy_select_end(self, url: str, proxy: str | None) -> None: ...
    def dns_start(self, host: str) -> None: ...
    def dns_end(self, host: str, addresses: list[str]) -> None: ...
    def connect_start(self, host: str, port: int) -> None: ...
    def connect_end(self, host: str, port: int) -> None: ...
    def connect_failed(self, host: str, port: int, error: BaseException) -> None: ...
    def secure_connect_start(self, host: str) -> None: ...
    def secure_connect_end(self, host: str, tls_version: str | None) -> None: ...
    def connection_acquired(self, host: str, port: int, reused: bool) -> None: ...
    def connection_released(self, host: str, port: int) -> None: ...
    def request_headers_start(self, request: Request) -> None: ...
    def request_headers_end(self, request: Request) -> None: ...
    def request_body_start(self, request: Request) -> None: ...
    def request_body_end(self, request: Request, byte_count: int) -> None: ...
    def response_headers_start(self, request: Request) -> None: ...
    def response_headers_end(self, response: Response) -> None: ...
    def response_body_start(self, response: Response) -> None: ...
    def response_body_end(self, response: Response, byte_count: int) -> None: ...
    def call_end(self, request: Request) -> None: ...
    def call_failed(self, request: Request, error: BaseException) -> None: ...

    # -- WebSocket ------------------------------------------------------------
    def websocket_open(self, response: Response) -> None: ...
    def websocket_message_sent(self, kind: str, size: int) -> None: ...
    def websocket_message_received(self, kind: str, size: int) -> None: ...
    def websocket_ping_sent(self, payload: bytes) -> None: ...
    def websocket_pong_received(self, payload: bytes) -> None: ...
    def websocket_closing(self, code: int, reason: str, by_peer: bool) -> None: ...
    def websocket_closed(self, code: int, reason: str) -> None: ...
    def websocket_failed(self, error: BaseException) -> None: ...
    def websocket_compression(
        self,
        client_max_window_bits: int,
        server_max_window_bits: int,
        client_no_context_takeover: bool,
        server_no_context_takeover: bool,
    ) -> None:
        """permessage-deflate was agreed, with these parameters (right after ``websocket_open``).

        The windows decide the memory each side's zlib state takes once
        used (``2 ** bits`` bytes of history, more for the compressor), and
        context takeover whether small similar messages compress well;
        compare them with what the policy asked for.
        """

    def websocket_http2_fallback(self, url: str, reason: str) -> None:
        """``http_version="auto"`` sends this handshake over HTTP/1.1 instead of HTTP/2.

        Fired during the handshake call, before its request headers.
        ``reason`` is ``"alpn"`` (the server did not select ``h2``) or
        ``"setting"`` (its SETTINGS do not enable the extended CONNECT, RFC
        8441 §3); the origin is then remembered and later handshakes go to
        HTTP/1.1 directly, each firing this again with the remembered reason.
        """

    def websocket_reconnect_connected(self, attempt: int) -> None: ...
    def websocket_reconnect_scheduled(
        self, attempt: int, delay: float, cause: BaseException
    ) -> None: ...
    def websocket_reconnect_stopped(self, error: BaseException | None) -> None: ...
    def websocket_negotiated(
        self, subprotocol: str | None, extensions: list[str], engine: str
    ) -> None:
        """What the opening handshake settled (right after ``websocket_open``, once per connection).

        The subprotocol the server chose (``None`` for none), the extensions
        it accepted (``Sec-WebSocket-Extensions`` values, as
        ``ws.extensions``) and the engine that frames the connection: what
        ``ws.subprotocol``, ``ws.extensions`` and ``ws.engine`` say, for a
        listener that never holds the WebSocket (tracing, metrics).
        """


EventListenerFactory = Callable[[], EventListener]

EVENT_NAMES: tuple[str, ...] = tuple(
    name for name in vars(EventListener) if not name.startswith("_")
)


class ListenerDispatch:
    """Calls a listener safely, and cheaply when it does not care.

    It has one method per event with the :class:`EventListener` signature
    (``tests/test_events_dispatch.py`` keeps the two in step), so mypy checks
    every place that fires an event: the name and the arguments. It is not an
    EventListener subclass, so it stays two slots with no ``__dict__``: one
    exists per open WebSocket. Each method first asks whether the
    listener overrides that event, one set lookup, and does nothing more when
    it does not. ``wants(name)`` answers that question ahead of time, so a
    hot path (one call per message) can keep the answer in a local and skip
    even the method call; the default listener costs nothing.
    """

    __slots__ = ("_listener", "_overridden")

    def __init__(self, listener: EventListener | None) -> None:
        self._listener = listener
        self._overridden = _NO_EVENTS if listener is None else _overrides(listener)

    @property
    def listener(self) -> EventListener | None:
        return self._listener

    def wants(self, name: str) -> bool:
        return name in self._overridden

    def emit(self, name: str, *args: Any) -> None:
        """Fire the event called ``name``, unchecked by mypy.

        For interceptors that already call it by name; the typed methods
        (``dispatch.dns_start(host)``) are what openwire itself uses.
        """
        if name in self._overridden:
            self._fire(name, *args)

    def _fire(self, name: str, *args: Any) -> None:
        try:
            getattr(self._listener, name)(*args)
        except Exception:
            _log.exception("EventListener.%s raised; the call continues", name)

    # -- one typed method per event (the EventListener's own signatures) -------
    def call_start(self, request: Request) -> None:
        if "call_start" in self._overridden:
            self._fire("call_start", request)

    def proxy_select_start(self, url: str) -> None:
        if "proxy_select_start" in self._overridden:
            self._fire("proxy_select_start", url)

    def proxy_select_end(self, url: str, proxy: str | None) -> None:
        if "proxy_select_end" in self._overridden:
            self._fire("proxy_select_end", url, proxy)

    def dns_start(self, host: str) -> None:
        if "dns_start" in self._overridden:
            self._fire("dns_start", host)

    def dns_end(self, host: str, addresses: list[str]) -> None:
        if "dns_end" in self._overridden:
            self._fire("dns_end", host, addresses)

    def connect_start(self, host: str, port: int) -> None:
        if "connect_start" in self._overridden:
            self._fire("connect_start", host, port)

    def connect_end(self, host: str, port: int) -> None:
        if "connect_end" in self._overridden:
            self._fire("connect_end", host, port)

    def connect_failed(self, host: str, port: int, error: BaseException) -> None:
        if "connect_failed" in self._overridden:
            self._fire("connect_failed", host, port, error)

    def secure_connect_start(self, host: str) -> None:
        if "secure_connect_start" in self._overridden:
            self._fire("secure_connect_start", host)

    def secure_connect_end(self, host: str, tls_version: str | None) -> None:
        if "secure_connect_end" in self._overridden:
            self._fire("secure_connect_end", host, tls_version)

    def connection_acquired(self, host: str, port: int, reused: bool) -> None:
        if "connection_acquired" in self._overridden:
            self._fire("connection_acquired", host, port, reused)

    def connection_released(self, host: str, port: int) -> None:
        if "connection_released" in self._overridden:
            self._fire("connection_released", host, port)

    def request_headers_start(self, request: Request) -> None:
        if "request_headers_start" in self._overridden:
            self._fire("request_headers_start", request)

    def request_headers_end(self, request: Request) -> None:
        if "request_headers_end" in self._overridden:
            self._fire("request_headers_end", request)

    def request_body_start(self, request: Request) -> None:
        if "request_body_start" in self._overridden:
            self._fire("request_body_start", request)

    def request_body_end(self, request: Request, byte_count: int) -> None:
        if "request_body_end" in self._overridden:
            self._fire("request_body_end", request, byte_count)

    def response_headers_start(self, request: Request) -> None:
        if "response_headers_start" in self._overridden:
            self._fire("response_headers_start", request)

    def response_headers_end(self, response: Response) -> None:
        if "response_headers_end" in self._overridden:
            self._fire("response_headers_end", response)

    def response_body_start(self, response: Response) -> None:
        if "response_body_start" in self._overridden:
            self._fire("response_body_start", response)

    def response_body_end(self, response: Response, byte_count: int) -> None:
        if "response_body_end" in self._overridden:
            self._fire("response_body_end", response, byte_count)

    def call_end(self, request: Request) -> None:
        if "call_end" in self._overridden:
            self._fire("call_end", request)

    def call_failed(self, request: Request, error: BaseException) -> None:
        if "call_failed" in self._overridden:
            self._fire("call_failed", request, error)

    def websocket_open(self, response: Response) -> None:
        if "websocket_open" in self._overridden:
            self._fire("websocket_open", response)

    def websocket_message_sent(self, kind: str, size: int) -> None:
        if "websocket_message_sent" in self._overridden:
            self._fire("websocket_message_sent", kind, size)

    def websocket_message_received(self, kind: str, size: int) -> None:
        if "websocket_message_received" in self._overridden:
            self._fire("websocket_message_received", kind, size)

    def websocket_ping_sent(self, payload: bytes) -> None:
        if "websocket_ping_sent" in self._overridden:
            self._fire("websocket_ping_sent", payload)

    def websocket_pong_received(self, payload: bytes) -> None:
        if "websocket_pong_received" in self._overridden:
            self._fire("websocket_pong_received", payload)

    def websocket_closing(self, code: int, reason: str, by_peer: bool) -> None:
        if "websocket_closing" in self._overridden:
            self._fire("websocket_closing", code, reason, by_peer)

    def websocket_closed(self, code: int, reason: str) -> None:
        if "websocket_closed" in self._overridden:
            self._fire("websocket_closed", code, reason)

    def websocket_failed(self, error: BaseException) -> None:
        if "websocket_failed" in self._overridden:
            self._fire("websocket_failed", error)

    def websocket_compression(
        self,
        client_max_window_bits: int,
        server_max_window_bits: int,
        client_no_context_takeover: bool,
        server_no_context_takeover: bool,
    ) -> None:
        if "websocket_compression" in self._overridden:
            self._fire(
                "websocket_compression",
                client_max_window_bits,
                server_max_window_bits,
                client_no_context_takeover,
                server_no_context_takeover,
            )

    def websocket_http2_fallback(self, url: str, reason: str) -> None:
        if "websocket_http2_fallback" in self._overridden:
            self._fire("websocket_http2_fallback", url, reason)

    def websocket_reconnect_connected(self, attempt: int) -> None:
        if "websocket_reconnect_connected" in self._overridden:
            self._fire("websocket_reconnect_connected", attempt)

    def websocket_reconnect_scheduled(
        self, attempt: int, delay: float, cause: BaseException
    ) -> None:
        if "websocket_reconnect_scheduled" in self._overridden:
            self._fire("websocket_reconnect_scheduled", attempt, delay, cause)

    def websocket_reconnect_stopped(self, error: BaseException | None) -> None:
        if "websocket_reconnect_stopped" in self._overridden:
            self._fire("websocket_reconnect_stopped", error)

    def websocket_negotiated(
        self, subprotocol: str | None, extensions: list[str], engine: str
    ) -> None:
        if "websocket_negotiated" in self._overridden:
            self._fire("websocket_negotiated", subprotocol, extensions, engine)


class LoggingEventListener(EventListener):
    """Logs one line per event with the milliseconds since the call started.

    Use it as ``Client(event_listener_factory=LoggingEventListener)`` and
    enable the ``openwire.events`` logger at INFO.
    """

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self._logger = logger or _log
        self._start = time.perf_counter()

    def _line(self, name: str, detail: str = "") -> None:
        elapsed = (time.perf_counter() - self._start) * 1000
        self._logger.info("[%8.2f ms] %s%s", elapsed, name, f" {detail}" if detail else "")


def _logging_method(name: str) -> Callable[..., None]:
    def log_event(self: LoggingEventListener, *args: Any) -> None:
        self._line(name, " ".join(_short(a) for a in args))

    log_event.__name__ = name
    return log_event


for _name in EVENT_NAMES:
    setattr(LoggingEventListener, _name, _logging_method(_name))
del _name


def _short(value: Any) -> str:
    text = repr(value) if isinstance(value, bytes | str) else str(value)
    return text if len(text) <= 120 else text[:117] + "..."


# -- several listeners on one client ---------------------------------------------

_EVENT_SET = frozenset(EVENT_NAMES)
# Per listener class, computed at its first dispatch (a dispatch is made per
# call): define a class's event methods before its first call, or set them on
# the instance, which is read every time.
_CLASS_OVERRIDES: weakref.WeakKeyDictionary[type, frozenset[str]] = weakref.WeakKeyDictionary()


# One shared empty set: frozenset() is a new 216-byte object on every call,
# and a dispatch is kept per open WebSocket.
_NO_EVENTS: frozenset[str] = frozenset()


def _overrides(listener: EventListener) -> frozenset[str]:
    """The events ``listener`` handles: what :class:`ListenerDispatch` would call."""
    cls = type(listener)
    names = _CLASS_OVERRIDES.get(cls)
    if names is None:
        names = _CLASS_OVERRIDES[cls] = frozenset(
            name
            for name in EVENT_NAMES
            if getattr(cls, name, None) is not getattr(EventListener, name)
        )
    own = getattr(listener, "__dict__", None)
    if own:
        # Only a new set when the instance adds events: one is kept per call
        # (and per open WebSocket), and a listener's state is rarely an event.
        added = _EVENT_SET & own.keys()
        if added:
            names = names | added
    return names


class FanOutListener(EventListener):
    """Hands each event to several listeners, in the order given.

    Only the events some listener handles are overridden (per instance), so
    :class:`ListenerDispatch` still skips the others at the cost of a set
    lookup, and an event one listener handles costs what it costs without
    the fan-out. A listener that raises is logged, as the dispatch would
    log it, and the listeners after it still get the event.
    """

    def __init__(self, *listeners: EventListener) -> None:
        self.listeners = listeners
        for name, indices in _plan(listeners):
            if len(indices) == 1:
                setattr(self, name, getattr(listeners[indices[0]], name))
            else:
                targets = tuple(getattr(listeners[i], name) for i in indices)
                setattr(self, name, _each(name, targets))


_Plan = tuple[tuple[str, tuple[int, ...]], ...]
_PLANS: dict[tuple[type, ...], _Plan] = {}
_MAX_PLANS = 64


def _plan(listeners: tuple[EventListener, ...]) -> _Plan:
    """Which of ``listeners`` handle each event: per combination of classes, worked out once.

    A fan-out is made for every call, so this is remembered for the last
    few combinations of listener classes (a client has one); a listener
    with event methods set on the instance is looked at every time.
    """
    per_class = True
    for listener in listeners:
        own = getattr(listener, "__dict__", None)
        if own and not _EVENT_SET.isdisjoint(own):
            per_class = False
            break
    key = tuple(type(listener) for listener in listeners)
    plan = _PLANS.get(key) if per_class else None
    if plan is not None:
        return plan
    wanted: dict[str, list[int]] = {}
    for index, listener in enumerate(listeners):
        for name in _overrides(listener):
            wanted.setdefault(name, []).append(index)
    plan = tuple((name, tuple(indices)) for name, indices in wanted.items())
    if per_class:
        if len(_PLANS) >= _MAX_PLANS:
            _PLANS.clear()
        _PLANS[key] = plan
    return plan


def _each(name: str, targets: tuple[Callable[..., None], ...]) -> Callable[..., None]:
    def fan_out_event(*args: Any) -> None:
        for target in targets:
            try:
                target(*args)
            except Exception:
                _log.exception("EventListener.%s raised; the call continues", name)

    return fan_out_event


def fan_out(*factories: EventListenerFactory | None) -> EventListenerFactory | None:
    """One ``event_listener_factory`` from several (``None`` entries are skipped).

    Each call gets one listener from every factory, wrapped in a
    :class:`FanOutListener`; with a single factory it is returned as is, and
    with none, ``None``. For instrumentation that must compose with the
    application's own listener::

        Client(event_listener_factory=fan_out(MyListener, tracing_factory))
    """
    present = tuple(f for f in factories if f is not None)
    if not present:
        return None
    if len(present) == 1:
        return present[0]

    def make() -> EventListener:
        return FanOutListener(*(factory() for factory in present))

    return make
