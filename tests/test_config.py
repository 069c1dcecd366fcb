"""Settings: file, environment and CLI layers, every error message, and the reload diff."""

from __future__ import annotations

import configparser
import io
import re
import subprocess
from pathlib import Path

import pytest

from telemetryhub.config import (
    Settings,
    apply_overrides,
    diff_settings,
    key_specs,
    load_settings,
    needs_restart,
    render_example,
)
from telemetryhub.errors import ConfigError


def _ini(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.ini"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_file_or_environment() -> None:
    settings = load_settings(env={})
    assert settings == Settings()
    assert settings.gateway.device == ("sim",)
    assert settings.gateway.queue_capacity == 1000
    assert settings.http.host == "127.0.0.1"
    assert settings.uplink_http.endpoints == ()


def test_file_values_are_typed(tmp_path: Path) -> None:
    path = _ini(
        tmp_path,
        """
[gateway]
device = /dev/ttyACM0
queue_capacity = 50
log_level = debug
log_format = JSON
data_dir = ~/th
[http]
reads_open = no
port = 0
rate_limit_per_s = 2.5
[mqtt]
qos = 2
password = p%ss
[uplink_http]
enabled = yes
endpoints = https://a.example/ingest, http://b.example
""",
    )
    s = load_settings(path, env={})
    assert (s.gateway.device, s.gateway.queue_capacity) == (("/dev/ttyACM0",), 50)
    assert (s.gateway.log_level, s.gateway.log_format) == ("DEBUG", "json")
    assert s.gateway.data_dir == str(Path.home() / "th")
    assert (s.http.reads_open, s.http.port, s.http.rate_limit_per_s) == (False, 0, 2.5)
    assert (s.mqtt.qos, s.mqtt.password) == (2, "p%ss")
    assert s.uplink_http.endpoints == ("https://a.example/ingest", "http://b.example")


@pytest.mark.parametrize(
    ("section", "key", "value", "expected"),
    [
        ("gateway", "queue_capacity", "abc", "an integer 1..100000"),
        ("gateway", "queue_capacity", "1000000", "an integer 1..100000"),
        ("gateway", "pool_workers", "0", "an integer 1..64"),
        ("gateway", "pool_workers", "100000", "an integer 1..64"),
        ("gateway", "data_dir", "", "a directory path (not empty"),
        ("device", "period_ms", "100000", "an integer 1..60000"),
        ("device", "period_ms", "0", "an integer 1..60000"),
        ("device", "baudrate", "10000000000", "an integer 1..12000000"),
        ("device", "reconnect_max_s", "1e10", "a number of seconds 0.05..3600"),
        ("http", "host", "", "a host name or address"),
        ("http", "rate_limit_per_s", "1e-12", "0 (off) or requests/s 0.01.."),
        ("mqtt", "keepalive_s", "999999999", "an integer 1..65535 (a 16-bit field in MQTT)"),
        ("mqtt", "keepalive_s", "0", "an integer 1..65535"),
        ("mqtt", "batch_size", "1000000000", "an integer 1..100000"),
        ("mqtt", "host", "", "a host name or address"),
        ("mqtt", "topic", "site/+/samples", "an MQTT topic without + or #"),
        ("mqtt", "topic", "site/{board}/samples", "placeholders {gateway_id} and {device_id}"),
        ("mqtt", "topic", "site/{device_id", "placeholders {gateway_id} and {device_id}"),
        ("mqtt", "rate_limit_sps", "1e-12", "0 (off) or samples/s 1.."),
        ("uplink_http", "batch_size", "1000000000", "an integer 1..100000"),
        ("uplink_http", "timeout_s", "1e10", "a number of seconds > 0 and <= 3600"),
        ("uplink_http", "retry_max_s", "0", "a number of seconds > 0 and <= 3600"),
        ("gateway", "log_level", "LOUD", "one of DEBUG, INFO, WARNING, ERROR, CRITICAL"),
        ("gateway", "log_format", "xml", "one of text, json"),
        ("gateway", "device", "", "a comma-separated list of boards to read"),
        ("device", "reconnect_max_s", "0", "a number of seconds 0.05..3600"),
        ("validation", "min_value", "nan", "a finite number"),
        ("http", "port", "70000", "a TCP port number 0-65535"),
        ("http", "reads_open", "maybe", "true or false"),
        ("mqtt", "port", "0", "a TCP port number 1-65535"),
        ("mqtt", "qos", "3", "an MQTT QoS level: 0, 1 or 2"),
        ("uplink_http", "endpoints", "ftp://x", "a comma-separated list of http:// or https://"),
        ("store", "max_bytes", "-1", "an integer >= 0"),
    ],
)
def test_bad_value_names_source_key_value_and_expectation(
    tmp_path: Path, section: str, key: str, value: str, expected: str
) -> None:
    path = _ini(tmp_path, f"[{section}]\n{key} = {value}\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={})
    message = str(info.value)
    assert message.startswith(f"{path} [{section}] {key} = {value!r}: expected ")
    assert expected in message


def test_the_briefs_example_message(tmp_path: Path) -> None:
    path = _ini(tmp_path, "[gateway]\nqueue_capacity = abc\n")
    with pytest.raises(
        ConfigError, match=r"\[gateway\] queue_capacity = 'abc': expected an integer 1\.\.100000"
    ):
        load_settings(path, env={})


def test_unknown_section_and_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\[gatway\]: unknown section; expected one of gateway"):
        load_settings(_ini(tmp_path, "[gatway]\ndevice = sim\n"), env={})
    with pytest.raises(
        ConfigError, match=r"\[gateway\] queue_capacty: unknown key; .*queue_capacity"
    ):
        load_settings(_ini(tmp_path, "[gateway]\nqueue_capacty = 5\n"), env={})
    with pytest.raises(ConfigError, match=r"\[DEFAULT\]: unknown section"):
        load_settings(_ini(tmp_path, "[DEFAULT]\ndevice = sim\n"), env={})


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"config file '.*nope\.ini' not found"):
        load_settings(tmp_path / "nope.ini", env={})
    with pytest.raises(ConfigError, match="not a valid INI file"):
        load_settings(_ini(tmp_path, "device = sim\n"), env={})
    with pytest.raises(ConfigError, match="not a valid INI file"):
        load_settings(_ini(tmp_path, "[gateway]\ndevice = a\ndevice = b\n"), env={})


def test_environment_overrides_file_and_is_validated(tmp_path: Path) -> None:
    path = _ini(tmp_path, "[gateway]\nqueue_capacity = 50\n[uplink_http]\nbatch_size = 9\n")
    env = {
        "TELEMETRYHUB_GATEWAY_QUEUE_CAPACITY": "70",
        "TELEMETRYHUB_UPLINK_HTTP_BATCH_SIZE": "10",
        "TELEMETRYHUB_CONFIG": "ignored: not a setting name",
        "HOME": "/root",
    }
    s = load_settings(path, env=env)
    assert (s.gateway.queue_capacity, s.uplink_http.batch_size) == (70, 10)
    with pytest.raises(
        ConfigError,
        match=r"^environment TELEMETRYHUB_GATEWAY_QUEUE_CAPACITY = 'x': expected an integer",
    ):
        load_settings(env={"TELEMETRYHUB_GATEWAY_QUEUE_CAPACITY": "x"})
    with pytest.raises(ConfigError, match="environment TELEMETRYHUB_HTTP_PROT: unknown setting"):
        load_settings(env={"TELEMETRYHUB_HTTP_PROT": "1"})


def test_os_environ_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEMETRYHUB_DEVICE_PERIOD_MS", "20")
    assert load_settings().device.period_ms == 20


def test_cli_overrides_beat_environment_and_file(tmp_path: Path) -> None:
    path = _ini(tmp_path, "[http]\nport = 1000\n")
    env = {"TELEMETRYHUB_HTTP_PORT": "2000"}
    s = load_settings(path, env=env, overrides={"http.port": 3000, "mqtt.enabled": True})
    assert (s.http.port, s.mqtt.enabled) == (3000, True)
    with pytest.raises(ConfigError, match=r"^command line http\.port = 'x': expected a TCP port"):
        load_settings(env={}, overrides={"http.port": "x"})
    with pytest.raises(ConfigError, match=r"command line http\.prot: unknown key"):
        load_settings(env={}, overrides={"http.prot": 1})
    with pytest.raises(ConfigError, match=r"command line port: unknown key; expected .*section"):
        load_settings(env={}, overrides={"port": 1})


def test_rules_across_keys() -> None:
    with pytest.raises(ConfigError, match=r"min_value = 5\.0, max_value = 1\.0: expected min"):
        load_settings(env={}, overrides={"validation.min_value": 5, "validation.max_value": 1})
    with pytest.raises(ConfigError, match=r"tls_cert = 'c.pem', tls_key = '': expected both"):
        load_settings(env={}, overrides={"http.tls_cert": "c.pem"})
    with pytest.raises(ConfigError, match=r"\[uplink_http\] enabled = True, endpoints = ''"):
        load_settings(env={}, overrides={"uplink_http.enabled": "on"})


def test_reload_diff_says_live_or_restart() -> None:
    old = Settings()
    new = apply_overrides(
        old,
        {
            "device.period_ms": 50,
            "gateway.log_level": "warning",
            "mqtt.host": "broker",
            "uplink_http.endpoints": ("https://x",),
            "http.port": 9000,
            "gateway.queue_capacity": 10,
        },
        source="SIGHUP",
    )
    changes = {(c.section, c.key): c for c in diff_settings(old, new)}
    assert set(changes) == {
        ("device", "period_ms"),
        ("gateway", "log_level"),
        ("mqtt", "host"),
        ("uplink_http", "endpoints"),
        ("http", "port"),
        ("gateway", "queue_capacity"),
    }
    assert changes[("device", "period_ms")].old == 100
    assert changes[("device", "period_ms")].new == 50
    live = {name for name, c in changes.items() if c.live}
    assert live == {
        ("device", "period_ms"),
        ("gateway", "log_level"),
        ("mqtt", "host"),
        ("uplink_http", "endpoints"),
    }
    restart = {(c.section, c.key) for c in needs_restart(list(changes.values()))}
    assert restart == {("http", "port"), ("gateway", "queue_capacity")}
    assert diff_settings(new, new) == []
    with pytest.raises(ConfigError, match=r"^SIGHUP device\.period_ms = '0'"):
        apply_overrides(old, {"device.period_ms": 0}, source="SIGHUP")


def test_example_file_loads_back_to_the_defaults(tmp_path: Path) -> None:
    text = render_example()
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_file(io.StringIO(text))
    assert len([k for s in parser.sections() for k in parser[s]]) == len(key_specs())
    assert load_settings(_ini(tmp_path, text), env={}) == Settings()
    spec = key_specs()[0]
    assert spec.env_var == "TELEMETRYHUB_GATEWAY_DEVICE"
    assert all(s.doc and s.expected for s in key_specs())


def test_the_bounds_themselves_are_accepted() -> None:
    s = load_settings(
        env={},
        overrides={
            "device.period_ms": 60_000,
            "gateway.pool_workers": 64,
            "mqtt.keepalive_s": 65535,
            "mqtt.rate_limit_sps": 0,
            "http.rate_limit_per_s": 0,
            "device.reconnect_max_s": 3600,
        },
    )
    assert (s.device.period_ms, s.gateway.pool_workers, s.mqtt.keepalive_s) == (60_000, 64, 65535)
    assert (s.mqtt.rate_limit_sps, s.http.rate_limit_per_s) == (0.0, 0.0)
    assert s.device.reconnect_max_s == 3600.0


def test_an_empty_data_dir_from_any_source_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"^command line gateway\.data_dir = '': expected a dir"):
        load_settings(env={}, overrides={"gateway.data_dir": ""})
    with pytest.raises(ConfigError, match=r"TELEMETRYHUB_GATEWAY_DATA_DIR = ' ': expected a dir"):
        load_settings(env={"TELEMETRYHUB_GATEWAY_DATA_DIR": " "})


