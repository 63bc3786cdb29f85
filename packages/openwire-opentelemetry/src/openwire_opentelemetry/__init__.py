"""OpenTelemetry traces and metrics for openwire's HTTP calls and WebSockets.

::

    from openwire import Client
    import openwire_opentelemetry

    client = Client(**openwire_opentelemetry.settings(tracer_provider=tp, meter_provider=mp))

Built only on openwire's public :class:`~openwire.EventListener` and network
interceptors: :func:`settings` returns the two client settings that carry
it (``event_listener_factory`` and ``network_interceptors``), composed with
the application's own, because a client's configuration is frozen. The
names it records are in the package README and :mod:`._names`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypedDict

from opentelemetry import metrics, trace
from openwire import Client, ClientConfig, fan_out

from openwire_opentelemetry._names import (
    DEFAULT_SENSITIVE_QUERY_PARAMETERS,
    SCHEMA_URL,
    SEMCONV_VERSION,
)
from openwire_opentelemetry._telemetry import Telemetry

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.propagators.textmap import TextMapPropagator
    from opentelemetry.trace import TracerProvider
    from openwire.events import EventListenerFactory
    from openwire.interfaces import Interceptor

__all__ = [
    "DEFAULT_SENSITIVE_QUERY_PARAMETERS",
    "SEMCONV_VERSION",
    "Settings",
    "__version__",
    "instrument",
    "settings",
]

__version__ = "0.1.0"


class Settings(TypedDict):
    """The client settings :func:`settings` returns: pass them as ``Client(**settings)``."""

    event_listener_factory: EventListenerFactory | None
    network_interceptors: tuple[Interceptor, ...]


def settings(
    *,
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
    propagator: TextMapPropagator | None = None,
    config: ClientConfig | None = None,
    event_listener_factory: EventListenerFactory | None = None,
    network_interceptors: Sequence[Interceptor] = (),
    metrics_enabled: bool = True,
    message_events: bool = False,
    max_message_events: int = 100,
    sensitive_query_parameters: Iterable[str] = DEFAULT_SENSITIVE_QUERY_PARAMETERS,
    enabled: bool = True,
) -> Settings:
    """Client settings that trace and measure every call: ``Client(**settings(...))``.

    ``tracer_provider`` / ``meter_provider``: where spans and measurements
    go (``None``: the global ones, as every OpenTelemetry instrumentation
    does). ``propagator``: what writes the trace context into each attempt
    (``None``: the global one, W3C ``traceparent``/``tracestate`` and baggage
    unless configured otherwise), read at each attempt so a propagator set
    after the client was made is used.

    Your own listener and network interceptors are kept: pass them here, not
    to ``Client`` next to these settings (the keywords would collide). They
    come from ``config`` (an existing client's ``client.config``) and from
    ``event_listener_factory`` / ``network_interceptors``; every listener
    sees every event (:func:`openwire.fan_out`), and the tracing interceptor
    runs first, so yours see the ``traceparent`` it adds.

    ``metrics_enabled=False`` records no metrics (and counts no messages).
    ``message_events=True`` adds one span event per WebSocket message to
    the connection's span, up to ``max_message_events`` per connection (the
    rest are counted in ``openwire.websocket.message_events.dropped``).
    ``sensitive_query_parameters`` replaces the list of query keys whose
    values ``url.full`` shows as ``REDACTED``. ``enabled=False`` returns
    only your own listener and interceptors: no telemetry, no cost.
    """
    own_factory = fan_out(
        config.event_listener_factory if config is not None else None, event_listener_factory
    )
    own_interceptors = (
        *(config.network_interceptors if config is not None else ()),
        *network_interceptors,
    )
    if not enabled:
        return Settings(event_listener_factory=own_factory, network_interceptors=own_interceptors)
    telemetry = Telemetry(
        tracer=trace.get_tracer(
            __name__, __version__, tracer_provider=tracer_provider, schema_url=SCHEMA_URL
        ),
        meter=(
            metrics.get_meter(
                __name__, __version__, meter_provider=meter_provider, schema_url=SCHEMA_URL
            )
            if metrics_enabled
            else None
        ),
        propagator=propagator,
        message_events=message_events,
        max_message_events=max_message_events,
        sensitive_query_parameters=sensitive_query_parameters,
    )
    return Settings(
        event_listener_factory=fan_out(own_factory, telemetry.new_listener),
        network_interceptors=(telemetry.interceptor, *own_interceptors),
    )


def instrument(client: Client, **options: Any) -> Client:
    """A new client with ``client``'s configuration plus telemetry (:func:`settings`' options).

    The configuration is frozen, so ``client`` itself is left as it was; the
    new client has pools of its own. Close the old one if you no longer use it.
    """
    return Client(config=client.config, **settings(config=client.config, **options))
