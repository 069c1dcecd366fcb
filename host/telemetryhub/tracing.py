"""OpenTelemetry tracing, off unless configured: one span per stored batch, per uplink delivery
and per REST request, and the W3C trace context on the HTTP uplink's requests.

Until `install` (or `start` with `[tracing] enabled = true`) every function here is a no-op that
imports nothing of OpenTelemetry, whose SDK is the optional `tracing` extra. The spans:

- "store batch" (ended on a core-worker thread): one batch of one boot from its arrival (the
  read of the link, where arrival-to-commit latency starts) through the queue, validation and
  the store's commit to the settle that acks it; attributes: device, boot, seq range.
- "uplink deliver" (the uplink's thread): one delivery, *linked* to the "store batch" spans of
  the samples it carries (a delivery mixes batches, so links rather than one parent). The links
  come from a bounded in-memory index, so deliveries of samples stored before a restart, or
  long ago, carry none.
- "HTTP <method>" (the server's threads): a REST request, child of an incoming `traceparent`.

MQTT 3.1.1, which the MQTT uplink speaks, has no user properties: its messages carry no trace
context (that needs MQTT 5).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from telemetryhub.errors import ConfigError
from telemetryhub.models import Sample

if TYPE_CHECKING:  # the SDK is optional, and config stays out of core's imports: types only
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import SpanContext, Tracer

    from telemetryhub.config import TracingSettings
    from telemetryhub.device.base import SampleBatch

_BATCHES_PER_BOOT = 512  # store-batch spans remembered per (device, boot) for uplink links
_MAX_LINKS = 32
_NOOP = contextlib.nullcontext()

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class _Index:
    """Recent store-batch spans by (device, boot): seq ranges -> span context. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spans: dict[tuple[str, int], deque[tuple[int, int, SpanContext]]] = {}

    def add(self, device_id: str, boot_id: int, first: int, last: int, ctx: SpanContext) -> None:
        with self._lock:
            spans = self._spans.setdefault((device_id, boot_id), deque(maxlen=_BATCHES_PER_BOOT))
            spans.append((first, last, ctx))

    def find(self, samples: Sequence[Sample]) -> list[SpanContext]:
        """The contexts of the batches that hold any of `samples` (at most _MAX_LINKS)."""
        found: dict[int, SpanContext] = {}
        with self._lock:
            for (device_id, boot_id), (low, high) in _ranges(samples).items():
                for first, last, ctx in self._spans.get((device_id, boot_id), ()):
                    if first <= high and last >= low:
                        found.setdefault(ctx.span_id, ctx)
        return list(found.values())[:_MAX_LINKS]


_state_lock = threading.Lock()
_provider: TracerProvider | None = None
_tracer: Tracer | None = None
_index = _Index()


def start(settings: TracingSettings) -> None:
    """Trace as `settings` say (nothing when disabled); ConfigError without the SDK."""
    if settings.enabled:
        install(_exporter(settings), settings.service_name)


def install(
    exporter: SpanExporter, service_name: str = "telemetryhub", batch: bool = True
) -> None:
    """Send spans to `exporter` from now on (`batch=False`: at once, for tests)."""
    global _provider, _tracer
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    processor = BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter)
    provider.add_span_processor(processor)
    with _state_lock:
        _provider, _tracer = provider, provider.get_tracer("telemetryhub")


def shutdown() -> None:
    """Export what is pending and go back to no-op; idempotent."""
    global _provider, _tracer, _index
    with _state_lock:
        provider, _provider, _tracer, _index = _provider, None, None, _Index()
    if provider is not None:
        provider.shutdown()


def batch_span(batch: SampleBatch) -> contextlib.AbstractContextManager[Any]:
    """The "store batch" span of `batch`: from its arrival (the read of the link) through
    validation and the store's commit to the settle that acks it."""
    tracer = _tracer
    if tracer is None or not batch.samples:
        return _NOOP
    return _batch_span(tracer, batch)


