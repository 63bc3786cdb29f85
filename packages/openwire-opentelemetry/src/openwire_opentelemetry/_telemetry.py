"""The listener and the network interceptor that turn openwire's events into telemetry.

One :class:`Telemetry` per :func:`~openwire_opentelemetry.settings` call holds
the tracer, the instruments and the options. It makes one listener per call
(the client's ``event_listener_factory``) and one network interceptor; the
interceptor finds the call's listener through ``chain.events.listener``, so
the two halves share per-call state without any global.

Why the split: only an interceptor can change the request of each attempt
(to carry ``traceparent``), and only the listener sees the connection steps
and the WebSocket's life. The interceptor opens each attempt's span, so the
span exists before the transport's first event and its context is the one
injected; the listener records the steps on it and ends it.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.metrics import CallbackOptions, Meter, Observation
from opentelemetry.propagate import get_global_textmap
from opentelemetry.trace import Link, SpanKind, Status, StatusCode
from openwire.events import EventListener, FanOutListener
from openwire.http.chain import Chain
from openwire.http.models import Request, Response

from openwire_opentelemetry import _names as n

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.propagators.textmap import TextMapPropagator
    from opentelemetry.trace import Span, Tracer

__all__ = ["Telemetry"]

_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10)
"""The conventions' advice for ``http.client.request.duration``."""

_PING_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_CONNECTION_BUCKETS = (1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 12 * 3600, 24 * 3600)

# Layout of a connection's traffic counters (one list per connection).
_SENT_TEXT, _SENT_TEXT_SIZE, _SENT_BINARY, _SENT_BINARY_SIZE = 0, 1, 2, 3
_RECV_TEXT, _RECV_TEXT_SIZE, _RECV_BINARY, _RECV_BINARY_SIZE = 4, 5, 6, 7
_TRAFFIC_SERIES = (
    ("transmit", "text", _SENT_TEXT, _SENT_TEXT_SIZE),
    ("transmit", "binary", _SENT_BINARY, _SENT_BINARY_SIZE),
    ("receive", "text", _RECV_TEXT, _RECV_TEXT_SIZE),
    ("receive", "binary", _RECV_BINARY, _RECV_BINARY_SIZE),
)

Attributes = dict[str, Any]


_CloseKey = tuple[int, str | None, str | None]  # close code, initiator, error.type


class _Traffic:
    """What the connections with one set of attributes did: live ones, and those that ended.

    Each connection counts its messages in a list of its own (no lock, no
    SDK call per message); the observable instruments' callbacks add the
    live lists to what ended connections left behind. The open connections
    are the live ones, and the ends are counted here too, so opening and
    closing a connection costs a set insertion and a dict increment rather
    than SDK measurements.
    """

    __slots__ = ("attributes", "closes", "live", "retired")

    def __init__(self, attributes: Attributes) -> None:
        self.attributes = attributes
        self.retired = [0] * 8
        self.live: weakref.WeakSet[_Listener] = weakref.WeakSet()
        self.closes: dict[_CloseKey, int] = {}


class Telemetry:
    """Tracer, instruments and options shared by every call of one client."""

    def __init__(
        self,
        *,
        tracer: Tracer,
        meter: Meter | None,
        propagator: TextMapPropagator | None,
        message_events: bool,
        max_message_events: int,
        sensitive_query_parameters: Iterable[str],
    ) -> None:
        if max_message_events < 0:
            raise ValueError(f"max_message_events must be 0 or more, got {max_message_events}")
        self.tracer = tracer
        self.propagator = propagator
        self.message_events = max_message_events if message_events else 0
        self.sensitive = frozenset(sensitive_query_parameters)
        self.metrics = meter is not None
        self.interceptor = TracingInterceptor(self)
        # Counting per message is only needed for metrics or message events;
        # without either, the listener does not override the message events,
        # so the session never calls it per message.
        self._listener_class = (
            _CountingListener if self.metrics or self.message_events else _Listener
        )
        if meter is None:
            return
        shared = _Metrics.of(meter)
        self.http_duration = shared.http_duration
        self.ws_duration = shared.ws_duration
        self.ws_ping = shared.ws_ping
        self.ws_reconnects = shared.ws_reconnects
        self.track = shared.track
        self.retire = shared.retire

    def new_listener(self) -> EventListener:
        """The ``event_listener_factory``: one listener per call."""
        return self._listener_class(self)


