"""Fixtures for the API tests: a tiny in-test GatewayView fake, apps and tokens.

The fake only plays the boundary the API owns (telemetryhub.api.contracts.GatewayView); the
`real_core`/`real_app` are the real GatewayCore on the simulator (integration and browser).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import ssl
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from telemetryhub.api import ApiSettings, TlsSettings, create_app
from telemetryhub.core.gateway import CoreSettings, GatewayCore
from telemetryhub.core.metrics import LatencyHistogram
from telemetryhub.device.simulator import SimulatedBoard
from telemetryhub.errors import DeviceNotConnectedError, InvalidStateError
from telemetryhub.models import DeviceState, Fault, FaultMode, Sample
from telemetryhub.store.sqlite import SqliteStore

OPERATOR = "op-token-123"
VIEWER = "viewer-token-456"


class FakeStore:
    """Query over the fake's samples."""

    def __init__(self, core: FakeCore) -> None:
        self._core = core

    def query(
        self,
        device_id: str | None = None,
        since_ts: float | None = None,
        until_ts: float | None = None,
        limit: int = 1000,
    ) -> list[Sample]:
        found = [
            s
            for s in self._core.all_samples()
            if (device_id is None or s.device_id == device_id)
            and (since_ts is None or s.ts >= since_ts)
            and (until_ts is None or s.ts <= until_ts)
        ]
        return found[:limit]


