"""Gateway settings: one table of INI keys (type, default, doc, live or restart), load and diff.

Precedence, lowest first: built-in defaults, the INI file, environment variables
`TELEMETRYHUB_<SECTION>_<KEY>` (e.g. TELEMETRYHUB_GATEWAY_QUEUE_CAPACITY), then command-line
overrides given as {"section.key": value}. Every value from every source is checked the same
way; a bad one raises ConfigError naming where it came from, the key, the value and what was
expected, e.g. "config.ini [gateway] queue_capacity = 'abc': expected a positive integer".
"""

from __future__ import annotations

import configparser
import dataclasses
import os
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from telemetryhub.errors import ConfigError

ENV_PREFIX = "TELEMETRYHUB_"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class _Kind:
    """How one key's text becomes a value: `parse` raises ValueError; `expected` says what fits."""

    parse: Callable[[str], object]
    expected: str


def _int_at_least(minimum: int, maximum: int | None = None) -> Callable[[str], object]:
    def parse(text: str) -> int:
        value = int(text.strip())
        if value < minimum or (maximum is not None and value > maximum):
            raise ValueError(text)
        return value

    return parse


def _float_at_least(minimum: float | None) -> Callable[[str], object]:
    def parse(text: str) -> float:
        value = float(text.strip())
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(text)
        if minimum is not None and value < minimum:
            raise ValueError(text)
        return value

    return parse


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _parse_bool(text: str) -> bool:
    word = text.strip().lower()
    if word in _TRUE | _FALSE:
        return word in _TRUE
    raise ValueError(text)


def _choice(*choices: str, upper: bool = False) -> _Kind:
    def parse(text: str) -> str:
        word = text.strip().upper() if upper else text.strip().lower()
        if word not in choices:
            raise ValueError(text)
        return word

    return _Kind(parse, f"one of {', '.join(choices)}")


def _parse_device(text: str) -> str:
    word = text.strip()
    if not word or any(c.isspace() for c in word):
        raise ValueError(text)
    return word


def _parse_urls(text: str) -> tuple[str, ...]:
    urls = tuple(part.strip() for part in text.split(",") if part.strip())
    if not all(url.startswith(("http://", "https://")) for url in urls):
        raise ValueError(text)
    return urls


def _parse_qos(text: str) -> int:
    value = int(text.strip())
    if value not in (0, 1, 2):
        raise ValueError(text)
    return value


POSITIVE_INT = _Kind(_int_at_least(1), "a positive integer")
NON_NEGATIVE_INT = _Kind(_int_at_least(0), "an integer >= 0")
TCP_PORT = _Kind(_int_at_least(0, 65535), "a TCP port number 0-65535 (0 = any free port)")
REMOTE_PORT = _Kind(_int_at_least(1, 65535), "a TCP port number 1-65535")
NUMBER = _Kind(_float_at_least(None), "a finite number")
NON_NEGATIVE_NUMBER = _Kind(_float_at_least(0.0), "a finite number >= 0")
POSITIVE_NUMBER = _Kind(_float_at_least(1e-9), "a finite number > 0")
BOOL = _Kind(_parse_bool, "true or false (also yes/no, on/off, 1/0)")
TEXT = _Kind(str.strip, "text")
PATH = _Kind(lambda text: os.path.expanduser(text.strip()), "a path")
DEVICE = _Kind(_parse_device, "sim, emulator, auto or a serial port name such as /dev/ttyACM0")
URL_LIST = _Kind(_parse_urls, "a comma-separated list of http:// or https:// URLs")
QOS = _Kind(_parse_qos, "an MQTT QoS level: 0, 1 or 2")


def _key(default: V, kind: _Kind, doc: str, *, live: bool = False) -> V:
    """One row of the settings table: default, parser, doc string, whether it applies live."""
    meta = {"kind": kind, "doc": doc, "live": live}
    return field(default=default, metadata=meta)


