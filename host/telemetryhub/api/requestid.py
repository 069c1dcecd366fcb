"""Request ids: accept a caller's X-Request-ID (sanitised) or make one, and stamp log records."""

from __future__ import annotations

import contextvars
import logging
import re
import uuid

HEADER = "X-Request-ID"
_MAX_LEN = 64
_UNSAFE = re.compile(r"[^A-Za-z0-9._:-]")

current_request_id: contextvars.ContextVar[str] = contextvars.ContextVar(
    "telemetryhub_request_id", default="-"
)


def sanitise_request_id(raw: str | None) -> str:
    """A log-safe id: the caller's with unsafe characters removed, else a fresh uuid4 hex."""
    cleaned = _UNSAFE.sub("", raw or "")[:_MAX_LEN]
    return cleaned or uuid.uuid4().hex


class RequestIdFilter(logging.Filter):
    """Puts `record.request_id` on every record (the current request's id, or "-").

    Attach it to a handler: then records from any logger emitted while a request is being
    served, including the core's, carry that request's id.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id.get()
        return True
