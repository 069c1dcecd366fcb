"""The hand-written OpenAPI 3.1 document of the REST API, built from the validation schemas."""

from __future__ import annotations

import copy
import functools
from typing import Any

from telemetryhub import __version__
from telemetryhub.api.commands import COMMANDS
from telemetryhub.api.response_schemas import SCHEMAS
from telemetryhub.api.schemas import DEVICES_PARAMS, RECENT_PARAMS, SAMPLES_PARAMS, QueryParam

_JSON = "application/json"

_ERROR_TEXT = {
    400: (
        "Bad input; the message names the field or parameter. Besides each schema, the "
        "input must be consistent: `until` not before `since`; /fault needs `probability` "
        "for random, `count` >= 1 for intermittent and `count` >= 0 for deterministic."
    ),
    401: "No bearer token, and this caller needs one.",
    403: "The token is unknown or lacks the role.",
    404: "No such path, or no board of that device id is known to this gateway.",
    409: "The device state machine refused the transition.",
    413: "Request body too large.",
    415: "The body is not application/json.",
    429: "Rate limit hit; see Retry-After.",
    500: "A bug in the gateway.",
    502: "The board rejected the command (the message carries its code).",
    503: "No device connected: the board named, or (fleet commands) any (for /ready: not ready).",
    504: "The board did not answer in time.",
}

_COMMON = (413, 429, 500)
_READ = (401, 403, *_COMMON)
_COMMAND = (401, 403, 409, 502, 503, 504, *_COMMON)
_DEVICE_ID = {
    "name": "device_id",
    "in": "path",
    "required": True,
    "description": "The board's id, as it says in its HELLO.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[^/]+$"},
}


def _ok(schema: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {_JSON: {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }


def _errors(codes: tuple[int, ...]) -> dict[str, Any]:
    return {str(code): {"$ref": f"#/components/responses/E{code}"} for code in codes}


def _param(p: QueryParam) -> dict[str, Any]:
    param = {
        "name": p.name,
        "in": "query",
        "required": False,
        "description": p.description,
        "schema": p.schema(),
    }
    if p.max_repeat > 1:
        param.update(style="form", explode=True)  # ?device=a&device=b
    return param


def _command(summary: str, body: str | None = None, one: bool = False) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "security": [{"bearer": []}],
        "responses": {"200": _ok("Outcomes", "Each board's outcome."), **_errors(_COMMAND)},
    }
    if body is not None:
        op["requestBody"] = {
            "required": True,
            "content": {_JSON: {"schema": {"$ref": f"#/components/schemas/{body}"}}},
        }
        op["responses"].update(_errors((400, 415)))
    if one:
        op["parameters"] = [_DEVICE_ID]
        op["responses"].update(_errors((404,)))
    return {"post": op}


def _read(summary: str, schema: str, params: tuple[QueryParam, ...] = ()) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "security": [{}, {"bearer": []}],
        "responses": {"200": _ok(schema, summary), **_errors(_READ)},
    }
    if params:
        op["parameters"] = [_param(p) for p in params]
        op["responses"].update(_errors((400,)))
    return {"get": op}


_COMMAND_TEXT = {
    "start": "Start measuring.",
    "stop": "Stop measuring (then wait until what was sent is stored).",
    "reset": "Reset (leave SafeState for Idle; an armed fault stays armed).",
    "fault": "Set fault injection.",
    "period": "Set the sampling period.",
}
_BODY = {"fault": "Fault", "period": "Period"}


def _commands() -> dict[str, Any]:
    """Each command twice: to every connected board, and to the board named in the path."""
    paths: dict[str, Any] = {}
    for verb, _schema, _run in COMMANDS:
        text = _COMMAND_TEXT[verb]
        paths[f"/{verb}"] = _command(f"Every connected board: {text}", _BODY.get(verb))
        paths[f"/devices/{{device_id}}/{verb}"] = _command(
            f"One board: {text}", _BODY.get(verb), one=True
        )
    return paths


def _device_read() -> dict[str, Any]:
    read = _read("One board's full document.", "DeviceStatus")
    read["get"]["parameters"] = [_DEVICE_ID]
    read["get"]["responses"].update(_errors((404,)))
    return read


def _public(summary: str, responses: dict[str, Any]) -> dict[str, Any]:
    return {
        "get": {
            "summary": summary,
            "security": [{}],
            "responses": {**responses, **_errors(_COMMON)},
        }
    }


def _paths() -> dict[str, Any]:
    return {
        "/status": _read(
            "The fleet: state, newest sample, counts, one summary per board.", "Status"
        ),
        "/devices": _read(
            "Every board known (offline ones too), by device id.", "Devices", DEVICES_PARAMS
        ),
        "/devices/{device_id}": _device_read(),
        "/samples": _read("Stored samples, oldest first.", "Samples", SAMPLES_PARAMS),
        "/samples/recent": _read(
            "Recent samples from memory, thinned per device, oldest first.",
            "Samples",
            RECENT_PARAMS,
        ),
        **_commands(),
        "/health": _public(
            "Liveness: the process serves requests and every pipeline thread is running.",
            {
                "200": _ok("Health", "Alive."),
                "503": _ok("Health", "A pipeline thread died; `problems` says which."),
            },
        ),
        "/ready": _public(
            "Readiness: device connected, data fresh, queue below the limit.",
            {
                "200": _ok("Ready", "Ready."),
                "503": _ok("Ready", "Not ready; `reasons` says why."),
            },
        ),
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics (text exposition format).",
                "security": [{}, {"bearer": []}],
                "responses": {
                    "200": {
                        "description": "Metrics.",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    },
                    **_errors(_READ),
                },
            }
        },
        "/openapi.json": _public(
            "This document.",
            {
                "200": {
                    "description": "OpenAPI 3.1.",
                    "content": {_JSON: {"schema": {"type": "object"}}},
                },
            },
        ),
    }


@functools.cache
def _document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "TelemetryHub gateway API",
            "version": __version__,
            "description": (
                "Reads are open to loopback clients unless reads_open is false; other reads "
                "need a viewer or operator token, every command an operator token "
                "(Authorization: Bearer <token>). Every error is JSON (`Error`)."
            ),
        },
        "paths": _paths(),
        "components": {
            "schemas": SCHEMAS,
            "responses": {
                f"E{code}": {
                    "description": text,
                    "content": {_JSON: {"schema": {"$ref": "#/components/schemas/Error"}}},
                }
                for code, text in _ERROR_TEXT.items()
            },
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def openapi_document() -> dict[str, Any]:
    """A fresh copy of the document (callers may mutate it)."""
    return copy.deepcopy(_document())
