"""Request ids: accept a caller's X-Request-ID (sanitised) or make one (logs.py stamps records)."""

from __future__ import annotations

import re
import uuid

from telemetryhub.logs import RequestIdFilter, current_request_id

__all__ = ["HEADER", "RequestIdFilter", "current_request_id", "sanitise_request_id"]

HEADER = "X-Request-ID"
_MAX_LEN = 64
_UNSAFE = re.compile(r"[^A-Za-z0-9._:-]")


def sanitise_request_id(raw: str | None) -> str:
    """A log-safe id: the caller's with unsafe characters removed, else a fresh uuid4 hex."""
    cleaned = _UNSAFE.sub("", raw or "")[:_MAX_LEN]
    return cleaned or uuid.uuid4().hex
