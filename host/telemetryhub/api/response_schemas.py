"""The response (and request) schemas the OpenAPI document names under `components/schemas`."""

from __future__ import annotations

from typing import Any

from telemetryhub.api.schemas import FAULT_MODES, FAULT_SCHEMA, PERIOD_SCHEMA
from telemetryhub.models import DeviceState

STATES = [state.label for state in DeviceState]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _counts(*names: str) -> dict[str, Any]:
    return {name: {"type": "integer", "minimum": 0} for name in names}


def _nullable(kind: str, description: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": [kind, "null"]}
    if description:
        out["description"] = description
    return out


_LINK = {
    "type": "object",
    "properties": {
        "connected": {"type": "boolean"},
        "last_error": _nullable("string", "Why the link last failed or could not open."),
    },
}

_DEVICE = {
    "type": ["object", "null"],
    "properties": {
        "boot_id": {
            "type": "integer",
            "description": "Shown as 8 hex digits in logs, dashboard and metrics.",
        },
        "fault": _ref("ArmedFault"),
    },
}

_AGGREGATES = {
    "type": "array",
    "description": "Rolling count/min/max/mean per device channel.",
    "items": {"type": "object"},
}

DEVICE_SUMMARY: dict[str, Any] = {
    "type": "object",
    "description": "One board of the fleet (offline ones too).",
    "properties": {
        "device_id": {"type": "string"},
        "state": {"type": "string", "enum": STATES, "description": "As the board last said."},
        "connected": {"type": "boolean"},
        "port": {"type": "string"},
        "last_error": _nullable("string", "Why its link last failed."),
        "last_seen": _nullable("number", "When data last arrived from it (UTC seconds)."),
        "latest_sample": _ref("LatestSample"),
        "period_ms": _nullable("integer"),
        "unit": _nullable("string"),
        "firmware": _nullable("string"),
        "protocol": _nullable("string"),
        "boot_id_hex": _nullable("string"),
        "fault": _ref("ArmedFault"),
        **_counts("samples_received", "samples_stored", "samples_lost", "reconnects"),
        "lost": {
            "type": "object",
            "description": "Samples lost before reception, by reason.",
            "additionalProperties": {"type": "integer", "minimum": 0},
        },
    },
    "required": ["device_id", "state", "connected", "port", "last_seen", "latest_sample"],
}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "properties": {
            "error": {"type": "string", "description": "What went wrong and what was expected."},
            "status": {"type": "integer", "description": "The HTTP status, repeated."},
            "request_id": {"type": "string"},
        },
        "required": ["error", "status", "request_id"],
    },
    "Outcomes": {
        "type": "object",
        "description": (
            "Each board's outcome of a command. At least one board did it (else the answer is "
            "the error of a refusing board); `ok` is true only when every board did."
        ),
        "properties": {
            "ok": {"type": "boolean"},
            "devices": {
                "type": "object",
                "description": 'Device id -> "ok", or why that board did not do it.',
                "additionalProperties": {"type": "string"},
            },
        },
        "required": ["ok", "devices"],
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
        "description": (
            "The fleet: its state (SafeState if any connected board is in it, else Measuring "
            "if any measures, else Idle), the newest sample of any board, the pipeline's "
            "counts, `link`, `device` and `board` of the first connected board, one summary "
            "per board."
        ),
        "properties": {
            "ts": {
                "type": "number",
                "description": "The gateway's wall clock when this snapshot was taken (UTC s).",
            },
            "state": {"type": "string", "enum": STATES},
            "latest_sample": _ref("LatestSample"),
            "metrics": {
                "type": "object",
                "properties": _counts(
                    "samples_processed",
                    "samples_dropped",
                    "pool_jobs_processed",
                    "pool_jobs_queued",
                    "pool_num_threads",
                    "queue_depth",
                    "queue_capacity",
                ),
            },
            "link": _LINK,
            "device": _DEVICE,
            "devices": {"type": "array", "items": _ref("DeviceSummary")},
            "uplinks": {"type": "object", "description": "Each uplink's delivery status."},
            "aggregates": _AGGREGATES,
        },
        "required": ["state", "latest_sample", "metrics", "link", "device"],
    },
    "DeviceStatus": {
        "type": "object",
        "description": "One board: what /status was for a gateway of one board.",
        "properties": {
            "ts": {"type": "number"},
            "state": {"type": "string", "enum": STATES},
            "latest_sample": _ref("LatestSample"),
            "metrics": {
                "type": "object",
                "description": "This board's counts (the fleet's identity holds per board).",
                "properties": _counts("samples_received", "samples_stored", "samples_lost"),
            },
            "link": _LINK,
            "device": _DEVICE,
            "board": {"type": ["object", "null"], "description": "The board's own STATUS."},
            "aggregates": _AGGREGATES,
        },
        "required": ["state", "latest_sample", "metrics", "link", "device"],
    },
    "DeviceSummary": DEVICE_SUMMARY,
    "Devices": {
        "type": "object",
        "properties": {
            "ts": {
                "type": "number",
                "description": "The gateway's wall clock when the list was taken (UTC s).",
            },
            "devices": {"type": "array", "items": _ref("DeviceSummary")},
            "count": {"type": "integer", "minimum": 0, "description": "Devices in this page."},
            "total": {
                "type": "integer",
                "minimum": 0,
                "description": "Devices matching the filter, over every page.",
            },
        },
        "required": ["devices", "count", "total"],
    },
    "ArmedFault": {
        "type": "object",
        "description": "The fault the board has armed (it stays armed across reset).",
        "properties": {
            "mode": {"type": "string", "enum": list(FAULT_MODES)},
            "probability": _nullable("number"),
            "count": _nullable("integer"),
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
            "samples": {"type": "array", "items": _ref("Sample")},
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
