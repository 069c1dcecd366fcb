"""The `telemetryhub` command: subcommands, exit codes, run, export, reload."""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from telemetryhub.cli.main import build_parser, check_fault, exit_code, main
from telemetryhub.cli.run import Gateway
from telemetryhub.errors import ApiError
from telemetryhub.models import Sample
from telemetryhub.store.sqlite import SqliteStore


def test_version_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert "telemetryhub 0.1.0" in capsys.readouterr().out


def test_run_on_the_simulator_stores_and_prints_a_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "run",
        "--device",
        "sim",
        "--data-dir",
        str(tmp_path),
        "--no-http",
        "--duration",
        "1.5",
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "telemetryhub stopped:" in out
    store = SqliteStore.in_data_dir(tmp_path)
    stored = store.count()
    store.close()
    assert stored > 0
    assert f"stored     {stored} " in out


def test_a_bad_config_file_is_refused_naming_key_value_and_expectation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.ini"
    config.write_text("[gateway]\nqueue_capacity = abc\n")
    assert main(["run", "--config", str(config), "--no-http"]) == 1
    err = capsys.readouterr().err
    assert "[gateway] queue_capacity = 'abc': expected an integer 1..100000" in err


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[gateway]\nspeed = 3\n", "speed"),
        ("[nonsense]\nx = 1\n", "nonsense"),
        ("no section header\n", "config"),
    ],
)
def test_unknown_keys_sections_and_syntax_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    config = tmp_path / "config.ini"
    config.write_text(text)
    assert main(["run", "--config", str(config), "--no-http"]) == 1
    assert message in capsys.readouterr().err


def test_a_missing_config_file_and_a_bad_http_flag_are_clear_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "--config", str(tmp_path / "none.ini")]) == 1
    assert "not found" in capsys.readouterr().err
    assert main(["run", "--http", "8080", "--data-dir", str(tmp_path)]) == 1
    assert "expected HOST:PORT" in capsys.readouterr().err


def _fill_store(data_dir: Path) -> None:
    store = SqliteStore.in_data_dir(data_dir)
    store.write_batch(
        [
            Sample("dev-a", 7, seq, seq * 100, 1_800_000_000.0 + seq, 40.0 + seq, 0, "C")
            for seq in range(5)
        ]
        + [Sample("dev-b", 9, 0, 0, 1_800_000_000.5, 1.5, 0, "C")]
    )
    store.close()


def test_export_writes_csv_and_json_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _fill_store(tmp_path)
    assert main(["export", "--data-dir", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("device_id,boot_id,seq,ts,time_utc")
    assert len(lines) == 1 + 6

    assert main(["export", "--data-dir", str(tmp_path), "--format", "jsonl", "--device", "dev-a",
                 "--since", "2027-01-15T08:00:02+00:00"]) == 0  # fmt: skip
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [row["seq"] for row in rows] == [2, 3, 4]
    assert rows[0]["time_utc"] == "2027-01-15T08:00:02+00:00"


def test_export_refuses_a_missing_store_and_a_bad_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["export", "--data-dir", str(tmp_path / "nothing")]) == 1
    assert "no store" in capsys.readouterr().err
    _fill_store(tmp_path)
    assert main(["export", "--data-dir", str(tmp_path), "--since", "yesterday"]) == 1
    assert "expected ISO 8601" in capsys.readouterr().err


def test_ports_lists_nothing_here_and_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ports"]) == 0


def _wait_for_line(proc: subprocess.Popen[str], needle: str, lines: list[str]) -> None:
    deadline = time.monotonic() + 20
    assert proc.stderr is not None
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        lines.append(line)
        if needle in line:
            return
    raise AssertionError(f"no {needle!r} in:\n{''.join(lines)}")


def test_sighup_reloads_live_settings_and_sigterm_shuts_down_gracefully(tmp_path: Path) -> None:
    config = tmp_path / "config.ini"
    config.write_text("[device]\nperiod_ms = 50\n")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "telemetryhub", "run", "--config", str(config),
           "--data-dir", str(tmp_path / "data"), "--no-http"]  # fmt: skip
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    lines: list[str] = []
    try:
        _wait_for_line(proc, "state Measuring", lines)
        config.write_text(
            "[device]\nperiod_ms = 10\n[gateway]\nlog_level = DEBUG\nqueue_capacity = 50\n"
        )
        proc.send_signal(signal.SIGHUP)
        _wait_for_line(proc, "reload: applied 2 live change(s)", lines)
        assert any("queue_capacity changed but needs a restart" in line for line in lines)
        config.write_text("[device]\nperiod_ms = zero\n")
        proc.send_signal(signal.SIGHUP)
        _wait_for_line(proc, "reload refused", lines)
        missing_ca = tmp_path / "missing-ca.pem"
        config.write_text(
            f"[device]\nperiod_ms = 20\n[mqtt]\ntls = true\nca_certs = {missing_ca}\n"
        )
        proc.send_signal(signal.SIGHUP)
        _wait_for_line(proc, f"[mqtt] ca_certs = '{missing_ca}': the file not found", lines)
        assert "reload refused, keeping the running configuration" in lines[-1]
        # the refusals changed nothing: the file of the last applied reload differs in nothing
        config.write_text(
            "[device]\nperiod_ms = 10\n[gateway]\nlog_level = DEBUG\nqueue_capacity = 50\n"
        )
        proc.send_signal(signal.SIGHUP)
        _wait_for_line(proc, "reload: applied 0 live change(s)", lines)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "telemetryhub stopped:" in out
    store = SqliteStore.in_data_dir(tmp_path / "data")
    assert f"stored     {store.count()} " in out
    store.close()


class Terminal(io.StringIO):
    """A stream that says it is a terminal, as a person's would."""

    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("stream", [Terminal, io.StringIO])