def test_files_and_a_config_d_overlay_in_order_key_by_key(tmp_path: Path) -> None:
    base = tmp_path / "base.ini"
    base.write_text("[gateway]\nqueue_capacity = 10\npool_workers = 2\n[http]\nport = 9000\n")
    site = tmp_path / "site.ini"
    site.write_text("[gateway]\nqueue_capacity = 20\n")
    conf_d = tmp_path / "config.d"
    conf_d.mkdir()
    (conf_d / "20-late.ini").write_text("[http]\nport = 9002\n")
    (conf_d / "10-early.ini").write_text("[http]\nport = 9001\n[gateway]\npool_workers = 3\n")
    (conf_d / "notes.txt").write_text("not read")
    settings = load_settings([base, site, conf_d], env={})
    assert settings.gateway.queue_capacity == 20  # site.ini over base.ini
    assert settings.gateway.pool_workers == 3  # config.d over both
    assert settings.http.port == 9002  # 20-late.ini after 10-early.ini


def test_an_empty_config_d_adds_nothing_and_a_bad_file_in_it_is_named(tmp_path: Path) -> None:
    conf_d = tmp_path / "config.d"
    conf_d.mkdir()
    assert load_settings(conf_d, env={}) == Settings()
    (conf_d / "50-bad.ini").write_text("[gateway]\nqueue_capacity = many\n")
    with pytest.raises(ConfigError, match=r"50-bad\.ini \[gateway\] queue_capacity = 'many'"):
        load_settings(conf_d, env={})


