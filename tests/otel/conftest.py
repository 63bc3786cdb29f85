"""The real OpenTelemetry SDK with its in-memory exporter and reader, one set per test."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import openwire_opentelemetry
import pytest
from opentelemetry.propagators.textmap import TextMapPropagator
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator


@dataclass
class Otel:
    exporter: InMemorySpanExporter
    reader: InMemoryMetricReader
    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    propagator: TextMapPropagator

    @property
    def tracer(self) -> Tracer:
        """A tracer of the test itself, for the parent span a call runs under."""
        return self.tracer_provider.get_tracer("tests")

    def settings(self, **options: Any) -> openwire_opentelemetry.Settings:
        options.setdefault("propagator", self.propagator)
        return openwire_opentelemetry.settings(
            tracer_provider=self.tracer_provider, meter_provider=self.meter_provider, **options
        )

    def spans(self) -> list[ReadableSpan]:
        return [
            s for s in self.exporter.get_finished_spans() if s.instrumentation_scope.name != "tests"
        ]

    def metrics(self) -> dict[str, list[tuple[dict[str, Any], Any]]]:
        """Each instrument's points: (attributes, value), the value a sum or a histogram count."""
        out: dict[str, list[tuple[dict[str, Any], Any]]] = {}
        data = self.reader.get_metrics_data()
        if data is None:
            return out
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    out[metric.name] = [
                        (
                            dict(point.attributes or {}),
                            point.value if hasattr(point, "value") else point.count,
                        )
                        for point in metric.data.data_points
                    ]
        return out


@pytest.fixture
def otel() -> Iterator[Otel]:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    yield Otel(exporter, reader, tracer_provider, meter_provider, TraceContextTextMapPropagator())
    tracer_provider.shutdown()
    meter_provider.shutdown()


def traceparent(span: ReadableSpan) -> str:
    """The ``traceparent`` a request sent inside ``span`` carries."""
    context = span.get_span_context()
    assert context.trace_flags.sampled
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"


def event_names(span: ReadableSpan) -> list[str]:
    return [event.name for event in span.events]