@dataclass(frozen=True, slots=True)
class GatewaySettings:
    """[gateway]: what to connect to, where to store, and the engine's size."""

    device: str = _key("sim", DEVICE, "which board to read (sim: built-in simulator)")
    data_dir: str = _key("telemetryhub-data", PATH, "directory holding the SQLite database")
    queue_capacity: int = _key(1000, POSITIVE_INT, "read chunks the core queue holds")
    pool_workers: int = _key(4, POSITIVE_INT, "worker threads for storage and uplinks")
    log_level: str = _key("INFO", _choice(*LOG_LEVELS, upper=True), "log level", live=True)
    log_format: str = _key("text", _choice("text", "json"), "text or json (one object a line)")
    gateway_id: str = _key("", TEXT, "this gateway's name in uplinks (empty: the host name)")
    autostart: bool = _key(True, BOOL, "start measuring when a board connects in Idle")


@dataclass(frozen=True, slots=True)
class DeviceSettings:
    """[device]: the board link."""

    period_ms: int = _key(100, POSITIVE_INT, "sample period asked of the board", live=True)
    usb_serial: str = _key("", TEXT, "with device = auto: pick the port with this USB serial")
    baudrate: int = _key(115200, POSITIVE_INT, "serial speed (ignored by USB-CDC boards)")
    reconnect_max_s: float = _key(5.0, POSITIVE_NUMBER, "longest wait between reconnects")


@dataclass(frozen=True, slots=True)
class ValidationSettings:
    """[validation]: samples outside [min_value, max_value] are rejected and counted."""

    min_value: float = _key(-1e6, NUMBER, "smallest accepted sample value", live=True)
    max_value: float = _key(1e6, NUMBER, "largest accepted sample value", live=True)


@dataclass(frozen=True, slots=True)
class HttpSettings:
    """[http]: the REST API and dashboard."""

    host: str = _key("127.0.0.1", TEXT, "address to listen on")
    port: int = _key(8080, TCP_PORT, "port to listen on")
    operator_token: str = _key("", TEXT, "command token (empty: one is made and kept in data_dir)")
    viewer_token: str = _key("", TEXT, "bearer token for reads when reads_open is false")
    reads_open: bool = _key(True, BOOL, "serve reads without a token")
    rate_limit_per_s: float = _key(50.0, NON_NEGATIVE_NUMBER, "requests/s per client (0: off)")
    rate_burst: int = _key(100, POSITIVE_INT, "requests a client may burst above the rate")
    tls_cert: str = _key("", PATH, "PEM certificate file (with tls_key: serve HTTPS)")
    tls_key: str = _key("", PATH, "PEM private key file, unencrypted (with tls_cert)")
    max_body_bytes: int = _key(65536, POSITIVE_INT, "largest request body accepted")


@dataclass(frozen=True, slots=True)
class MqttSettings:
    """[mqtt]: the MQTT uplink."""

    enabled: bool = _key(False, BOOL, "publish stored samples to a broker", live=True)
    host: str = _key("127.0.0.1", TEXT, "broker host", live=True)
    port: int = _key(1883, REMOTE_PORT, "broker port", live=True)
    topic: str = _key(
        "telemetryhub/{gateway_id}/{device_id}/samples", TEXT, "topic template", live=True
    )
    rate_limit_sps: float = _key(
        5000.0, NON_NEGATIVE_NUMBER, "samples/s ceiling replaying a backlog (0: off)", live=True
    )
    username: str = _key("", TEXT, "broker user (empty: anonymous)", live=True)
    password: str = _key("", TEXT, "broker password", live=True)
    tls: bool = _key(False, BOOL, "connect with TLS", live=True)
    ca_certs: str = _key(
        "", PATH, "PEM CA file the broker's certificate must chain to (empty: system)", live=True
    )
    certfile: str = _key("", PATH, "PEM client certificate (brokers asking for one)", live=True)
    keyfile: str = _key("", PATH, "PEM key of certfile (empty: inside certfile)", live=True)
    qos: int = _key(1, QOS, "publish QoS", live=True)
    client_id: str = _key("", TEXT, "client id (empty: derived from the host name)", live=True)
    keepalive_s: int = _key(30, POSITIVE_INT, "MQTT keepalive", live=True)
    batch_size: int = _key(256, POSITIVE_INT, "samples per published message", live=True)


