"""Gateway settings: one table of INI keys (type, default, doc, live or restart), load and diff.

Precedence, lowest first: built-in defaults, the INI files in the order given (a directory
stands for its *.ini files by name: a config.d), environment variables
`TELEMETRYHUB_<SECTION>_<KEY>` (e.g. TELEMETRYHUB_GATEWAY_QUEUE_CAPACITY), then command-line
overrides given as {"section.key": value}. Secret keys may be read from a file instead
(`password_file = ...`; see config_sources). Every value from every source is checked the same
way; a bad one raises ConfigError naming where it came from, the key, the value and what was
expected, e.g. "config.ini [gateway] queue_capacity = 'abc': expected an integer 1..100000".
"""

from __future__ import annotations

import dataclasses
import os
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from telemetryhub.config_boards import (
    BOARD_PREFIX,
    BoardSettings,
    build_boards,
)
from telemetryhub.config_checks import check_consistent
from telemetryhub.config_kinds import (
    BOOL,
    DATA_DIR,
    DEVICES,
    HOST,
    MAX_WAIT_S,
    NON_NEGATIVE_INT,
    NON_NEGATIVE_NUMBER,
    NUMBER,
    PATH,
    PERIOD_MS_MAX,
    POSITIVE_INT,
    QOS,
    REMOTE_PORT,
    REQUEST_RATE,
    SAMPLE_RATE,
    TCP_PORT,
    TEXT,
    TOPIC,
    URL,
    URL_LIST,
    Kind,
    choice,
    float_in,
    int_range,
    seconds_up_to,
)
from telemetryhub.config_sources import (
    ENV_PREFIX,
    FILE_SUFFIX,
    config_files,
    read_env,
    read_file,
    read_overrides,
    to_text,
)
from telemetryhub.errors import ConfigError

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

V = TypeVar("V")


def _key(default: V, kind: Kind, doc: str, *, live: bool = False, secret: bool = False) -> V:
    """One row of the settings table: default, parser, doc string, whether it applies live,
    and whether it is a secret (then `<key>_file` may name a file holding it)."""
    meta = {"kind": kind, "doc": doc, "live": live, "secret": secret}
    return field(default=default, metadata=meta)


@dataclass(frozen=True, slots=True)
class GatewaySettings:
    """[gateway]: what to connect to, where to store, and the engine's size."""

    device: tuple[str, ...] = _key(
        ("sim",),
        DEVICES,
        "which boards to read (sim: the built-in simulator); [board:<id>] "
        "sections hold per-board settings",
        live=True,
    )
    data_dir: str = _key(
        "telemetryhub-data", DATA_DIR, "directory holding the database and the operator token"
    )
    queue_capacity: int = _key(
        1000,
        int_range(1, 100_000),
        "read chunks the core queue holds (each up to a few hundred samples: the cap bounds "
        "the memory a stalled store can fill)",
    )
    pool_workers: int = _key(
        4,
        int_range(1, 64),
        "worker threads for storage and uplinks (SQLite takes one writer at a time, so more "
        "threads only cost memory; 64 bounds the thread count)",
    )
    log_level: str = _key("INFO", choice(*LOG_LEVELS, upper=True), "log level", live=True)
    log_format: str = _key("text", choice("text", "json"), "text or json (one object a line)")
    gateway_id: str = _key("", TEXT, "this gateway's name in uplinks (empty: the host name)")
    autostart: bool = _key(True, BOOL, "start measuring when a board connects in Idle")


@dataclass(frozen=True, slots=True)
class DeviceSettings:
    """[device]: the board link."""

    period_ms: int = _key(
        100, int_range(1, PERIOD_MS_MAX), "sample period asked of the board (its range)", live=True
    )
    usb_serial: str = _key("", TEXT, "with device = auto: pick the port with this USB serial")
    baudrate: int = _key(
        115200,
        int_range(1, 12_000_000),
        "serial speed (ignored by USB-CDC boards; 12 Mbaud is the fastest USB-serial bridge)",
    )
    reconnect_max_s: float = _key(
        1.0,
        Kind(float_in(0.05, MAX_WAIT_S), f"a number of seconds 0.05..{MAX_WAIT_S:g}"),
        "longest wait between attempts to reach the board (the first is after 0.05 s, then "
        "doubling)",
    )


@dataclass(frozen=True, slots=True)
class ValidationSettings:
    """[validation]: samples outside [min_value, max_value] are rejected and counted."""

    min_value: float = _key(-1e6, NUMBER, "smallest accepted sample value", live=True)
    max_value: float = _key(1e6, NUMBER, "largest accepted sample value", live=True)