class _Metrics:
    """The instruments of one meter, and the connection counts its observable ones report.

    One per meter, shared by every client instrumented with it: an
    instrument is registered once, and connections to the same place from
    two clients add up in one series rather than two callbacks reporting
    the same series.
    """

    _by_meter: weakref.WeakKeyDictionary[Meter, _Metrics] = weakref.WeakKeyDictionary()
    _creating = threading.Lock()

    @classmethod
    def of(cls, meter: Meter) -> _Metrics:
        with cls._creating:
            metrics = cls._by_meter.get(meter)
            if metrics is None:
                metrics = cls._by_meter[meter] = cls(meter)
            return metrics

    def __init__(self, meter: Meter) -> None:
        self._lock = threading.Lock()
        self._traffic: dict[tuple[tuple[str, Any], ...], _Traffic] = {}
        self.http_duration = meter.create_histogram(
            n.METRIC_HTTP_DURATION,
            unit="s",
            description="Duration of HTTP client requests (one per attempt).",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        )
        meter.create_observable_up_down_counter(
            n.METRIC_WS_OPEN,
            callbacks=[self._observe_open],
            unit="{connection}",
            description="WebSocket connections open now.",
        )
        self.ws_duration = meter.create_histogram(
            n.METRIC_WS_DURATION,
            unit="s",
            description="How long WebSocket connections stayed open, from the 101 to the end.",
            explicit_bucket_boundaries_advisory=_CONNECTION_BUCKETS,
        )
        self.ws_ping = meter.create_histogram(
            n.METRIC_WS_PING,
            unit="s",
            description="WebSocket ping round-trip time, from the ping sent to its pong.",
            explicit_bucket_boundaries_advisory=_PING_BUCKETS,
        )
        meter.create_observable_counter(
            n.METRIC_WS_CLOSES,
            callbacks=[self._observe_closes],
            unit="{connection}",
            description="WebSocket connections ended, by close code and initiator.",
        )
        self.ws_reconnects = meter.create_counter(
            n.METRIC_WS_RECONNECTS,
            unit="{attempt}",
            description="Reconnections scheduled by websocket_reconnecting loops, by cause.",
        )
        meter.create_observable_counter(
            n.METRIC_WS_MESSAGES,
            callbacks=[self._observe_messages],
            unit="{message}",
            description="WebSocket messages sent and received, by direction and opcode.",
        )
        meter.create_observable_counter(
            n.METRIC_WS_IO,
            callbacks=[self._observe_io],
            unit="By",
            description="WebSocket message payload sent and received, by direction and opcode "
            "(text counts characters, as the events report it).",
        )

    # -- traffic aggregation ------------------------------------------------------
    def track(self, listener: _Listener, attributes: Attributes) -> _Traffic:
        key = tuple(attributes.items())  # built in one order by the listener: no sort
        with self._lock:
            traffic = self._traffic.get(key)
            if traffic is None:
                traffic = self._traffic[key] = _Traffic(attributes)
            traffic.live.add(listener)
        return traffic

    def retire(
        self, listener: _Listener, traffic: _Traffic, counts: list[int], end: _CloseKey
    ) -> None:
        with self._lock:
            traffic.live.discard(listener)
            retired = traffic.retired
            for index, value in enumerate(counts):
                retired[index] += value
            traffic.closes[end] = traffic.closes.get(end, 0) + 1

    def _observe_open(self, options: CallbackOptions) -> Iterable[Observation]:
        with self._lock:
            return [Observation(len(t.live), t.attributes) for t in self._traffic.values()]

    def _observe_closes(self, options: CallbackOptions) -> Iterable[Observation]:
        with self._lock:
            snapshot = [(t.attributes, dict(t.closes)) for t in self._traffic.values()]
        observations = []
        for attributes, closes in snapshot:
            for (code, initiator, error), count in closes.items():
                point = {**attributes, n.WS_CLOSE_CODE: code}
                if initiator is not None:
                    point[n.WS_CLOSE_INITIATOR] = initiator
                if error is not None:
                    point[n.ERROR_TYPE] = error
                observations.append(Observation(count, point))
        return observations

    def _totals(self) -> list[tuple[Attributes, list[int]]]:
        with self._lock:
            snapshot = [
                (t.attributes, list(t.retired), list(t.live)) for t in self._traffic.values()
            ]
        totals = []
        for attributes, sums, live in snapshot:
            for listener in live:
                counts = listener._counts
                for index in range(8):
                    sums[index] += counts[index]
            totals.append((attributes, sums))
        return totals

    def _observe_messages(self, options: CallbackOptions) -> Iterable[Observation]:
        return self._observe(count=True)

    def _observe_io(self, options: CallbackOptions) -> Iterable[Observation]:
        return self._observe(count=False)

    def _observe(self, *, count: bool) -> list[Observation]:
        observations = []
        for attributes, sums in self._totals():
            for direction, opcode, messages, size in _TRAFFIC_SERIES:
                observations.append(
                    Observation(
                        sums[messages if count else size],
                        {
                            **attributes,
                            n.NETWORK_IO_DIRECTION: direction,
                            n.WS_OPCODE: opcode,
                        },
                    )
                )
        return observations


