"""Logging setup: text or JSON lines on one root handler, stamped with the current request id."""

from __future__ import annotations

import contextvars
import datetime
import json
import logging
import sys
from typing import TextIO

from telemetryhub.errors import ConfigError

FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s [%(threadName)s] %(message)s"
# A record made while a request is served also names it, between the thread and the message.
TEXT_FORMAT_IN_REQUEST = (
    "%(asctime)s %(levelname)-7s %(name)s [%(threadName)s] req=%(request_id)s %(message)s"
)
NO_REQUEST = "-"

# The id of the REST request the current thread (or task) is serving; set by the API.
current_request_id: contextvars.ContextVar[str] = contextvars.ContextVar(
    "telemetryhub_request_id", default=NO_REQUEST
)


class RequestIdFilter(logging.Filter):
    """Puts `record.request_id` on every record (the current request's id, or "-").

    Attach it to a handler: then records from any logger emitted while a request is being
    served, including the core's, carry that request's id.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id.get()
        return True


class TextFormatter(logging.Formatter):
    """TEXT_FORMAT, with `req=<id>` added when the record was made while serving a request."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)
        self._in_request = logging.Formatter(TEXT_FORMAT_IN_REQUEST)

    def format(self, record: logging.LogRecord) -> str:
        if getattr(record, "request_id", NO_REQUEST) != NO_REQUEST:
            return self._in_request.format(record)
        return super().format(record)


# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts, level, logger, msg, thread, every `extra` key, exc."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a single line of JSON (values JSON cannot encode become strings)."""
        entry: dict[str, object] = {
            "ts": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "thread": record.threadName,
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and key not in entry:
                entry[key] = value
        if entry.get("request_id") == NO_REQUEST:
            del entry["request_id"]  # made outside any request
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, default=str, ensure_ascii=False)


class _GatewayHandler(logging.StreamHandler[TextIO]):
    """The one handler `configure_logging` installs; marked so a second call replaces it."""


def configure_logging(
    level: str = "INFO", fmt: str = "text", stream: TextIO | None = None
) -> None:
    """Send every log record (the root logger) to `stream` (stderr) as text or JSON lines.

    Records made while a REST request is served carry its id (`req=<id>` in text,
    `"request_id"` in JSON), whichever logger made them.

    Idempotent: calling again replaces the handler this function installed earlier and leaves
    other handlers (e.g. pytest's) alone. Raises ConfigError for an unknown level or format.
    """
    if fmt not in FORMATS:
        raise ConfigError(f"log format {fmt!r}: expected one of {', '.join(FORMATS)}")
    root = logging.getLogger()
    set_level(level)
    handler = _GatewayHandler(sys.stderr if stream is None else stream)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(RequestIdFilter())
    for old in [h for h in root.handlers if isinstance(h, _GatewayHandler)]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)


def set_level(level: str) -> None:
    """Change the root log level now (e.g. on SIGHUP); raises ConfigError if unknown."""
    name = level.strip().upper()
    if name not in logging.getLevelNamesMapping():
        raise ConfigError(f"log level {level!r}: expected one of DEBUG, INFO, WARNING, ERROR")
    logging.getLogger().setLevel(name)
