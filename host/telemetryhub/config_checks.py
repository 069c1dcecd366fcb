"""Rules a whole Settings must meet beyond each key's own kind: keys that go together, and
files that must be readable and usable (checked at start and at every reload)."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import TYPE_CHECKING

from telemetryhub.errors import ConfigError

if TYPE_CHECKING:  # config imports this module; the types are only for annotations
    from telemetryhub.config import MqttSettings, Settings


def unreadable(path: Path) -> str | None:
    """Why the file at `path` cannot be read ("not found", "permission denied", ...), or None."""
    try:
        with path.open("rb"):
            return None
    except FileNotFoundError:
        return "not found"
    except IsADirectoryError:
        return "is a directory, not a file"
    except PermissionError:
        return "cannot be read: permission denied"
    except OSError as exc:
        return f"cannot be read: {exc.strerror or exc}"


def check_consistent(settings: Settings) -> None:
    """Rules that tie keys together, and the files that [mqtt] TLS will read."""
    v = settings.validation
    if v.min_value > v.max_value:
        raise ConfigError(
            f"[validation] min_value = {v.min_value!r}, max_value = {v.max_value!r}: "
            "expected min_value <= max_value"
        )
    h = settings.http
    if bool(h.tls_cert) != bool(h.tls_key):
        raise ConfigError(
            f"[http] tls_cert = {h.tls_cert!r}, tls_key = {h.tls_key!r}: "
            "expected both set (HTTPS) or both empty (HTTP)"
        )
    u = settings.uplink_http
    if u.enabled and not u.endpoints:
        raise ConfigError(
            "[uplink_http] enabled = True, endpoints = '': expected at least one endpoint URL"
        )
    _check_mqtt_tls(settings.mqtt)


def _check_mqtt_tls(mqtt: MqttSettings) -> None:
    """The TLS files of [mqtt] are readable when used, and never set only to be ignored."""
    files = {"ca_certs": mqtt.ca_certs, "certfile": mqtt.certfile, "keyfile": mqtt.keyfile}
    for key, value in files.items():
        if value and not mqtt.tls:
            raise ConfigError(
                f"[mqtt] {key} = {value!r} with tls = false: expected tls = true to use it, "
                f"or {key} empty"
            )
    if mqtt.keyfile and not mqtt.certfile:
        raise ConfigError(
            f"[mqtt] keyfile = {mqtt.keyfile!r}, certfile = '': expected the certificate too"
        )
    for key, value in files.items():
        problem = unreadable(Path(value)) if value else None
        if problem is not None:
            raise ConfigError(f"[mqtt] {key} = {value!r}: the file {problem}")
    if mqtt.tls:
        _check_mqtt_pem(mqtt)


def _check_mqtt_pem(mqtt: MqttSettings) -> None:
    """Load the files as paho's tls_set will, so a bad one is refused here, not in its thread."""
    try:
        context = ssl.create_default_context(cafile=mqtt.ca_certs or None)
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(
            f"[mqtt] ca_certs = {mqtt.ca_certs!r}: not a PEM CA file ({exc})"
        ) from None
    if not mqtt.certfile:
        return
    try:
        # An encrypted key would make OpenSSL prompt on the terminal; an empty password refuses it
        context.load_cert_chain(mqtt.certfile, mqtt.keyfile or None, password=lambda: b"")
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(
            f"[mqtt] certfile = {mqtt.certfile!r}, keyfile = {mqtt.keyfile!r}: expected a PEM "
            f"certificate and its unencrypted key ({exc})"
        ) from None