def _find(listener: EventListener | None, telemetry: Telemetry) -> _Listener | None:
    """This telemetry's listener for the call, directly or inside a fan-out."""
    if isinstance(listener, _Listener):
        return listener if listener._t is telemetry else None
    if isinstance(listener, FanOutListener):
        for inner in listener.listeners:
            found = _find(inner, telemetry)
            if found is not None:
                return found
    return None


class TracingInterceptor:
    """The network interceptor: one span per attempt, its context injected into the request.

    It runs first among the network interceptors, so the application's own
    network interceptors see the ``traceparent`` it added, and each redirect
    hop or retry carries the context of its own span.
    """

    def __init__(self, telemetry: Telemetry) -> None:
        self._t = telemetry

    async def __call__(self, request: Request, chain: Chain) -> Response:
        listener = _find(chain.events.listener, self._t)
        if listener is None:
            return await chain.proceed(request)
        span = listener.begin_attempt(request)
        # Into a dict first: a span that is not recorded (sampled out, or a
        # no-op provider) injects nothing, and the request is then not copied.
        carrier: dict[str, str] = {}
        propagator = self._t.propagator or get_global_textmap()
        propagator.inject(carrier, context=trace.set_span_in_context(span, listener.parent))
        if carrier:
            request = request.replace()  # headers are copied: the caller's request stays as it was
            headers = request.headers
            for name, value in carrier.items():
                headers[name] = value
        try:
            response = await chain.proceed(request)
        except BaseException as exc:
            if listener.span is span:
                listener.end_attempt(exc)
            raise
        if listener.span is span:
            listener.answered(request, response)
        return response


