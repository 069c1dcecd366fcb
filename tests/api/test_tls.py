"""ApiServer with TLS: HTTPS on a real socket with a self-signed certificate, refusals, stop."""

from __future__ import annotations

import json
import re
import ssl
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from telemetryhub.api import TlsSettings
from telemetryhub.api.server import ApiServer, _ssl_adapter
from telemetryhub.errors import ConfigError


@pytest.fixture
def https_server(app: Flask, tls: TlsSettings) -> Iterator[ApiServer]:
    srv = ApiServer(app, "127.0.0.1", 0, tls=tls)
    srv.start()
    yield srv
    srv.stop()


def test_serves_health_over_https(https_server: ApiServer, tls: TlsSettings) -> None:
    assert https_server.port > 0
    assert https_server.url == f"https://127.0.0.1:{https_server.port}"
    context = ssl.create_default_context(cafile=tls.cert_path)
    with urllib.request.urlopen(f"{https_server.url}/health", context=context, timeout=5) as r:
        assert r.status == 200
        assert isinstance(json.loads(r.read()), dict)


def test_server_context_requires_tls_1_2_or_newer(tls: TlsSettings) -> None:
    # A client offering only TLS 1.0/1.1 cannot be built without deprecated settings that the
    # local OpenSSL refuses anyway, so the server's own context is checked instead.
    context = _ssl_adapter(tls).context
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2


def test_plain_http_to_the_tls_port_fails(https_server: ApiServer) -> None:
    with pytest.raises((urllib.error.URLError, ConnectionError)):
        urllib.request.urlopen(f"http://127.0.0.1:{https_server.port}/health", timeout=5)


def test_stop_joins_and_is_idempotent(app: Flask, tls: TlsSettings) -> None:
    srv = ApiServer(app, "127.0.0.1", 0, tls=tls)
    srv.start()
    srv.stop()
    srv.stop()
    assert "http-server" not in {t.name for t in threading.enumerate()}
    unstarted = ApiServer(app, "127.0.0.1", 0, tls=tls)
    unstarted.stop()


def test_missing_certificate_is_a_config_error_naming_it(app: Flask, tls: TlsSettings) -> None:
    with pytest.raises(ConfigError, match=r"certificate '/nonexistent/c\.pem'"):
        ApiServer(app, "127.0.0.1", 0, tls=TlsSettings("/nonexistent/c.pem", tls.key_path))


def test_unreadable_key_is_a_config_error_naming_it(
    app: Flask, tls: TlsSettings, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match=re.escape(f"private key '{tmp_path}'")):
        ApiServer(app, "127.0.0.1", 0, tls=TlsSettings(tls.cert_path, str(tmp_path)))


def test_mismatched_pair_is_a_config_error(app: Flask, tls: TlsSettings) -> None:
    swapped = TlsSettings(tls.key_path, tls.cert_path)
    with pytest.raises(ConfigError, match="cannot be loaded"):
        ApiServer(app, "127.0.0.1", 0, tls=swapped)


def test_encrypted_key_is_a_config_error_not_a_prompt(
    app: Flask, tls: TlsSettings, tmp_path: Path
) -> None:
    key = tmp_path / "encrypted.pem"
    subprocess.run(
        [
            *("openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"),
            *("-aes256", "-pass", "pass:secret", "-out", str(key)),
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    with pytest.raises(ConfigError, match="unencrypted"):
        ApiServer(app, "127.0.0.1", 0, tls=TlsSettings(tls.cert_path, str(key)))


def test_https_without_the_tls_extra_is_a_config_error_naming_it(
    app: Flask, tls: TlsSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "cheroot.ssl.builtin", None)  # as if not installed
    with pytest.raises(ConfigError, match=r"needs cheroot.*pip install 'telemetryhub\[tls\]'"):
        ApiServer(app, "127.0.0.1", 0, tls=tls)