class FakeCore:
    """A board simulated lazily: each read adds the samples its period says are due."""

    def __init__(self, period_ms: int = 50) -> None:
        self.uplinks: dict[str, object] = {}
        self.extra_metrics: dict[str, object] = {}  # merged into status()["metrics"]
        self.extra_link: dict[str, object] = {}  # merged into status()["link"]
        self.extra_device: dict[str, object] = {}  # merged into status()["device"]
        self.state_label: str | None = None  # reported instead of the simulated state
        self.health_problems: list[str] = []
        self.boot_id = 0x1234ABCD
        self.connected = True
        self.period_ms = period_ms
        self.queue_depth = 0
        self.calls: list[str] = []
        self._state = DeviceState.IDLE
        self._fault = Fault(FaultMode.NONE)
        self._samples: list[Sample] = []
        self._seq = 0
        self._last_s = time.time()
        self._lock = threading.Lock()
        self.store = FakeStore(self)
        self.latency = LatencyHistogram()

    def start(self) -> None:
        self._command("start", DeviceState.IDLE, DeviceState.MEASURING)
        self._last_s = time.time()

    def stop(self) -> None:
        self._command("stop", DeviceState.MEASURING, DeviceState.IDLE)

    def reset_device(self) -> None:
        self._command("reset", None, DeviceState.IDLE)
        self._fault = Fault(FaultMode.NONE)

    def inject_fault(self, fault: Fault) -> None:
        self._command("fault", None, None)
        self._fault = fault

    def set_period(self, period_ms: int) -> None:
        self._command("period", None, None)
        self.period_ms = period_ms

    def health(self) -> list[str]:
        return list(self.health_problems)

    def device_state(self) -> DeviceState:
        with self._lock:
            self._advance()
            return self._state

    def all_samples(self) -> list[Sample]:
        with self._lock:
            self._advance()
            return list(self._samples)

    def recent_samples(self, seconds: float) -> list[Sample]:
        cutoff = time.time() - seconds
        return [s for s in self.all_samples() if s.ts >= cutoff]

    def status(self) -> Mapping[str, object]:
        with self._lock:
            self._advance()
            last = self._samples[-1] if self._samples else None
            return {
                "ts": time.time(),
                "state": self.state_label or self._state.label,
                "latest_sample": None
                if last is None
                else {"seq": last.seq, "value": last.value, "unit": last.unit, "ts": last.ts},
                "metrics": {
                    "samples_processed": self._seq,
                    "samples_stored": self._seq,
                    "samples_dropped": 0,
                    "dropped_shutdown": 0,
                    "samples_lost": 0,
                    "lost_board_overflow": 0,
                    "lost_downtime": 0,
                    "rejected_out_of_range": 0,
                    "pool_jobs_processed": self._seq,
                    "pool_jobs_queued": 0,
                    "pool_num_threads": 4,
                    "queue_depth": self.queue_depth,
                    "queue_capacity": 1000,
                    **self.extra_metrics,
                },
                "link": {
                    "connected": self.connected,
                    "crc_errors": 0,
                    "reconnects": 0,
                    **self.extra_link,
                },
                "device": self._device(),
                "uplinks": self.uplinks,
            }

    def _device(self) -> dict[str, object] | None:
        if not self.connected:
            return None
        return {
            "id": "fake-1",
            "firmware": "0.0-fake",
            "boot_id": self.boot_id,
            "protocol": "1.0",
            "period_ms": self.period_ms,
            "fault": {
                "mode": self._fault.mode.name.lower(),
                "probability": self._fault.probability
                if self._fault.mode is FaultMode.RANDOM
                else None,
                "count": None
                if self._fault.mode in (FaultMode.NONE, FaultMode.RANDOM)
                else self._fault.count,
            },
            **self.extra_device,
        }

    def _command(self, name: str, need: DeviceState | None, to: DeviceState | None) -> None:
        with self._lock:
            self.calls.append(name)
            if not self.connected:
                raise DeviceNotConnectedError("no board connected")
            self._advance()
            if need is not None and self._state is not need:
                raise InvalidStateError(3, f"{name} refused in state {self._state.label}")
            if to is not None:
                self._state = to

    def _advance(self) -> None:
        now = time.time()
        due = int((now - self._last_s) * 1000 // self.period_ms)
        if self._state is not DeviceState.MEASURING or due <= 0:
            if self._state is not DeviceState.MEASURING:
                self._last_s = now
            return
        for _ in range(min(due, 2000)):
            self._seq += 1
            self._samples.append(
                Sample("fake-1", 1, self._seq, self._seq, now, 20.0 + (self._seq % 17) / 4, 0, "C")
            )
            mode, count = self._fault.mode, self._fault.count
            if mode is FaultMode.DETERMINISTIC and count > 0:
                self._fault = replace(self._fault, count=count - 1)
                if count == 1:
                    self._state = DeviceState.SAFE_STATE
                    break
        self._samples = self._samples[-5000:]
        self._last_s = now


def make_app(core: FakeCore, **overrides: object) -> Flask:
    """An app on `core` with test tokens; `overrides` change ApiSettings fields."""
    fields: dict[str, object] = {
        "operator_tokens": (OPERATOR,),
        "viewer_tokens": (VIEWER,),
        "rate_per_s": 0.0,
    }
    fields.update(overrides)
    app = create_app(core, ApiSettings(**fields))  # type: ignore[arg-type]
    app.testing = True
    return app


@pytest.fixture
def core() -> FakeCore:
    return FakeCore()


@pytest.fixture
def app(core: FakeCore) -> Flask:
    return make_app(core)


@pytest.fixture
def client(app: Flask) -> Iterator[FlaskClient]:
    with app.test_client() as c:
        yield c


def bearer(token: str) -> dict[str, str]:
    """Authorization header for `token`."""
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def op_headers() -> dict[str, str]:
    return bearer(OPERATOR)


@pytest.fixture
def viewer_headers() -> dict[str, str]:
    return bearer(VIEWER)


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsSettings:
    """A self-signed certificate for 127.0.0.1 and its key."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "c.pem", folder / "k.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return TlsSettings(str(cert), str(key))


@pytest.fixture
def app_factory() -> object:
    """make_app, for tests that need other settings."""
    return make_app


@pytest.fixture
def real_core(tmp_path: Path) -> Iterator[GatewayCore]:
    """The real GatewayCore on the simulated board (Idle until told to start), SQLite in tmp."""
    store = SqliteStore.in_data_dir(tmp_path)
    board = SimulatedBoard(period_ms=20)
    core = GatewayCore(store, CoreSettings(autostart=False), index=store)
    core.add_source("sim", lambda: board)
    core.open()
    deadline = time.monotonic() + 5
    while not ((device := core.device()) and device.connected):
        assert time.monotonic() < deadline, "the simulated board never connected"
        time.sleep(0.01)
    yield core
    core.close()
    store.close()


@pytest.fixture
def real_app(real_core: GatewayCore) -> Flask:
    return make_app(real_core)  # type: ignore[arg-type]


@dataclass(frozen=True)
class RawAnswer:
    """What a server sent back to `raw_post`: status, headers (lower-case names), JSON body."""

    status: int
    headers: dict[str, str]
    body: object


def raw_post(
    url: str,
    path: str,
    body: bytes,
    headers: Mapping[str, str],
    declared_length: int | None = None,
    chunked: bool = False,
    context: ssl.SSLContext | None = None,
) -> RawAnswer:
    """POST `body` on a fresh connection exactly as given: `declared_length` may claim more
    bytes than are sent (the server must answer from the headers alone), `chunked` sends it
    with Transfer-Encoding: chunked in 1 kB chunks."""
    parts = urllib.parse.urlsplit(url)
    assert parts.hostname is not None
    conn = (
        http.client.HTTPSConnection(parts.hostname, parts.port, context=context, timeout=10)
        if parts.scheme == "https"
        else http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    )
    try:
        conn.putrequest("POST", path)
        for name, value in headers.items():
            conn.putheader(name, value)
        if chunked:
            conn.putheader("Transfer-Encoding", "chunked")
        else:
            conn.putheader(
                "Content-Length", str(len(body) if declared_length is None else declared_length)
            )
        conn.endheaders()
        # A server that stops reading a body too large for it answers and closes; our sending
        # the rest then fails with a reset, and its answer is still in our receive buffer.
        with contextlib.suppress(OSError):  # ConnectionError, or SSLEOFError over TLS
            _send_body(conn, body, chunked)
        response = conn.getresponse()
        raw = response.read()
        names = {k.lower(): v for k, v in response.getheaders()}
        try:
            parsed: object = json.loads(raw)
        except ValueError:
            parsed = raw.decode("utf-8", "replace")  # shown as is when a test expected JSON
        return RawAnswer(response.status, names, parsed)
    finally:
        conn.close()


def _send_body(conn: http.client.HTTPConnection, body: bytes, chunked: bool) -> None:
    if not chunked:
        conn.send(body)
        return
    for start in range(0, len(body), 1024):
        piece = body[start : start + 1024]
        conn.send(b"%x\r\n%s\r\n" % (len(piece), piece))
    conn.send(b"0\r\n\r\n")
