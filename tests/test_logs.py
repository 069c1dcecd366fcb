"""Logging setup: text and JSON line formats, extras, exceptions, live level changes."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from telemetryhub.errors import ConfigError
from telemetryhub.logs import configure_logging, current_request_id, set_level
from tests.api.conftest import make_app
from tests.api.fakecore import FakeCore


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


def _inside_and_outside_a_request(fmt: str) -> list[str]:
    """The lines of one record logged while serving request "req-7" and one after."""
    out = io.StringIO()
    configure_logging("INFO", fmt, out)
    log = logging.getLogger("telemetryhub.core")
    token = current_request_id.set("req-7")
    try:
        log.info("inside")
    finally:
        current_request_id.reset(token)
    log.info("outside")
    return out.getvalue().splitlines()


def test_text_lines_made_while_serving_a_request_name_it() -> None:
    inside, outside = _inside_and_outside_a_request("text")
    assert inside.endswith("INFO    telemetryhub.core [MainThread] req=req-7 inside")
    assert outside.endswith("INFO    telemetryhub.core [MainThread] outside")


def test_json_lines_name_the_request_only_inside_one() -> None:
    inside, outside = (json.loads(line) for line in _inside_and_outside_a_request("json"))
    assert inside["request_id"] == "req-7"
    assert "request_id" not in outside


def test_a_refused_request_is_one_text_line_with_client_and_request_id() -> None:
    out = io.StringIO()
    configure_logging("INFO", "text", out)
    client = make_app(FakeCore()).test_client()
    client.post("/start", headers={"X-Request-ID": "who-1"}, environ_base={"REMOTE_ADDR": "::1"})
    (line,) = out.getvalue().splitlines()
    assert line.endswith(
        "INFO    telemetryhub.api.access [MainThread] req=who-1 POST /start from ::1 refused "
        "with 401: a bearer token with role operator is required"
    )


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
