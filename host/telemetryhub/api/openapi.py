"""The hand-written OpenAPI 3.1 document of the REST API, built from the validation schemas."""

from __future__ import annotations

import copy
import functools
from typing import Any

from telemetryhub import __version__
from telemetryhub.api.schemas import (
    FAULT_MODES,
    FAULT_SCHEMA,
    PERIOD_SCHEMA,
    RECENT_PARAMS,
    SAMPLES_PARAMS,
    QueryParam,
)

_JSON = "application/json"

_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "properties": {
            "error": {"type": "string", "description": "What went wrong and what was expected."},
            "status": {"type": "integer", "description": "The HTTP status, repeated."},
            "request_id": {"type": "string"},
        },
        "required": ["error", "status", "request_id"],
    },
    "Ok": {
        "type": "object",
        "properties": {"ok": {"const": True}},
        "required": ["ok"],
    },
    "LatestSample": {
        "type": ["object", "null"],
        "properties": {
            "seq": {"type": "integer"},
            "value": {"type": "number"},
            "unit": {"type": "string"},
            "ts": {"type": "number", "description": "UTC seconds since the epoch."},
        },
        "required": ["seq", "value", "unit", "ts"],
    },
    "Status": {
        "type": "object",
        "properties": {
            "ts": {
                "type": "number",
                "description": "The gateway's wall clock when this snapshot was taken (UTC s).",
            },
            "state": {"type": "string", "enum": ["Idle", "Measuring", "SafeState"]},
            "latest_sample": {"$ref": "#/components/schemas/LatestSample"},
            "metrics": {
                "type": "object",
                "properties": {
                    name: {"type": "integer", "minimum": 0}
                    for name in (
                        "samples_processed",
                        "samples_dropped",
                        "pool_jobs_processed",
                        "pool_jobs_queued",
                        "pool_num_threads",
                        "queue_depth",
                        "queue_capacity",
                    )
                },
            },
            "link": {
                "type": "object",
                "properties": {
                    "connected": {"type": "boolean"},
                    "last_error": {
                        "type": ["string", "null"],
                        "description": "Why the link last failed or could not open.",
                    },
                },
            },
            "device": {
                "type": ["object", "null"],
                "properties": {
                    "boot_id": {
                        "type": "integer",
                        "description": "Shown as 8 hex digits in logs, dashboard and metrics.",
                    },
                    "fault": {"$ref": "#/components/schemas/ArmedFault"},
                },
            },
            "uplinks": {"type": "object", "description": "Each uplink's delivery status."},
            "aggregates": {
                "type": "array",
                "description": "Rolling count/min/max/mean per device channel.",
                "items": {"type": "object"},
            },
        },
        "required": ["state", "latest_sample", "metrics", "link", "device"],
    },
    "ArmedFault": {
        "type": "object",
        "description": "The fault the board has armed (it stays armed across reset).",
        "properties": {
            "mode": {"type": "string", "enum": list(FAULT_MODES)},
            "probability": {"type": ["number", "null"]},
            "count": {"type": ["integer", "null"]},
        },
        "required": ["mode"],
    },
    "Sample": {
        "type": "object",
        "properties": {
            "device_id": {"type": "string"},
            "boot_id": {"type": "integer"},
            "seq": {"type": "integer"},
            "ts": {"type": "number"},
            "value": {"type": "number"},
            "unit": {"type": "string"},
            "channel": {"type": "integer"},
            "board_ms": {"type": "integer"},
        },
        "required": ["device_id", "boot_id", "seq", "ts", "value", "unit", "channel"],
    },
    "Samples": {
        "type": "object",
        "properties": {
            "samples": {"type": "array", "items": {"$ref": "#/components/schemas/Sample"}},
            "count": {"type": "integer", "minimum": 0},
        },
        "required": ["samples", "count"],
    },
    "Health": {
        "type": "object",
        "properties": {
            "status": {"enum": ["ok", "failing"]},
            "problems": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["status", "problems"],
    },
    "Ready": {
        "type": "object",
        "properties": {
            "ready": {"type": "boolean"},
            "reasons": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["ready", "reasons"],
    },
    "Fault": FAULT_SCHEMA,
    "Period": PERIOD_SCHEMA,
}

_ERROR_TEXT = {
    400: (
        "Bad input; the message names the field or parameter. Besides each schema, the "
        "input must be consistent: `until` not before `since`; /fault needs `probability` "
        "for random, `count` >= 1 for intermittent and `count` >= 0 for deterministic."
    ),
    401: "No bearer token, and this caller needs one.",
    403: "The token is unknown or lacks the role.",
    409: "The device state machine refused the transition.",
    413: "Request body too large.",
    415: "The body is not application/json.",
    429: "Rate limit hit; see Retry-After.",
    500: "A bug in the gateway.",
    502: "The board rejected the command (the message carries its code).",
    503: "No device connected (or, for /ready, not ready).",
    504: "The board did not answer in time.",
}

_COMMON = (413, 429, 500)
_READ = (401, 403, *_COMMON)
_COMMAND = (401, 403, 409, 502, 503, 504, *_COMMON)


def _ok(schema: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {_JSON: {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }


def _errors(codes: tuple[int, ...]) -> dict[str, Any]:
    return {str(code): {"$ref": f"#/components/responses/E{code}"} for code in codes}


def _param(p: QueryParam) -> dict[str, Any]:
    return {
        "name": p.name,
        "in": "query",
        "required": False,
        "description": p.description,
        "schema": p.schema(),
    }


def _command(summary: str, body: str | None = None) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "security": [{"bearer": []}],
        "responses": {"200": _ok("Ok", "Done."), **_errors(_COMMAND)},
    }
    if body is not None:
        op["requestBody"] = {
            "required": True,
            "content": {_JSON: {"schema": {"$ref": f"#/components/schemas/{body}"}}},
        }
        op["responses"].update(_errors((400, 415)))
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
        "/status": _read("Device state, latest sample, metrics, link and device.", "Status"),
        "/samples": _read("Stored samples, oldest first.", "Samples", SAMPLES_PARAMS),
        "/samples/recent": _read("Recent samples from memory, thinned.", "Samples", RECENT_PARAMS),
        "/start": _command("Start measuring."),
        "/stop": _command("Stop measuring."),
        "/reset": _command("Reset the device (leaves SafeState)."),
        "/fault": _command("Set fault injection.", "Fault"),
        "/period": _command("Set the sampling period.", "Period"),
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
            "schemas": _SCHEMAS,
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
