"""Every failure becomes a JSON error answer here, and nowhere else (never an HTML page)."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

from telemetryhub.api.requestid import current_request_id
from telemetryhub.api.schemas import InvalidInput
from telemetryhub.errors import (
    CommandRejectedError,
    CommandTimeoutError,
    DeviceError,
    DeviceNotConnectedError,
    InvalidStateError,
    ProtocolError,
    TelemetryHubError,
    UnknownDeviceError,
)

log = logging.getLogger("telemetryhub.api")

# Most specific first: InvalidStateError is a CommandRejectedError.
_DOMAIN_STATUS: tuple[tuple[type[TelemetryHubError], int], ...] = (
    (UnknownDeviceError, 404),
    (DeviceNotConnectedError, 503),
    (InvalidStateError, 409),
    (CommandRejectedError, 502),
    (CommandTimeoutError, 504),
    (DeviceError, 502),
    (ProtocolError, 400),  # a command argument the wire grammar refuses (docs/protocol.md)
)


def error_response(status: int, message: str) -> Response:
    """The one error shape: {"error": message, "status": code, "request_id": id}."""
    response = jsonify(error=message, status=status, request_id=current_request_id.get())
    response.status_code = status
    return response


def _http_error(exc: HTTPException) -> Response:
    status = exc.code or 500
    response = error_response(status, exc.description or exc.name)
    for name, value in exc.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def _invalid_input(exc: InvalidInput) -> Response:
    return error_response(400, str(exc))


def _domain_error(exc: TelemetryHubError) -> Response:
    for kind, status in _DOMAIN_STATUS:
        if isinstance(exc, kind):
            log.warning("device command failed: %s", exc)
            return error_response(status, str(exc))
    log.error("gateway error: %s", exc, exc_info=exc)
    return error_response(500, f"gateway error: {exc}")


def _bug(exc: Exception) -> Response:
    log.error("unhandled error", exc_info=exc)
    return error_response(500, "internal error; see the gateway log for this request id")


def register_error_handlers(app: Flask) -> None:
    """Install the handlers on `app`."""
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(InvalidInput, _invalid_input)
    app.register_error_handler(TelemetryHubError, _domain_error)
    app.register_error_handler(Exception, _bug)