def _secret(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    path.chmod(0o600)
    return path


def test_secrets_come_from_files_named_by_key_file(tmp_path: Path) -> None:
    password = _secret(tmp_path, "mqtt_password", "s3cret pass\n")
    token = _secret(tmp_path, "operator", "op-token")
    path = _ini(
        tmp_path,
        f"[mqtt]\npassword_file = {password}\n[http]\noperator_token_file = {token}\n",
    )
    settings = load_settings(path, env={})
    assert settings.mqtt.password == "s3cret pass"  # the trailing newline is not part of it
    assert settings.http.operator_token == "op-token"
    env = {"TELEMETRYHUB_UPLINK_HTTP_TOKEN_FILE": str(token)}
    assert load_settings(env=env).uplink_http.token == "op-token"


def test_a_later_source_overrides_a_secret_file_and_one_source_may_not_set_both(
    tmp_path: Path,
) -> None:
    password = _secret(tmp_path, "pw", "from-file")
    base = tmp_path / "base.ini"
    base.write_text(f"[mqtt]\npassword_file = {password}\n")
    site = tmp_path / "site.ini"
    site.write_text("[mqtt]\npassword = plain\n")
    assert load_settings([base, site], env={}).mqtt.password == "plain"
    assert load_settings([site, base], env={}).mqtt.password == "from-file"
    both = tmp_path / "both.ini"
    both.write_text(f"[mqtt]\npassword = plain\npassword_file = {password}\n")
    with pytest.raises(ConfigError, match=r"password is set too; expected one of password, passw"):
        load_settings(both, env={})
    both.write_text(f"[mqtt]\npassword_file = {password}\npassword = plain\n")
    with pytest.raises(ConfigError, match=r"password_file is set too"):
        load_settings(both, env={})


def test_unusable_secret_files_and_non_secret_file_keys_are_one_line(tmp_path: Path) -> None:
    path = _ini(tmp_path, f"[mqtt]\npassword_file = {tmp_path / 'missing'}\n")
    with pytest.raises(
        ConfigError, match=r"\[mqtt\] password_file = '.*missing': the file not fo"
    ):
        load_settings(path, env={})
    empty = _secret(tmp_path, "empty", "\n")
    with pytest.raises(ConfigError, match="expected a file holding one secret"):
        load_settings(env={"TELEMETRYHUB_MQTT_PASSWORD_FILE": str(empty)})
    with pytest.raises(ConfigError, match=r"\[mqtt\] host_file: unknown key"):
        load_settings(_ini(tmp_path, f"[mqtt]\nhost_file = {empty}\n"), env={})
    with pytest.raises(ConfigError, match="TELEMETRYHUB_MQTT_HOST_FILE: unknown setting"):
        load_settings(env={"TELEMETRYHUB_MQTT_HOST_FILE": str(empty)})


def _pem(tmp_path: Path, name: str, *, encrypted: bool = False) -> tuple[Path, Path]:
    """A self-signed certificate and its key (encrypted with a password if asked)."""
    cert, key = tmp_path / f"{name}.crt", tmp_path / f"{name}.key"
    protect = ["-passout", "pass:secret"] if encrypted else ["-nodes"]
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         *protect, "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=t"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def _mqtt_tls(**keys: object) -> Settings:
    return load_settings(
        env={}, overrides={"mqtt.tls": True, **{f"mqtt.{k}": v for k, v in keys.items()}}
    )


def test_mqtt_tls_files_must_exist_and_be_pem(tmp_path: Path) -> None:
    cert, key = _pem(tmp_path, "client")
    assert _mqtt_tls(ca_certs=cert, certfile=cert, keyfile=key).mqtt.certfile == str(cert)
    missing = tmp_path / "missing-ca.pem"
    with pytest.raises(
        ConfigError, match=r"^\[mqtt\] ca_certs = '.*missing-ca\.pem': the file not"
    ):
        _mqtt_tls(ca_certs=missing)
    with pytest.raises(ConfigError, match=r"^\[mqtt\] certfile = '.*': the file not found"):
        _mqtt_tls(certfile=tmp_path / "none.crt")
    with pytest.raises(ConfigError, match=r"^\[mqtt\] keyfile = '.*': the file is a directory"):
        _mqtt_tls(certfile=cert, keyfile=tmp_path)
    with pytest.raises(ConfigError, match=r"^\[mqtt\] ca_certs = '.*client\.key': not a PEM CA"):
        _mqtt_tls(ca_certs=key)
    with pytest.raises(ConfigError, match=r"keyfile = '.*', certfile = '': expected the cert"):
        _mqtt_tls(keyfile=key)


def test_an_encrypted_mqtt_key_is_refused_instead_of_prompting(tmp_path: Path) -> None:
    cert, key = _pem(tmp_path, "locked", encrypted=True)
    with pytest.raises(ConfigError, match=r"expected a PEM certificate and its unencrypted key"):
        _mqtt_tls(certfile=cert, keyfile=key)


def test_mqtt_tls_files_without_tls_are_refused_not_ignored(tmp_path: Path) -> None:
    cert, _ = _pem(tmp_path, "ca")
    with pytest.raises(ConfigError, match=r"\[mqtt\] ca_certs = '.*' with tls = false: expected"):
        load_settings(env={}, overrides={"mqtt.ca_certs": cert})


def test_several_boards_and_per_board_sections(tmp_path: Path) -> None:
    path = _ini(
        tmp_path,
        "[gateway]\ndevice = /dev/ttyACM0, emulator:2, sim:3, auto\n"
        "[board:e6614c311b2f8a29]\nperiod_ms = 10\nautostart = false\nmax_value = 125\n",
    )
    s = load_settings(path, env={})
    assert s.gateway.device == ("/dev/ttyACM0", "emulator:2", "sim:3", "auto")
    (board,) = s.boards
    assert (board.device_id, board.period_ms, board.autostart, board.max_value) == (
        "e6614c311b2f8a29",
        10,
        False,
        125.0,
    )
    assert board.min_value is None  # the shared default applies


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[gateway]\ndevice = sim, sim\n", "a comma-separated list of boards"),
        ("[gateway]\ndevice = emulator:0\n", "a comma-separated list of boards"),
        ("[gateway]\ndevice = sim:1001\n", "a comma-separated list of boards"),
        ("[board:x]\nperiod = 5\n", "[board:x] period: unknown key; expected one of period_ms"),
        ("[board:x]\nperiod_ms = 0\n", "period_ms = '0': expected an integer 1..60000"),
        ("[board:x]\nmin_value = 5\nmax_value = 1\n", "expected min_value <= max_value"),
        ("[board:]\nperiod_ms = 5\n", "expected [board:<device id>]"),
    ],
)
def test_bad_board_lists_and_sections_are_refused(tmp_path: Path, text: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(needle)):
        load_settings(_ini(tmp_path, text), env={})


def test_a_reload_sees_board_changes_as_live(tmp_path: Path) -> None:
    old = load_settings(_ini(tmp_path, "[gateway]\ndevice = sim\n"), env={})
    new = load_settings(
        _ini(tmp_path, "[gateway]\ndevice = sim, /dev/ttyACM0\n[board:sim-0001]\nperiod_ms = 5\n"),
        env={},
    )
    changes = {(c.section, c.key): c.live for c in diff_settings(old, new)}
    assert changes == {("gateway", "device"): True, ("board", "*"): True}