def test_live_progress_shows_on_a_terminal_and_stays_quiet_when_piped(
    tmp_path: Path, stream: type[io.StringIO]
) -> None:
    args = build_parser().parse_args(
        ["run", "--data-dir", str(tmp_path), "--no-http", "--duration", "2.5"]
    )
    out = stream()
    assert Gateway(args, out).run() == 0
    text = out.getvalue()
    assert "telemetryhub stopped:" in text
    assert ("samples/s" in text) == (stream is Terminal)
    if stream is Terminal:
        assert "Measuring" in text
        assert "queue 0/1000" in text


def test_a_reader_that_goes_away_is_not_an_error(tmp_path: Path) -> None:
    store = SqliteStore.in_data_dir(tmp_path)  # more than a pipe buffer of CSV
    store.write_batch(
        [Sample("dev", 1, seq, seq, 1e9 + seq, 42.0, 0, "C") for seq in range(20_000)]
    )
    store.close()
    export = [sys.executable, "-m", "telemetryhub", "export", "--data-dir", str(tmp_path)]
    result = subprocess.run(
        f"{' '.join(export)} | head -c 1", shell=True, capture_output=True, text=True, timeout=30
    )
    assert "Traceback" not in result.stderr
    assert result.stdout == "d"


def _usage_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run `argv`, which must end as a usage error (exit 2); its error line."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err.strip().splitlines()[-1]


def test_top_level_help_is_for_users_and_documents_the_exit_codes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "edge telemetry gateway for MicroPython boards" in out
    assert "do_X" not in out
    assert "subcommand table" not in out
    for code, meaning in [("3", "cannot be reached"), ("4", "401/403"), ("5", "409"),
                          ("6", "503/504"), ("2", "usage")]:  # fmt: skip
        assert any(line.split()[:1] == [code] and meaning in line for line in out.splitlines())
    assert "period" in out


def test_every_option_and_argument_of_every_command_has_help() -> None:
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    missing = [
        f"{name} {action.dest}"
        for name, command in commands.choices.items()
        for action in command._actions
        if not action.help and not isinstance(action, argparse._HelpAction)
        and action.dest not in ("format", "mode", "log_format")  # choices say it all
    ]  # fmt: skip
    assert missing == []


def test_emulate_takes_its_listed_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["emulate", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "--flash-dir" in out
    assert "--link" in out
    line = _usage_error(["emulate", "--flash-dir", str(tmp_path / "none")], capsys)
    assert "argument --flash-dir" in line
    assert "is not a directory" in line
    line = _usage_error(["emulate", "--link", str(tmp_path / "no" / "port")], capsys)
    assert "argument --link" in line
    assert "does not exist" in line
    args = build_parser().parse_args(
        ["emulate", "--flash-dir", str(tmp_path), "--link", str(tmp_path / "port")]
    )
    assert (args.flash_dir, args.link) == (tmp_path, tmp_path / "port")


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["period", "0"], "argument period_ms: expected an integer 1..60000, got '0'"),
        (["period", "60001"], "expected an integer 1..60000"),
        (["period", "fast"], "expected an integer 1..60000, got 'fast'"),
        (["fault", "random"], "fault random needs a probability 0..1"),
        (["fault", "random", "1.5"], "the probability must be a number 0..1, got '1.5'"),
        (["fault", "random", "nan"], "the probability must be a number 0..1"),
        (["fault", "intermittent"], "fault intermittent needs a count of samples"),
        (["fault", "deterministic", "0"], "expected a count of samples 1..1000000, got '0'"),
        (["fault", "none", "3"], "fault none takes no amount"),
        (["export", "--limit", "-5"], "argument --limit: expected an integer >= 1, got '-5'"),
        (["export", "--data-dir", ""], "argument --data-dir: expected a directory path"),
        (["run", "--duration", "-1"], "argument --duration: expected a number of seconds > 0"),
        (["run", "--duration", "inf"], "expected a number of seconds > 0"),
        (["run", "--data-dir", ""], "argument --data-dir: expected a directory path"),
        (["monitor", "/dev/ttyACM0", "--count", "0"], "argument --count: expected an integer"),
        (["status", "--url", "localhost:8080"], "expected an http:// or https:// URL"),
    ],
)
def test_bad_arguments_are_usage_errors_naming_what_is_wrong(
    argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    line = _usage_error(argv, capsys)
    assert line.startswith(f"telemetryhub {argv[0]}: error: ")
    assert needle in line


def test_fault_and_period_arguments_become_the_request() -> None:
    parser = build_parser()
    for argv, probability, count in [
        (["fault", "random", "0.25"], 0.25, 0),
        (["fault", "intermittent", "3"], 0.0, 3),
        (["fault", "none"], 0.0, 0),
    ]:
        args = parser.parse_args(argv)
        assert check_fault(args) is None
        assert (args.probability, args.count) == (probability, count)
    assert parser.parse_args(["period", "50"]).period_ms == 50


@pytest.mark.parametrize(
    ("status", "code"),
    [(0, 3), (400, 2), (401, 4), (403, 4), (409, 5), (503, 6), (504, 6), (500, 1), (429, 1)],
)
def test_each_kind_of_gateway_answer_has_its_exit_code(status: int, code: int) -> None:
    assert exit_code(ApiError(status, "x")) == code


@pytest.mark.micropython
def test_telemetryhub_emulate_runs_a_board_at_the_link_it_was_given(tmp_path: Path) -> None:
    link = tmp_path / "ttyBOARD"
    cmd = [sys.executable, "-m", "telemetryhub", "emulate", "--link", str(link)]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == str(link)
            assert link.is_symlink()
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=10) == 0
            assert not link.exists()
        finally:
            proc.kill()