@dataclass(frozen=True, slots=True)
class UplinkHttpSettings:
    """[uplink_http]: the HTTP cloud uplink."""

    enabled: bool = _key(False, BOOL, "POST stored samples to endpoints", live=True)
    endpoints: tuple[str, ...] = _key((), URL_LIST, "endpoints, tried in order", live=True)
    batch_size: int = _key(256, POSITIVE_INT, "samples per POST", live=True)
    timeout_s: float = _key(5.0, POSITIVE_NUMBER, "per-request timeout", live=True)
    token: str = _key("", TEXT, "bearer token sent to the endpoints", live=True)
    retry_max_s: float = _key(30.0, POSITIVE_NUMBER, "longest backoff between retries", live=True)


@dataclass(frozen=True, slots=True)
class StoreSettings:
    """[store]: retention of the SQLite store (0 = unlimited)."""

    max_bytes: int = _key(0, NON_NEGATIVE_INT, "delete oldest samples above this size", live=True)
    max_age_s: float = _key(0.0, NON_NEGATIVE_NUMBER, "delete samples older than this", live=True)


@dataclass(frozen=True, slots=True)
class Settings:
    """Every section; each attribute name is the INI section name."""

    gateway: GatewaySettings = field(default_factory=GatewaySettings)
    device: DeviceSettings = field(default_factory=DeviceSettings)
    validation: ValidationSettings = field(default_factory=ValidationSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    mqtt: MqttSettings = field(default_factory=MqttSettings)
    uplink_http: UplinkHttpSettings = field(default_factory=UplinkHttpSettings)
    store: StoreSettings = field(default_factory=StoreSettings)


@dataclass(frozen=True, slots=True)
class KeySpec:
    """One documented key: what `render_example` prints and the docs list."""

    section: str
    key: str
    default: object
    expected: str
    doc: str
    live: bool

    @property
    def env_var(self) -> str:
        """The environment variable that overrides this key."""
        return f"{ENV_PREFIX}{self.section.upper()}_{self.key.upper()}"


@dataclass(frozen=True, slots=True)
class SettingChange:
    """One key whose value differs between two Settings; `live` if it applies without restart."""

    section: str
    key: str
    old: object
    new: object
    live: bool


# Section name -> its dataclass, in table order (the Settings attributes).
_SECTION_TYPES: dict[str, type] = {
    name: cls for name, cls in typing.get_type_hints(Settings).items()
}


def _table() -> dict[tuple[str, str], tuple[KeySpec, _Kind]]:
    table: dict[tuple[str, str], tuple[KeySpec, _Kind]] = {}
    for section, section_cls in _SECTION_TYPES.items():
        for f in dataclasses.fields(section_cls):
            meta = f.metadata
            spec = KeySpec(
                section, f.name, f.default, meta["kind"].expected, meta["doc"], meta["live"]
            )
            table[(section, f.name)] = (spec, meta["kind"])
    return table


_TABLE = _table()
_SPECS = {name: spec for name, (spec, _) in _TABLE.items()}
_SECTIONS = tuple(_SECTION_TYPES)


def key_specs() -> list[KeySpec]:
    """Every key of every section, in table order."""
    return list(_SPECS.values())


def load_settings(
    path: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, object] | None = None,
) -> Settings:
    """Settings from defaults, then the INI file at `path` (None: none), then `env`
    (None: os.environ), then `overrides` ({"section.key": value}, e.g. from CLI flags).

    Raises ConfigError for a missing or unparsable file, an unknown section or key, or a value
    that does not fit its key.
    """
    raw: dict[tuple[str, str], tuple[str, str]] = {}
    if path is not None:
        raw.update(_read_file(Path(path)))
    raw.update(_read_env(os.environ if env is None else env))
    raw.update(_read_overrides(overrides or {}, "command line"))
    return _build(raw)


def apply_overrides(
    settings: Settings, overrides: Mapping[str, object], source: str = "command line"
) -> Settings:
    """A copy of `settings` with {"section.key": value} applied and validated."""
    raw = {
        (spec.section, spec.key): (
            _to_text(getattr(getattr(settings, spec.section), spec.key)),
            "",
        )
        for spec in _SPECS.values()
    }
    raw.update(_read_overrides(overrides, source))
    return _build(raw)