class _Listener(EventListener):
    """One call's spans and measurements (HTTP attempts, then the WebSocket's life).

    Its state lives in slots, so the instance ``__dict__`` stays empty and
    the dispatch made for each call finds the events it handles from the
    class alone (a listener's ``__dict__`` is searched for event methods).
    """

    __slots__ = (
        "_answer",
        "_attempts",
        "_connection",
        "_counts",
        "_events_dropped",
        "_events_left",
        "_handshake",
        "_handshake_done",
        "_initiator",
        "_metric",
        "_negotiated",
        "_opened",
        "_pings",
        "_reused",
        "_started",
        "_status",
        "_t",
        "_traffic",
        "_url_full",
        "_ws_metric",
        "parent",
        "span",
    )

    def __init__(self, telemetry: Telemetry) -> None:
        self._t = telemetry
        self.parent: Context | None = None
        self.span: Span | None = None
        self._attempts = 0
        self._started = 0.0
        self._metric: Attributes = {}
        self._status: int | None = None
        self._reused: bool | None = None
        self._url_full = ""  # the attempt's url.full: the WebSocket's span reuses it
        self._answer: Attributes | None = None  # a 101's attributes, set with the negotiated ones
        self._handshake = False  # this attempt is a WebSocket handshake
        self._handshake_done = False  # a 101 arrived: the span waits for websocket_negotiated
        # The WebSocket connection, once open.
        self._connection: Span | None = None
        self._opened = 0.0
        self._ws_metric: Attributes | None = None
        self._traffic: _Traffic | None = None
        self._counts = [0] * 8
        self._negotiated: Attributes | None = None
        self._initiator: str | None = None
        self._pings: dict[bytes, float] | None = None
        self._events_left = telemetry.message_events
        self._events_dropped = 0

    # -- attempts (called by the interceptor) --------------------------------------
    def begin_attempt(self, request: Request) -> Span:
        if self.span is not None:
            self.end_attempt(None)
        t = self._t
        resend = self._attempts
        self._attempts += 1
        method = request.method
        url = request.url
        host, port = url.host, url.port  # properties: read once
        known = method in n.KNOWN_METHODS
        attributes: Attributes = {
            n.HTTP_REQUEST_METHOD: method if known else "_OTHER",
            n.URL_FULL: (full := n.full_url(url, t.sensitive)),
            n.SERVER_ADDRESS: host,
            n.SERVER_PORT: port,
        }
        if not known:
            attributes[n.HTTP_REQUEST_METHOD_ORIGINAL] = method
        if resend:
            attributes[n.HTTP_REQUEST_RESEND_COUNT] = resend
        self._handshake = request.websocket is not None
        if self._handshake:
            attributes[n.WS_HANDSHAKE] = True
        span = t.tracer.start_span(
            method if known else "HTTP",
            context=self.parent,
            kind=SpanKind.CLIENT,
            attributes=attributes,
        )
        self.span = span
        self._url_full = full
        self._status = None
        self._reused = None
        self._answer = None
        if t.metrics:
            self._metric = {
                n.HTTP_REQUEST_METHOD: attributes[n.HTTP_REQUEST_METHOD],
                n.SERVER_ADDRESS: host,
                n.SERVER_PORT: port,
            }
        self._started = time.perf_counter()
        return span

    def answered(self, request: Request, response: Response) -> None:
        span = self.span
        assert span is not None
        status = response.status
        self._status = status
        version = response.http_version.removeprefix("HTTP/")  # network.protocol.version: "1.1"
        attributes: Attributes = {
            n.HTTP_RESPONSE_STATUS_CODE: status,
            n.NETWORK_PROTOCOL_VERSION: version,
        }
        if status >= 400:
            # 4xx and 5xx are errors for a client span; error.type is the code.
            attributes[n.ERROR_TYPE] = str(status)
            span.set_status(Status(StatusCode.ERROR))
        self._metric.update(attributes)
        if self._reused is not None:
            attributes[n.CONNECTION_REUSED] = self._reused
        if status == 101 and self._handshake:
            # The span waits for websocket_negotiated: one SDK call sets
            # these with the negotiated ones (end_attempt sets them if the
            # 101 is refused instead).
            self._handshake_done = True
            self._answer = attributes
        else:
            span.set_attributes(attributes)

    def end_attempt(self, error: BaseException | None) -> None:
        span = self.span
        if span is None:
            return
        self.span = None
        self._handshake_done = False
        if self._answer is not None:
            span.set_attributes(self._answer)
            self._answer = None
        metric = self._metric
        if error is not None:
            status = self._status
            if status is None or status < 400:
                # An error status already named error.type (the conventions
                # prefer the code once one was received).
                kind = n.error_type(error)
                span.set_attribute(n.ERROR_TYPE, kind)
                metric[n.ERROR_TYPE] = kind
            if status is None and self._reused is not None:
                span.set_attribute(n.CONNECTION_REUSED, self._reused)  # failed before an answer
            span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
        span.end()
        if self._t.metrics:
            self._t.http_duration.record(time.perf_counter() - self._started, metric)

    # -- the call ------------------------------------------------------------------
    def call_start(self, request: Request) -> None:
        self.parent = otel_context.get_current()

    def call_end(self, request: Request) -> None:
        if not self._handshake_done:
            self.end_attempt(None)

    def call_failed(self, request: Request, error: BaseException) -> None:
        self.end_attempt(error)

    def connection_released(self, host: str, port: int) -> None:
        # An HTTP attempt ends when its body is done and the connection goes
        # back. Released before an answer means the attempt failed: the
        # interceptor ends it with the error. A handshake's span waits for
        # the call's verdict (a rejection is read, then raised; a 101 is
        # validated), or for the next hop.
        if self._status is not None and not self._handshake:
            self.end_attempt(None)

    # -- connection steps, as span events ------------------------------------------
    def dns_start(self, host: str) -> None:
        if self.span is not None:
            self.span.add_event(n.EVENT_DNS_START)

    def dns_end(self, host: str, addresses: list[str]) -> None:
        if self.span is not None:
            self.span.add_event(n.EVENT_DNS_END, {n.DNS_ADDRESSES: addresses})

    def connect_start(self, host: str, port: int) -> None:
        if self.span is not None:
            self.span.add_event(n.EVENT_CONNECT_START)

    def connect_end(self, host: str, port: int) -> None:
        if self.span is not None:
            self.span.add_event(n.EVENT_CONNECT_END)

    def connect_failed(self, host: str, port: int, error: BaseException) -> None:
        if self.span is not None:
            self.span.add_event(n.EVENT_CONNECT_FAILED, {n.ERROR_TYPE: n.error_type(error)})

    def secure_connect_start(self, host: str) -> None:
        if self.span is not None:
            self.span.add_event(n.EVENT_TLS_START)

    def secure_connect_end(self, host: str, tls_version: str | None) -> None:
        span = self.span
        if span is None:
            return
        parsed = n.tls_version(tls_version) if tls_version else None
        attributes = (
            {n.TLS_PROTOCOL_NAME: parsed[0], n.TLS_PROTOCOL_VERSION: parsed[1]} if parsed else {}
        )
        span.add_event(n.EVENT_TLS_END, attributes)
        if attributes:
            span.set_attributes(attributes)

    def connection_acquired(self, host: str, port: int, reused: bool) -> None:
        self._reused = reused  # set with the answer: one attribute call per attempt

    def response_headers_end(self, response: Response) -> None:
        if self.span is not None:
            self.span.add_event(n.EVENT_RESPONSE_HEADERS)

    # -- the WebSocket -------------------------------------------------------------
    def websocket_open(self, response: Response) -> None:
        request = response.request
        if request is None:
            return
        url = request.url
        host, port = url.host, url.port
        scheme = "wss" if url.scheme in ("https", "wss") else "ws"
        # The handshake's url.full with the WebSocket's scheme: it was
        # redacted once, when the attempt began.
        full = self._url_full
        if full:
            full = scheme + full[len(url.scheme) :]
        else:
            full = n.full_url(url, self._t.sensitive, scheme)
        handshake = self.span
        self._connection = self._t.tracer.start_span(
            "WebSocket",
            context=self.parent,
            kind=SpanKind.INTERNAL,
            attributes={
                n.URL_FULL: full,
                n.SERVER_ADDRESS: host,
                n.SERVER_PORT: port,
                n.URL_SCHEME: scheme,
            },
            links=[Link(handshake.get_span_context())] if handshake is not None else None,
        )
        self._opened = time.perf_counter()
        self._ws_metric = {
            n.SERVER_ADDRESS: host,
            n.SERVER_PORT: port,
            n.URL_SCHEME: scheme,
        }

    def websocket_negotiated(
        self, subprotocol: str | None, extensions: list[str], engine: str
    ) -> None:
        attributes: Attributes = {n.WS_ENGINE: engine}
        if subprotocol is not None:
            attributes[n.WS_SUBPROTOCOL] = subprotocol
        if extensions:
            attributes[n.WS_EXTENSIONS] = extensions
        if self.span is not None:
            if self._answer is not None:
                self.span.set_attributes({**self._answer, **attributes})
                self._answer = None
            else:
                self.span.set_attributes(attributes)
            self.end_attempt(None)
        self._negotiated = attributes  # the connection span gets them when it ends
        metric = self._ws_metric
        if metric is None or not self._t.metrics:
            return
        metric[n.WS_ENGINE] = engine
        self._traffic = self._t.track(self, metric)

    def websocket_ping_sent(self, payload: bytes) -> None:
        if self._pings is None:
            self._pings = {}
        self._pings.setdefault(payload, time.perf_counter())

    def websocket_pong_received(self, payload: bytes) -> None:
        if self._pings is None:
            return
        sent = self._pings.pop(payload, None)
        if sent is not None and self._t.metrics and self._ws_metric is not None:
            self._t.ws_ping.record(time.perf_counter() - sent, self._ws_metric)

    def websocket_closing(self, code: int, reason: str, by_peer: bool) -> None:
        self._initiator = "server" if by_peer else "client"
        if self._connection is not None:
            # When the close handshake began; the code, reason and initiator
            # are the span's own when it ends.
            self._connection.add_event(n.EVENT_WS_CLOSING)

    def websocket_closed(self, code: int, reason: str) -> None:
        self._end_connection(code, reason, None)

    def websocket_failed(self, error: BaseException) -> None:
        code = getattr(error, "code", 1006)
        reason = getattr(error, "reason", "")
        if self._initiator is None:
            by_peer = getattr(error, "by_peer", None)
            if by_peer is not None:
                self._initiator = "server" if by_peer else "client"
        self._end_connection(
            code if isinstance(code, int) else 1006,
            reason if isinstance(reason, str) else "",
            error,
        )

    def _end_connection(self, code: int, reason: str, error: BaseException | None) -> None:
        code = int(code)  # a CloseCode member is an int, but an attribute is a plain number
        counts = self._counts
        kind = n.error_type(error) if error is not None else None
        span = self._connection
        if span is not None:
            self._connection = None
            attributes: Attributes = {
                n.WS_CLOSE_CODE: code,
                n.WS_MESSAGES_SENT: counts[_SENT_TEXT] + counts[_SENT_BINARY],
                n.WS_MESSAGES_RECEIVED: counts[_RECV_TEXT] + counts[_RECV_BINARY],
            }
            if self._negotiated is not None:
                attributes.update(self._negotiated)
            if reason:
                attributes[n.WS_CLOSE_REASON] = reason
            if self._initiator is not None:
                attributes[n.WS_CLOSE_INITIATOR] = self._initiator
            if self._events_dropped:
                attributes[n.WS_MESSAGE_EVENTS_DROPPED] = self._events_dropped
            if error is not None:
                attributes[n.ERROR_TYPE] = kind
                span.record_exception(error)
                span.set_status(Status(StatusCode.ERROR, str(error)))
            span.set_attributes(attributes)
            span.end()
        metric = self._ws_metric
        if metric is None or not self._t.metrics:
            return
        self._ws_metric = None
        t = self._t
        if self._traffic is not None:
            t.retire(self, self._traffic, counts, (code, self._initiator, kind))
            self._traffic = None
        if kind is not None:
            metric = {**metric, n.ERROR_TYPE: kind}
        t.ws_duration.record(time.perf_counter() - self._opened, metric)

    # -- the reconnecting loop (its own listener) ----------------------------------
    def websocket_reconnect_scheduled(
        self, attempt: int, delay: float, cause: BaseException
    ) -> None:
        if self._t.metrics:
            self._t.ws_reconnects.add(1, {n.ERROR_TYPE: n.error_type(cause)})


