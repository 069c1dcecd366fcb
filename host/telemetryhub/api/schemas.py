"""Request schemas, in one place for both validation and the OpenAPI document."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator, ValidationError
from werkzeug.datastructures import MultiDict

from telemetryhub.models import DEVICE_STATUSES

FAULT_MODES = ("none", "random", "intermittent", "deterministic")


def _fault_needs(mode: str, why: str, then: dict[str, Any]) -> dict[str, Any]:
    """A schema clause: when `mode` is chosen, the body must also match `then` (`why` says so)."""
    return {
        "if": {"properties": {"mode": {"const": mode}}, "required": ["mode"]},
        "then": {**then, "description": why},
    }


FAULT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "mode": {"type": "string", "enum": list(FAULT_MODES)},
        "probability": {"type": "number", "minimum": 0, "maximum": 1},
        "count": {"type": "integer", "minimum": 0, "maximum": 1_000_000},
    },
    "required": ["mode"],
    "additionalProperties": False,
    # What each mode needs, as docs/protocol.md says the board checks it; a field a mode does
    # not use is accepted and ignored (the dashboard and the client send both).
    "allOf": [
        _fault_needs("random", "random needs a probability 0..1", {"required": ["probability"]}),
        _fault_needs(
            "intermittent",
            "intermittent needs count >= 1 (count failing reads, then one good one)",
            {"required": ["count"], "properties": {"count": {"minimum": 1}}},
        ),
        _fault_needs(
            "deterministic",
            "deterministic needs count >= 0 (SafeState after count more samples)",
            {"required": ["count"]},
        ),
    ],
}

PERIOD_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"period_ms": {"type": "integer", "minimum": 1, "maximum": 60_000}},
    "required": ["period_ms"],
    "additionalProperties": False,
}


class InvalidInput(ValueError):
    """Input that breaks a schema; the message names the offending field or parameter."""


def _reject_constant(name: str) -> float:
    raise InvalidInput(f"invalid JSON: {name} is not a number")


def parse_json(body: bytes) -> object:
    """Strict JSON (no NaN/Infinity); InvalidInput says where parsing failed."""
    try:
        return json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"invalid JSON: body is not UTF-8 ({exc.reason})") from None
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None


def validate_body(schema: Mapping[str, Any], document: object) -> dict[str, Any]:
    """The document as a dict if it matches `schema`, else InvalidInput naming the field."""
    validator = Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    if errors:
        error = errors[0]
        where = ".".join(str(p) for p in error.absolute_path)
        field = f"field '{where}'" if where else "body"
        raise InvalidInput(f"{field}: {error.message}{_because(schema, error)}")
    assert isinstance(document, dict)  # the schemas all require an object
    return document


def _because(schema: Mapping[str, Any], error: ValidationError) -> str:
    """The failed `then` clause's description after a semicolon, or an empty string."""
    path = list(error.schema_path)
    if "then" not in path:
        return ""
    clause: Any = schema
    for step in path[: path.index("then") + 1]:
        clause = clause[step]
    why = clause.get("description")
    return f"; {why}" if why else ""