def diff_settings(old: Settings, new: Settings) -> list[SettingChange]:
    """Keys whose values differ, in table order, each saying whether it can change live."""
    changes: list[SettingChange] = []
    for spec in _SPECS.values():
        before = getattr(getattr(old, spec.section), spec.key)
        after = getattr(getattr(new, spec.section), spec.key)
        if before != after:
            changes.append(SettingChange(spec.section, spec.key, before, after, spec.live))
    return changes


def needs_restart(changes: list[SettingChange]) -> list[SettingChange]:
    """The changes that cannot be applied to a running gateway."""
    return [change for change in changes if not change.live]


def render_example() -> str:
    """An INI file listing every key at its default, each with its doc and expectation."""
    lines: list[str] = []
    for section in _SECTIONS:
        lines.append(f"[{section}]")
        for spec in (s for s in _SPECS.values() if s.section == section):
            restart = "live" if spec.live else "restart"
            lines.append(f"# {spec.doc} ({spec.expected}; {restart})")
            lines.append(f"{spec.key} = {_to_text(spec.default)}")
        lines.append("")
    return "\n".join(lines)


def _read_file(path: Path) -> dict[tuple[str, str], tuple[str, str]]:
    if not path.is_file():
        raise ConfigError(f"config file '{path}' not found (expected an INI file)")
    parser = configparser.ConfigParser(
        interpolation=None, default_section="\x00no default section", strict=True
    )
    try:
        with path.open(encoding="utf-8") as stream:
            parser.read_file(stream)
    except (configparser.Error, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not a valid INI file: {exc}") from exc
    raw: dict[tuple[str, str], tuple[str, str]] = {}
    for section in parser.sections():
        if section not in _SECTIONS:
            raise ConfigError(
                f"{path} [{section}]: unknown section; expected one of {', '.join(_SECTIONS)}"
            )
        for key, value in parser.items(section):
            _check_known(section, key, f"{path} [{section}] {key}")
            raw[(section, key)] = (value, f"{path} [{section}] {key}")
    return raw


def _read_env(env: Mapping[str, str]) -> dict[tuple[str, str], tuple[str, str]]:
    by_name = {spec.env_var: spec for spec in _SPECS.values()}
    prefixes = tuple(f"{ENV_PREFIX}{section.upper()}_" for section in _SECTIONS)
    raw: dict[tuple[str, str], tuple[str, str]] = {}
    for name, value in env.items():
        spec = by_name.get(name)
        if spec is not None:
            raw[(spec.section, spec.key)] = (value, f"environment {name}")
        elif name.startswith(prefixes):
            known = ", ".join(sorted(by_name))
            raise ConfigError(f"environment {name}: unknown setting; expected one of {known}")
    return raw


def _read_overrides(
    overrides: Mapping[str, object], source: str
) -> dict[tuple[str, str], tuple[str, str]]:
    raw: dict[tuple[str, str], tuple[str, str]] = {}
    for name, value in overrides.items():
        section, _, key = name.partition(".")
        _check_known(section, key, f"{source} {name}")
        raw[(section, key)] = (_to_text(value), f"{source} {name}")
    return raw


def _check_known(section: str, key: str, where: str) -> None:
    if (section, key) not in _SPECS:
        keys = ", ".join(k for s, k in _SPECS if s == section) or (
            "section.key with section one of " + ", ".join(_SECTIONS)
        )
        raise ConfigError(f"{where}: unknown key; expected one of {keys}")


def _build(raw: Mapping[tuple[str, str], tuple[str, str]]) -> Settings:
    values: dict[str, dict[str, object]] = {section: {} for section in _SECTIONS}
    for (section, key), (text, where) in raw.items():
        values[section][key] = _parse(_SPECS[(section, key)], text, where)
    sections = {name: cls(**values[name]) for name, cls in _SECTION_TYPES.items()}
    settings = Settings(**sections)
    _check_consistent(settings)
    return settings


def _parse(spec: KeySpec, text: str, where: str) -> object:
    kind = _TABLE[(spec.section, spec.key)][1]
    try:
        return kind.parse(text)
    except ValueError:
        label = where or f"[{spec.section}] {spec.key}"
        raise ConfigError(f"{label} = {text!r}: expected {kind.expected}") from None


def _check_consistent(settings: Settings) -> None:
    """Rules that tie two keys together."""
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


def _to_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (tuple, list)):
        return ", ".join(str(item) for item in value)
    return str(value)
