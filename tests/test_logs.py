"""Logging setup: text and JSON line formats, extras, exceptions, live level changes."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from telemetryhub.errors import ConfigError
from telemetryhub.logs import configure_logging, set_level


@pytest.fixture(autouse=True)
def _restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in root.handlers:
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)


def test_text_format_is_readable() -> None:
    out = io.StringIO()
    configure_logging("INFO", "text", out)
    logging.getLogger("telemetryhub.test").info("hello %s", "world")
    line = out.getvalue().strip()
    assert line.endswith("INFO    telemetryhub.test [MainThread] hello world")


def test_json_lines_carry_fields_extras_and_exceptions() -> None:
    out = io.StringIO()
    configure_logging("DEBUG", "json", out)
    log = logging.getLogger("telemetryhub.api")
    log.debug("request done", extra={"request_id": "r-1", "status": 200, "obj": object()})
    try:
        raise ValueError("bad")
    except ValueError:
        log.exception("failed")
    log.info("with stack", stack_info=True)
    first, second, third = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["level"] == "DEBUG"
    assert first["logger"] == "telemetryhub.api"
    assert first["msg"] == "request done"
    assert first["thread"] == "MainThread"
    assert (first["request_id"], first["status"]) == ("r-1", 200)
    assert first["obj"].startswith("<object")
    assert first["ts"].endswith("+00:00")
    assert "ValueError: bad" in second["exc"]
    assert "test_logs.py" in third["stack"]


def test_level_changes_live_and_reconfigure_replaces_handler() -> None:
    out = io.StringIO()
    configure_logging("WARNING", "text", out)
    log = logging.getLogger("telemetryhub.live")
    log.info("hidden")
    set_level("debug")
    log.info("shown")
    configure_logging("INFO", "json", out)  # replaces, does not duplicate
    log.info("once")
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert "shown" in lines[0]
    assert json.loads(lines[1])["msg"] == "once"


def test_bad_level_or_format_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="log level 'LOUD'"):
        set_level("LOUD")
    with pytest.raises(ConfigError, match="log format 'xml': expected one of text, json"):
        configure_logging("INFO", "xml")