@dataclass(frozen=True, slots=True)
class HttpSettings:
    """[http]: the REST API and dashboard."""

    host: str = _key("127.0.0.1", HOST, "address to listen on")
    port: int = _key(8080, TCP_PORT, "port to listen on")
    operator_token: str = _key(
        "", TEXT, "command token (empty: one is made and kept in data_dir)", secret=True
    )
    viewer_token: str = _key(
        "", TEXT, "bearer token for reads when reads_open is false", secret=True
    )
    reads_open: bool = _key(True, BOOL, "serve reads without a token")
    rate_limit_per_s: float = _key(50.0, REQUEST_RATE, "requests/s per client (0: off)")
    rate_burst: int = _key(100, POSITIVE_INT, "requests a client may burst above the rate")
    tls_cert: str = _key("", PATH, "PEM certificate file (with tls_key: serve HTTPS)")
    tls_key: str = _key("", PATH, "PEM private key file, unencrypted (with tls_cert)")
    max_body_bytes: int = _key(65536, POSITIVE_INT, "largest request body accepted")
    metrics_max_devices: int = _key(
        200,
        int_range(0, 100_000),
        "boards with series of their own in /metrics (the rest are folded into device=_other)",
    )


@dataclass(frozen=True, slots=True)
class MqttSettings:
    """[mqtt]: the MQTT uplink."""

    enabled: bool = _key(False, BOOL, "publish stored samples to a broker", live=True)
    host: str = _key("127.0.0.1", HOST, "broker host", live=True)
    port: int = _key(1883, REMOTE_PORT, "broker port", live=True)
    topic: str = _key(
        "telemetryhub/{gateway_id}/{device_id}/samples", TOPIC, "topic template", live=True
    )
    rate_limit_sps: float = _key(
        5000.0, SAMPLE_RATE, "samples/s ceiling replaying a backlog (0: off)", live=True
    )
    username: str = _key("", TEXT, "broker user (empty: anonymous)", live=True)
    password: str = _key("", TEXT, "broker password", live=True, secret=True)
    tls: bool = _key(False, BOOL, "connect with TLS", live=True)
    ca_certs: str = _key(
        "", PATH, "PEM CA file the broker's certificate must chain to (empty: system)", live=True
    )
    certfile: str = _key("", PATH, "PEM client certificate (brokers asking for one)", live=True)
    keyfile: str = _key("", PATH, "PEM key of certfile (empty: inside certfile)", live=True)
    qos: int = _key(1, QOS, "publish QoS", live=True)
    client_id: str = _key("", TEXT, "client id (empty: derived from the host name)", live=True)
    keepalive_s: int = _key(
        30, int_range(1, 65535, " (a 16-bit field in MQTT)"), "MQTT keepalive", live=True
    )
    batch_size: int = _key(256, int_range(1, 100_000), "samples per published message", live=True)


@dataclass(frozen=True, slots=True)
class UplinkHttpSettings:
    """[uplink_http]: the HTTP cloud uplink."""

    enabled: bool = _key(False, BOOL, "POST stored samples to endpoints", live=True)
    endpoints: tuple[str, ...] = _key((), URL_LIST, "endpoints, tried in order", live=True)
    batch_size: int = _key(
        256, int_range(1, 100_000), "samples per POST (read from the store at once)", live=True
    )
    timeout_s: float = _key(5.0, seconds_up_to(MAX_WAIT_S), "per-request timeout", live=True)
    token: str = _key("", TEXT, "bearer token sent to the endpoints", live=True, secret=True)
    retry_max_s: float = _key(
        30.0, seconds_up_to(MAX_WAIT_S), "longest backoff between retries", live=True
    )


@dataclass(frozen=True, slots=True)
class StoreSettings:
    """[store]: retention of the SQLite store (0 = unlimited)."""

    max_bytes: int = _key(0, NON_NEGATIVE_INT, "delete oldest samples above this size", live=True)
    max_age_s: float = _key(0.0, NON_NEGATIVE_NUMBER, "delete samples older than this", live=True)


