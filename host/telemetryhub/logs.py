"""Logging setup: readable text or JSON lines on one root handler, with a live-changeable level."""

from __future__ import annotations

import datetime
import json
import logging
import sys
from typing import TextIO

from telemetryhub.errors import ConfigError

FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s [%(threadName)s] %(message)s"

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

    Idempotent: calling again replaces the handler this function installed earlier and leaves
    other handlers (e.g. pytest's) alone. Raises ConfigError for an unknown level or format.
    """
    if fmt not in FORMATS:
        raise ConfigError(f"log format {fmt!r}: expected one of {', '.join(FORMATS)}")
    root = logging.getLogger()
    set_level(level)
    handler = _GatewayHandler(sys.stderr if stream is None else stream)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
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