@dataclass(frozen=True, slots=True)
class QueryParam:
    """One query parameter: how to parse it and how the OpenAPI document describes it."""

    name: str
    kind: str  # "number", "integer" or "string"
    description: str
    minimum: float | None = None
    maximum: float | None = None
    default: float | int | None = None
    pattern: str | None = None
    max_length: int | None = None
    choices: tuple[str, ...] = ()
    max_repeat: int = 1  # > 1: the parameter may be given up to this many times (a list)

    def schema(self) -> dict[str, Any]:
        """JSON Schema of this parameter (of an array of values when it repeats)."""
        out: dict[str, Any] = {"type": self.kind}
        for key, value in (
            ("minimum", self.minimum),
            ("maximum", self.maximum),
            ("default", self.default),
            ("pattern", self.pattern),
            ("maxLength", self.max_length),
        ):
            if value is not None:
                out[key] = value
        if self.choices:
            out["enum"] = list(self.choices)
        elif self.kind == "string":
            out["minLength"] = 1
        if self.max_repeat > 1:
            return {"type": "array", "items": out, "maxItems": self.max_repeat}
        return out

    def parse_all(self, raw: list[str]) -> QueryValue:
        """Every value given (a list when the parameter repeats); InvalidInput names it."""
        if len(raw) > self.max_repeat:
            times = "once" if self.max_repeat == 1 else f"at most {self.max_repeat} times"
            raise InvalidInput(f"query parameter '{self.name}' may be given {times}")
        if self.max_repeat > 1:
            return [str(self.parse(value)) for value in raw]
        return self.parse(raw[0] if raw else None)

    def parse(self, raw: str | None) -> float | int | str | None:
        """The parsed value (or the default when absent); InvalidInput names the parameter."""
        if raw is None:
            return self.default
        if self.kind == "string":
            return self._parse_string(raw)
        return self._parse_number(raw)

    def _parse_string(self, raw: str) -> str:
        if self.choices:
            if raw not in self.choices:
                raise InvalidInput(
                    f"query parameter '{self.name}' must be one of {', '.join(self.choices)}"
                )
            return raw
        too_long = self.max_length is not None and len(raw) > self.max_length
        if not raw or too_long or (self.pattern and not re.fullmatch(self.pattern, raw)):
            raise InvalidInput(
                f"query parameter '{self.name}' must match {self.pattern} "
                f"(1..{self.max_length} characters)"
            )
        return raw

    def _parse_number(self, raw: str) -> float | int:
        try:
            value: float | int = int(raw) if self.kind == "integer" else float(raw)
        except ValueError:
            raise InvalidInput(f"query parameter '{self.name}' must be an {self.kind}") from None
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidInput(f"query parameter '{self.name}' must be a finite number")
        if (self.minimum is not None and value < self.minimum) or (
            self.maximum is not None and value > self.maximum
        ):
            raise InvalidInput(
                f"query parameter '{self.name}' must be in [{self.minimum}, {self.maximum}]"
            )
        return value


QueryValue = float | int | str | list[str] | None

_TS_MAX = 1e11  # seconds since the epoch, far beyond any real timestamp
MAX_DEVICES_PER_QUERY = 100


def _devices_param(what: str) -> QueryParam:
    return QueryParam(
        "device",
        "string",
        f"{what} Repeat it for several devices (at most {MAX_DEVICES_PER_QUERY}).",
        pattern=r"^[A-Za-z0-9_.:-]+$",
        max_length=64,
        max_repeat=MAX_DEVICES_PER_QUERY,
    )


SAMPLES_PARAMS = (
    _devices_param("Only samples of this device id (default: every device)."),
    QueryParam("since", "number", "Oldest timestamp (UTC seconds), inclusive.", 0, _TS_MAX),
    QueryParam(
        "until",
        "number",
        "Samples before this timestamp (UTC seconds), exclusive. Must not be before `since`: 400.",
        0,
        _TS_MAX,
    ),
    QueryParam("limit", "integer", "Most samples returned.", 1, 10_000, 1000),
)

RECENT_PARAMS = (
    _devices_param("Only this device's samples (default: every device)."),
    QueryParam("seconds", "number", "Window length in seconds.", 1, 3600, 300),
    QueryParam(
        "points", "integer", "Most points per device returned (evenly thinned).", 10, 5000, 600
    ),
)

DEVICES_PARAMS = (
    QueryParam(
        "state",
        "string",
        "Only devices in this state (`offline`: not connected now); repeat it for several.",
        choices=DEVICE_STATUSES,
        max_repeat=len(DEVICE_STATUSES),
    ),
    QueryParam("limit", "integer", "Most devices returned (by device id).", 1, 10_000, 1000),
    QueryParam("offset", "integer", "Devices skipped first (paging).", 0, 1_000_000, 0),
)


def parse_query(
    params: tuple[QueryParam, ...], args: MultiDict[str, str]
) -> dict[str, QueryValue]:
    """Every parameter of `params` parsed from `args`; unknown parameters are refused."""
    known = {p.name for p in params}
    unknown = sorted(set(args) - known)
    if unknown:
        raise InvalidInput(f"unknown query parameter '{unknown[0]}' (known: {sorted(known)})")
    return {p.name: p.parse_all(args.getlist(p.name)) for p in params}