@contextlib.contextmanager
def _batch_span(tracer: Tracer, batch: SampleBatch) -> Iterator[None]:
    device_id, boot_id = batch.device.device_id, batch.device.boot_id
    first, last = batch.samples[0].seq, batch.samples[-1].seq
    attributes: dict[str, str | int] = {
        "telemetryhub.device_id": device_id,
        "telemetryhub.boot_id": boot_id,
        "telemetryhub.samples": len(batch.samples),
        "telemetryhub.seq_first": first,
        "telemetryhub.seq_last": last,
        "telemetryhub.resend": int(batch.resend),
    }
    waited_ns = max(0, int((time.monotonic() - batch.received_at) * 1e9))
    start_ns = time.time_ns() - waited_ns if batch.received_at else None
    with tracer.start_as_current_span(
        "store batch", attributes=attributes, start_time=start_ns
    ) as span:
        _index.add(device_id, boot_id, first, last, span.get_span_context())
        yield


def delivery_span(
    uplink: str, samples: Sequence[Sample]
) -> contextlib.AbstractContextManager[Any]:
    """The "uplink deliver" span around handing `samples` to uplink `uplink`'s far end."""
    tracer = _tracer
    if tracer is None:
        return _NOOP
    from opentelemetry.trace import Link

    links = [Link(ctx) for ctx in _index.find(samples)]
    attributes: dict[str, str | int] = {
        "telemetryhub.uplink": uplink,
        "telemetryhub.samples": len(samples),
    }
    return tracer.start_as_current_span("uplink deliver", links=links, attributes=attributes)


def inject(headers: dict[str, str]) -> None:
    """Add the current span's W3C `traceparent` to outgoing HTTP `headers` (if tracing)."""
    if _tracer is None:
        return
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    TraceContextTextMapPropagator().inject(headers)


class TracedWsgi:
    """WSGI middleware: a server span per request, child of the request's `traceparent`."""

    def __init__(self, app: WsgiApp) -> None:
        self._app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        tracer = _tracer
        if tracer is None:
            return self._app(environ, start_response)
        return self._traced(tracer, environ, start_response)

    def _traced(
        self, tracer: Tracer, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Any:
        from opentelemetry.trace import SpanKind
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        carrier = {"traceparent": environ.get("HTTP_TRACEPARENT", "")}
        parent = TraceContextTextMapPropagator().extract(carrier)
        method = str(environ.get("REQUEST_METHOD", "GET"))
        attributes = {"http.request.method": method, "url.path": environ.get("PATH_INFO", "")}
        with tracer.start_as_current_span(
            f"HTTP {method}", context=parent, kind=SpanKind.SERVER, attributes=attributes
        ) as span:

            def traced_start(status: str, headers: Any, *exc_info: Any) -> Any:
                span.set_attribute("http.response.status_code", int(status.split()[0]))
                return start_response(status, headers, *exc_info)

            return self._app(environ, traced_start)


def _exporter(settings: TracingSettings) -> SpanExporter:
    try:
        if settings.exporter == "console":
            from opentelemetry.sdk.trace.export import ConsoleSpanExporter

            return ConsoleSpanExporter()
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError as exc:
        raise ConfigError(
            "[tracing] enabled = true: OpenTelemetry is not installed "
            "(pip install 'telemetryhub[tracing]')"
        ) from exc
    return OTLPSpanExporter(endpoint=settings.endpoint)


def _ranges(samples: Sequence[Sample]) -> dict[tuple[str, int], tuple[int, int]]:
    ranges: dict[tuple[str, int], tuple[int, int]] = {}
    for s in samples:
        low, high = ranges.get((s.device_id, s.boot_id), (s.seq, s.seq))
        ranges[(s.device_id, s.boot_id)] = (min(low, s.seq), max(high, s.seq))
    return ranges
