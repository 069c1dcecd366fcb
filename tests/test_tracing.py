"""OpenTelemetry tracing with the SDK's in-memory exporter: a real core on the simulator with a
real HTTP uplink to a local server, and the REST app; off, every hook is a pass-through."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from telemetryhub import tracing
from telemetryhub.config import TracingSettings
from telemetryhub.core.gateway import CoreSettings, GatewayCore
from telemetryhub.device.base import SampleBatch
from telemetryhub.device.simulator import SimulatedBoard
from telemetryhub.errors import ConfigError
from telemetryhub.fleet.loop import LoopSettings
from telemetryhub.fleet.port import PortSettings
from telemetryhub.models import DeviceInfo, DeviceState, Sample
from telemetryhub.store import SqliteStore
from telemetryhub.uplink.http import http_uplink
from telemetryhub.uplink.settings import ForwarderSettings, HttpUplinkSettings
from tests.api.conftest import FakeCore, make_app

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    tracing.install(exporter, "telemetryhub-test", batch=False)
    yield exporter
    tracing.shutdown()


class _Recorder:
    """A local HTTP endpoint that answers 200 and keeps each request's traceparent."""

    def __init__(self) -> None:
        self.traceparents: list[str] = []
        self.got = threading.Event()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                recorder.traceparents.append(self.headers.get("traceparent", ""))
                recorder.got.set()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/ingest"
        self.thread = threading.Thread(target=self.server.serve_forever, name="test-recorder")


@pytest.fixture
def recorder() -> Iterator[_Recorder]:
    rec = _Recorder()
    rec.thread.start()
    yield rec
    rec.server.shutdown()
    rec.server.server_close()
    rec.thread.join()


def _named(exporter: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.name == name]


def test_a_batch_is_traced_from_store_to_the_http_uplink_which_carries_traceparent(
    spans: InMemorySpanExporter, recorder: _Recorder, tmp_path: Path
) -> None:
    store = SqliteStore(tmp_path / "t.db")
    forwarding = ForwarderSettings(rate_limit_sps=0, poll_interval_s=0.02)
    uplink = http_uplink(
        store, HttpUplinkSettings(endpoints=(recorder.url,), forwarding=forwarding)
    )
    link = LoopSettings(port=PortSettings(backoff_max_s=0.1))
    core = GatewayCore(store, CoreSettings(link=link), [uplink], index=store)
    core.add_source("sim", lambda: SimulatedBoard(fast=True))
    core.open()
    try:
        assert recorder.got.wait(20), "the uplink never posted"
        deadline = time.monotonic() + 10
        while not _named(spans, "uplink deliver") and time.monotonic() < deadline:
            recorder.got.clear()
            recorder.got.wait(1)
    finally:
        core.close()
        store.close()
    stored = _named(spans, "store batch")
    delivered = _named(spans, "uplink deliver")
    assert stored
    assert delivered
    first = stored[0].attributes or {}
    assert first["telemetryhub.device_id"] == "sim-0001"
    assert int(str(first["telemetryhub.samples"])) > 0
    batch_ids = {s.context.span_id for s in stored}
    linked = {link.context.span_id for span in delivered for link in span.links}
    assert linked
    assert linked <= batch_ids  # each delivery points at the batches whose samples it carries
    trace_ids = {f"{span.context.trace_id:032x}" for span in delivered}
    sent = {parent.split("-")[1] for parent in recorder.traceparents if parent}
    assert sent
    assert sent <= trace_ids  # the far end can join the gateway's trace


def test_a_rest_request_is_a_server_span_under_the_callers_traceparent(
    spans: InMemorySpanExporter,
) -> None:
    client = make_app(FakeCore()).test_client()
    assert client.get("/health", headers={"traceparent": TRACEPARENT}).status_code == 200
    (span,) = _named(spans, "HTTP GET")
    assert f"{span.context.trace_id:032x}" == TRACEPARENT.split("-")[1]
    assert span.parent is not None
    assert f"{span.parent.span_id:016x}" == TRACEPARENT.split("-")[2]
    assert (span.attributes or {})["http.response.status_code"] == 200


def test_without_tracing_every_hook_passes_through() -> None:
    headers: dict[str, str] = {}
    tracing.inject(headers)
    assert headers == {}
    sample = Sample("d", 1, 0, 0, 0.0, 0.0, 0, "C")
    info = DeviceInfo("d", "fw", 1, 1, 1, 64, 100, "C", 0, DeviceState.IDLE)
    batch = SampleBatch(info, (sample,), resend=False)
    with tracing.batch_span(batch), tracing.delivery_span("mqtt", [sample]):
        pass
    tracing.start(TracingSettings())  # disabled: installs nothing
    assert make_app(FakeCore()).test_client().get("/health").status_code == 200


def test_the_console_exporter_is_configurable_and_a_missing_sdk_is_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tracing.start(TracingSettings(enabled=True, exporter="console"))
    tracing.shutdown()
    tracing.shutdown()  # idempotent
    exporter_module = "opentelemetry.exporter.otlp.proto.http.trace_exporter"
    monkeypatch.setitem(sys.modules, exporter_module, None)  # as if the extra were missing
    with pytest.raises(ConfigError, match=r"pip install 'telemetryhub\[tracing\]'"):
        tracing.start(TracingSettings(enabled=True))


def test_the_otlp_exporter_is_built_for_the_configured_endpoint() -> None:
    tracing.start(TracingSettings(enabled=True, endpoint="http://127.0.0.1:9/v1/traces"))
    tracing.shutdown()  # nothing was traced, so nothing is sent to the dead endpoint
