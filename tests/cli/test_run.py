"""`telemetryhub run` refuses at start what cannot work: one line naming the key, file or port,
exit code 1, no traceback; and what it creates in the data directory is private."""

from __future__ import annotations

import logging
import os
import shutil
import socket
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from telemetryhub.cli.main import build_parser, main
from telemetryhub.cli.run import Gateway, core_settings
from telemetryhub.config import load_settings
from telemetryhub.errors import TransportError
from telemetryhub.fleet.loop import LinkLoop
from telemetryhub.store.sqlite import DB_FILENAME, SqliteStore
from telemetryhub.transport.base import Transport

NO_DAC = "-dac_override,-dac_read_search"


def _run(args: list[str], *, unprivileged: bool = False) -> subprocess.CompletedProcess[str]:
    """`python -m telemetryhub run ARGS` in a child; `unprivileged` takes away root's power
    to ignore file permissions (the capabilities DAC_OVERRIDE and DAC_READ_SEARCH)."""
    cmd = [sys.executable, "-m", "telemetryhub", "run", "--duration", "5", *args]
    if unprivileged and os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        assert setpriv is not None, "setpriv (Debian's util-linux) is needed to drop root's powers"
        cmd = [setpriv, f"--inh-caps={NO_DAC}", f"--bounding-set={NO_DAC}", *cmd]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TELEMETRYHUB_")}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env)


def _refused(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("telemetryhub run: ")
    for needle in needles:
        assert needle in lines[0]
    assert "telemetryhub stopped" not in result.stdout
    return lines[0]


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def test_a_busy_http_port_is_one_line_naming_it(tmp_path: Path, busy_port: int) -> None:
    result = _run(["--data-dir", str(tmp_path), "--http", f"127.0.0.1:{busy_port}"])
    _refused(result, f"[http] host = '127.0.0.1', port = {busy_port}", "Address already in use")


def test_an_unreadable_config_file_is_one_line_naming_it(tmp_path: Path) -> None:
    config = tmp_path / "config.ini"
    config.write_text("[gateway]\n")
    config.chmod(0)
    result = _run(["--config", str(config), "--data-dir", str(tmp_path)], unprivileged=True)
    _refused(result, f"config file '{config}' cannot be read: permission denied")


def test_a_read_only_data_dir_is_refused_before_anything_runs(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o500)
    result = _run(["--data-dir", str(data_dir), "--no-http"], unprivileged=True)
    _refused(result, f"data directory {data_dir} is not writable: Permission denied")


def test_a_read_only_database_is_refused_before_anything_runs(tmp_path: Path) -> None:
    SqliteStore.in_data_dir(tmp_path).close()
    (tmp_path / DB_FILENAME).chmod(0o400)
    result = _run(["--data-dir", str(tmp_path), "--no-http"], unprivileged=True)
    _refused(result, f"sample store {tmp_path / DB_FILENAME} cannot be written", "readonly")


def test_mqtt_tls_without_its_ca_file_is_one_line_naming_the_key(tmp_path: Path) -> None:
    config = tmp_path / "config.ini"
    ca = tmp_path / "missing-ca.pem"
    config.write_text(f"[mqtt]\nenabled = true\ntls = true\nca_certs = {ca}\n")
    result = _run(["--config", str(config), "--data-dir", str(tmp_path), "--no-http"])
    _refused(result, f"[mqtt] ca_certs = '{ca}': the file not found")


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (
            "[gateway]\npool_workers = 100000\n",
            "pool_workers = '100000': expected an integer 1..64",
        ),
        ("[device]\nperiod_ms = 100000\n", "period_ms = '100000': expected an integer 1..60000"),
        ("[mqtt]\nkeepalive_s = 999999999\n", "keepalive_s = '999999999': expected an integer"),
        ("[gateway]\ndata_dir =\n", "data_dir = '': expected a directory path (not empty"),
    ],
)
def test_values_out_of_range_stop_the_start(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    text: str,
    needle: str,
) -> None:
    config = tmp_path / "config.ini"
    config.write_text(text)
    monkeypatch.chdir(tmp_path)  # an empty data_dir would have meant here
    assert main(["run", "--config", str(config), "--no-http", "--duration", "5"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert needle in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.ini"]


def test_corrupt_and_foreign_databases_stop_the_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    conn = sqlite3.connect(tmp_path / DB_FILENAME)
    conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    conn.close()
    assert main(["run", "--data-dir", str(tmp_path), "--no-http", "--duration", "5"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "is not a TelemetryHub store (it holds table invoices)" in err


def test_what_run_creates_is_private(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data_dir = tmp_path / "data"
    assert (
        main(["run", "--data-dir", str(data_dir), "--http", "127.0.0.1:0", "--duration", "0.5"])
        == 0
    )
    assert "operator token (saved in" in capsys.readouterr().out
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in [data_dir, *data_dir.iterdir()]}
    assert modes == {"data": 0o700, DB_FILENAME: 0o600, "operator.token": 0o600}


def test_a_token_file_open_to_others_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    token = tmp_path / "operator.token"
    token.write_text("a-token-of-before\n")
    token.chmod(0o644)
    with caplog.at_level(logging.WARNING):
        assert main(["run", "--data-dir", str(tmp_path), "--http", "127.0.0.1:0",
                     "--duration", "0.5"]) == 0  # fmt: skip
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert (
        f"operator token file {token} is open to group or others (mode 0644): chmod 600 {token}"
        in warnings
    )
    assert f"operator token: in {token}" in capsys.readouterr().out


class _NoIntake:
    def offer(self, batch: object) -> bool:
        return True

    def note(self, event: object) -> None:
        pass

    def overloaded(self) -> bool:
        return False


def _attempts_in(window_s: float, reconnect_max_s: float) -> int:
    """How often the gateway's link loop, configured with `reconnect_max_s`, tries a port that
    always fails, within `window_s` (the outage modelled: a fixed window, not a wait)."""
    attempts = 0

    def failing() -> Transport:
        nonlocal attempts
        attempts += 1
        raise TransportError("cannot open serial port /dev/ttyNONE")

    settings = load_settings(env={}, overrides={"device.reconnect_max_s": reconnect_max_s})
    loop = LinkLoop(_NoIntake(), core_settings(settings).link)  # type: ignore[arg-type]
    loop.add_port("/dev/ttyNONE", failing)
    loop.start()
    try:
        time.sleep(window_s)
    finally:
        loop.close()
    return attempts


def test_reconnect_max_s_bounds_the_wait_between_attempts() -> None:
    eager = _attempts_in(1.5, reconnect_max_s=0.05)
    patient = _attempts_in(1.5, reconnect_max_s=1.0)
    # 0.05 s apart: ~30 attempts; doubling 0.05 s up to 1 s: 0, .05, .15, .35, .75, 1.5 s: <= 6
    assert patient <= 6
    assert eager >= 3 * patient


def test_run_overlays_several_config_files_and_a_config_d(tmp_path: Path) -> None:
    base = tmp_path / "telemetryhub.ini"
    base.write_text("[gateway]\nqueue_capacity = 10\n[http]\nport = 9000\n")
    conf_d = tmp_path / "config.d"
    conf_d.mkdir()
    (conf_d / "site.ini").write_text("[http]\nport = 9001\n")
    args = build_parser().parse_args(["run", "--config", str(base), "--config", str(conf_d)])
    settings = Gateway(args).settings
    assert (settings.gateway.queue_capacity, settings.http.port) == (10, 9001)