@dataclass(frozen=True, slots=True)
class TracingSettings:
    """[tracing]: OpenTelemetry spans (the `tracing` extra); off by default."""

    enabled: bool = _key(False, BOOL, "trace stored batches, uplink deliveries and REST requests")
    exporter: str = _key("otlp", choice("otlp", "console"), "otlp (OTLP over HTTP) or console")
    endpoint: str = _key(
        "http://127.0.0.1:4318/v1/traces", URL, "OTLP/HTTP traces endpoint (exporter = otlp)"
    )
    service_name: str = _key("telemetryhub", TEXT, "service.name of the spans")


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
    tracing: TracingSettings = field(default_factory=TracingSettings)
    boards: tuple[BoardSettings, ...] = ()  # the [board:<device id>] sections


@dataclass(frozen=True, slots=True)
class KeySpec:
    """One documented key: what `render_example` prints and the docs list."""

    section: str
    key: str
    default: object
    expected: str
    doc: str
    live: bool
    secret: bool = False

    @property
    def file_key(self) -> str | None:
        """`<key>_file`, the key naming a file that holds this secret (None: not a secret)."""
        return self.key + FILE_SUFFIX if self.secret else None

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
    name: cls for name, cls in typing.get_type_hints(Settings).items() if name != "boards"
}


def _table() -> dict[tuple[str, str], tuple[KeySpec, Kind]]:
    table: dict[tuple[str, str], tuple[KeySpec, Kind]] = {}
    for section, section_cls in _SECTION_TYPES.items():
        for f in dataclasses.fields(section_cls):
            meta = f.metadata
            spec = KeySpec(
                section,
                f.name,
                f.default,
                meta["kind"].expected,
                meta["doc"],
                meta["live"],
                meta["secret"],
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
    paths: str | Path | Sequence[str | Path] | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, object] | None = None,
) -> Settings:
    """Settings from defaults, then the INI files at `paths` in order (None: none; a directory:
    its *.ini files by name), then `env` (None: os.environ), then `overrides`
    ({"section.key": value}, e.g. from CLI flags).

    Raises ConfigError for a missing or unparsable file, an unknown section or key, a secret
    file that cannot be read, or a value that does not fit its key.
    """
    if paths is None:
        paths = []
    elif isinstance(paths, (str, Path)):
        paths = [paths]
    raw: dict[tuple[str, str], tuple[str, str]] = {}
    for path in config_files(Path(p) for p in paths):
        raw.update(read_file(path, _SPECS))
    raw.update(read_env(os.environ if env is None else env, _SPECS))
    raw.update(read_overrides(overrides or {}, "command line", _SPECS))
    return _build(raw)


def apply_overrides(
    settings: Settings, overrides: Mapping[str, object], source: str = "command line"
) -> Settings:
    """A copy of `settings` with {"section.key": value} applied and validated."""
    raw = {
        (spec.section, spec.key): (
            to_text(getattr(getattr(settings, spec.section), spec.key)),
            "",
        )
        for spec in _SPECS.values()
    }
    raw.update(read_overrides(overrides, source, _SPECS))
    return dataclasses.replace(_build(raw), boards=settings.boards)


def diff_settings(old: Settings, new: Settings) -> list[SettingChange]:
    """Keys whose values differ, in table order, each saying whether it can change live."""
    changes: list[SettingChange] = []
    for spec in _SPECS.values():
        before = getattr(getattr(old, spec.section), spec.key)
        after = getattr(getattr(new, spec.section), spec.key)
        if before != after:
            changes.append(SettingChange(spec.section, spec.key, before, after, spec.live))
    if old.boards != new.boards:  # per-board settings apply when each board is next set up
        changes.append(SettingChange(BOARD_PREFIX.rstrip(":"), "*", old.boards, new.boards, True))
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
            lines.append(f"{spec.key} = {to_text(spec.default)}")
        lines.append("")
    return "\n".join(lines)


def _build(raw: Mapping[tuple[str, str], tuple[str, str]]) -> Settings:
    values: dict[str, dict[str, object]] = {section: {} for section in _SECTIONS}
    boards = {k: v for k, v in raw.items() if k[0].startswith(BOARD_PREFIX)}
    for (section, key), (text, where) in raw.items():
        if (section, key) not in boards:
            values[section][key] = _parse(_SPECS[(section, key)], text, where)
    sections = {name: cls(**values[name]) for name, cls in _SECTION_TYPES.items()}
    settings = Settings(**sections, boards=build_boards(boards))
    check_consistent(settings)
    return settings


def _parse(spec: KeySpec, text: str, where: str) -> object:
    kind = _TABLE[(spec.section, spec.key)][1]
    try:
        return kind.parse(text)
    except ValueError:
        label = where or f"[{spec.section}] {spec.key}"
        raise ConfigError(f"{label} = {text!r}: expected {kind.expected}") from None