class _CountingListener(_Listener):
    """Also counts every message (for the observable instruments) and, if asked, records it."""

    __slots__ = ()

    def websocket_message_sent(self, kind: str, size: int) -> None:
        counts = self._counts
        if kind == "text":
            counts[_SENT_TEXT] += 1
            counts[_SENT_TEXT_SIZE] += size
        else:
            counts[_SENT_BINARY] += 1
            counts[_SENT_BINARY_SIZE] += size
        if self._events_left:
            self._message_event("transmit", kind, size)
        elif self._t.message_events:
            self._events_dropped += 1

    def websocket_message_received(self, kind: str, size: int) -> None:
        counts = self._counts
        if kind == "text":
            counts[_RECV_TEXT] += 1
            counts[_RECV_TEXT_SIZE] += size
        else:
            counts[_RECV_BINARY] += 1
            counts[_RECV_BINARY_SIZE] += size
        if self._events_left:
            self._message_event("receive", kind, size)
        elif self._t.message_events:
            self._events_dropped += 1

    def _message_event(self, direction: str, kind: str, size: int) -> None:
        span = self._connection
        if span is None:
            return
        self._events_left -= 1
        span.add_event(
            n.EVENT_WS_MESSAGE,
            {n.NETWORK_IO_DIRECTION: direction, n.WS_OPCODE: kind, n.WS_MESSAGE_SIZE: size},
        )
