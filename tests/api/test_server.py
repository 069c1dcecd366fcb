"""ApiServer on real sockets (waitress; cheroot for TLS), the urllib client, the remote CLI."""

from __future__ import annotations

import json
import socket
import ssl
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from flask import Flask
from prometheus_client.parser import text_string_to_metric_families

from telemetryhub.api import TlsSettings
from telemetryhub.api.client import GatewayClient
from telemetryhub.api.server import ApiServer
from telemetryhub.cli.main import main
from telemetryhub.errors import ApiError
from tests.api.conftest import OPERATOR, bearer, raw_post
from tests.api.fakecore import DONE

MAX_BODY = 4096  # the ApiSettings default
POST_HEADERS = {**bearer(OPERATOR), "Content-Type": "application/json"}


@pytest.fixture
def server(app: Flask) -> Iterator[ApiServer]:
    srv = ApiServer(app, "127.0.0.1", 0, max_body_bytes=MAX_BODY)
    srv.start()
    yield srv
    srv.stop()


@dataclass(frozen=True)
class Served:
    """A running server and the client TLS context to reach it (None for plain HTTP)."""

    server: ApiServer
    context: ssl.SSLContext | None


@pytest.fixture(params=["waitress", "cheroot-tls"])
def served(request: pytest.FixtureRequest, app: Flask, tls: TlsSettings) -> Iterator[Served]:
    """The app on each server backend: waitress (HTTP) and cheroot (HTTPS)."""
    https = request.param == "cheroot-tls"
    srv = ApiServer(app, "127.0.0.1", 0, tls=tls if https else None, max_body_bytes=MAX_BODY)
    srv.start()
    yield Served(srv, ssl.create_default_context(cafile=tls.cert_path) if https else None)
    srv.stop()


def padded_fault(size: int) -> bytes:
    """A valid /fault body of exactly `size` bytes (JSON allows trailing blanks)."""
    body = b'{"mode": "none"}'
    return body + b" " * (size - len(body))


def test_a_body_of_exactly_max_body_bytes_is_accepted(served: Served) -> None:
    url, context = served.server.url, served.context
    answer = raw_post(url, "/fault", padded_fault(MAX_BODY), POST_HEADERS, context=context)
    assert (answer.status, answer.body) == (200, DONE)


@pytest.mark.parametrize(
    ("size", "declared", "chunked"),
    [
        (MAX_BODY + 1, None, False),
        (0, 50_000_000, False),  # more than waitress reads: still the app's answer
        (MAX_BODY + 1, None, True),
        (200_000, None, True),
    ],
    ids=["one-byte-over", "huge-declared", "chunked-over", "chunked-huge"],
)
def test_every_too_large_body_gets_the_apis_json_413_counted(
    served: Served, size: int, declared: int | None, chunked: bool
) -> None:
    url, context = served.server.url, served.context
    headers = {**POST_HEADERS, "X-Request-ID": "big-1"}
    body = padded_fault(size)
    answer = raw_post(url, "/fault", body, headers, declared, chunked, context)
    assert answer.status == 413
    assert answer.body == {
        "error": f"request body larger than {MAX_BODY} bytes",
        "status": 413,
        "request_id": "big-1",
    }
    assert answer.headers["x-request-id"] == "big-1"
    assert answer.headers["x-frame-options"] == "DENY"
    assert "default-src 'self'" in answer.headers["content-security-policy"]
    assert _requests_counted(served, "/fault", "413") == 1.0  # and the server still serves


def _requests_counted(served: Served, endpoint: str, status: str) -> float:
    with urllib.request.urlopen(
        served.server.url + "/metrics", timeout=5, context=served.context
    ) as r:
        text = r.read().decode()
    family = next(
        f for f in text_string_to_metric_families(text) if f.name == "telemetryhub_http_requests"
    )
    return sum(
        s.value
        for s in family.samples
        if s.name.endswith("_total")
        and s.labels["endpoint"] == endpoint
        and s.labels["status"] == status
    )


def test_serves_status_on_a_real_socket_and_stop_joins(app: Flask) -> None:
    srv = ApiServer(app, "127.0.0.1", 0)
    srv.start()
    assert srv.port > 0
    assert GatewayClient(srv.url).status()["state"] == "Idle"
    srv.stop()
    srv.stop()  # idempotent
    assert "http-server" not in {t.name for t in threading.enumerate()}
    with pytest.raises(ApiError) as info:
        GatewayClient(srv.url, timeout_s=2).status()
    assert info.value.status == 0


def test_client_raises_api_error_with_status(server: ApiServer) -> None:
    with pytest.raises(ApiError) as info:
        GatewayClient(server.url).start()
    assert info.value.status == 401
    client = GatewayClient(server.url, OPERATOR)
    assert client.start() == DONE
    with pytest.raises(ApiError) as info:
        client.start()
    assert info.value.status == 409
    assert "Measuring" in info.value.message
    assert client.fault("random", probability=0.5) == DONE
    assert client.period(200) == DONE
    assert client.stop() == DONE
    assert client.reset() == DONE


def test_remote_commands(
    server: ApiServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Through the CLI's entry point, which turns each answer into its exit code (cli/main.py).
    monkeypatch.delenv("TELEMETRYHUB_TOKEN", raising=False)
    url, op = ["--url", server.url], ["--url", server.url, "--token", OPERATOR]
    assert main(["status", *url]) == 0
    assert "state:   Idle" in capsys.readouterr().out
    assert main(["start", *url]) == 4  # 401
    err = capsys.readouterr().err
    assert "401" in err
    assert "TELEMETRYHUB_TOKEN" in err
    assert main(["start", *op]) == 0
    assert main(["fault", "deterministic", "3", *op]) == 0
    with pytest.raises(SystemExit) as usage:
        main(["fault", "random", "x", *op])
    assert usage.value.code == 2
    capsys.readouterr()
    assert main(["status", "--json", *url]) == 0
    assert json.loads(capsys.readouterr().out)["state"] in {"Measuring", "SafeState"}


def test_a_request_waitress_cannot_parse_is_still_answered_by_waitress(server: ApiServer) -> None:
    # Only a too-large body is handed to the app: a request whose headers cannot be parsed has
    # no path or method to route, so waitress's own plain-text 400 answers it.
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        sock.sendall(b"POST /fault HTTP/1.1\r\nHost: x\r\nContent-Length: nine\r\n\r\n")
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 400 Bad Request")
