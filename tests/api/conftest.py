"""Fixtures for the API tests: apps on the fleet fake (tests/api/fakecore.py) and tokens.

The fake only plays the boundary the API owns (telemetryhub.api.contracts.GatewayView); the
`real_core`/`real_app` are the real GatewayCore on the simulator (integration and browser).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import ssl
import subprocess
import time
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from playwright.sync_api import Page, sync_playwright

from telemetryhub.api import ApiSettings, GatewayView, TlsSettings, create_app
from telemetryhub.api.server import ApiServer
from telemetryhub.core.gateway import CoreSettings, GatewayCore
from telemetryhub.device.simulator import SimulatedBoard
from telemetryhub.store.sqlite import SqliteStore
from tests.api.fakecore import FakeCore

OPERATOR = "op-token-123"
VIEWER = "viewer-token-456"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def openapi_path(rule: str) -> str:
    """A Flask rule as the OpenAPI document writes its path: /devices/<device_id> ->
    /devices/{device_id}."""
    return re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule)


def make_app(core: GatewayView, **overrides: object) -> Flask:
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


@contextlib.contextmanager
def serving(app: Flask) -> Iterator[ApiServer]:
    """`app` served on a free port of 127.0.0.1 (stopping it inside is fine)."""
    srv = ApiServer(app, "127.0.0.1", 0)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def page() -> Iterator[Page]:
    """A page of a real headless Chromium (the dashboard tests)."""
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser.new_page()
        finally:
            browser.close()


@pytest.fixture
def app_factory() -> object:
    """make_app, for tests that need other settings."""
    return make_app


@contextlib.contextmanager
def real_gateway(data_dir: Path, *device_ids: str) -> Iterator[GatewayCore]:
    """The real GatewayCore on simulated boards of these ids (Idle until told to start),
    SQLite in `data_dir`; every board connected before it is handed over."""
    store = SqliteStore.in_data_dir(data_dir)
    core = GatewayCore(store, CoreSettings(autostart=False), index=store)
    for device_id in device_ids:
        board = SimulatedBoard(device_id=device_id, period_ms=20)
        core.add_source(device_id, lambda board=board: board)
    core.open()
    deadline = time.monotonic() + 5
    while sum(d.connected for d in core.devices()) < len(device_ids):
        assert time.monotonic() < deadline, "the simulated boards never all connected"
        time.sleep(0.01)
    try:
        yield core
    finally:
        core.close()
        store.close()


@pytest.fixture
def real_core(tmp_path: Path) -> Iterator[GatewayCore]:
    """The real GatewayCore on one simulated board (sim-0001)."""
    with real_gateway(tmp_path, "sim-0001") as core:
        yield core


@pytest.fixture
def real_app(real_core: GatewayCore) -> Flask:
    return make_app(real_core)


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
