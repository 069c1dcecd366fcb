"""The REST commands: `POST /<verb>` to every connected board, `POST /devices/<id>/<verb>` to
one; both answer each board's outcome (operator role)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from flask import Blueprint, Response, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge, UnsupportedMediaType

from telemetryhub.api.auth import Role
from telemetryhub.api.contracts import GatewayView
from telemetryhub.api.guard import api_state, body_too_large_message, requires
from telemetryhub.api.schemas import FAULT_SCHEMA, PERIOD_SCHEMA, parse_json, validate_body
from telemetryhub.models import Fault, FaultMode

bp = Blueprint("commands", __name__)

OK = "ok"  # a board's outcome when it did what was asked

# (core, validated body or None, device id or None: every connected board) -> outcomes
Run = Callable[[GatewayView, dict[str, Any], str | None], Mapping[str, str]]


def _fault(core: GatewayView, body: dict[str, Any], device_id: str | None) -> Mapping[str, str]:
    fault = Fault(
        mode=FaultMode[str(body["mode"]).upper()],
        probability=float(body.get("probability", 0.0)),
        count=int(body.get("count", 0)),
    )
    return core.inject_fault(fault, device_id)


# verb (the path's last part), the body's schema (None: no body), what it does
COMMANDS: tuple[tuple[str, dict[str, Any] | None, Run], ...] = (
    ("start", None, lambda core, _body, device_id: core.start(device_id)),
    ("stop", None, lambda core, _body, device_id: core.stop(device_id)),
    ("reset", None, lambda core, _body, device_id: core.reset_device(device_id)),
    ("fault", FAULT_SCHEMA, _fault),
    (
        "period",
        PERIOD_SCHEMA,
        lambda core, body, device_id: core.set_period(int(body["period_ms"]), device_id),
    ),
)


def outcomes_json(outcomes: Mapping[str, str]) -> dict[str, object]:
    """`ok` when every board did it, and each board's outcome ("ok" or why not)."""
    return {"ok": all(o == OK for o in outcomes.values()), "devices": dict(outcomes)}


def _command_view(schema: dict[str, Any] | None, run: Run) -> Callable[..., Response]:
    @requires(Role.OPERATOR)
    def view(device_id: str | None = None) -> Response:
        body = {} if schema is None else validate_body(schema, _json_body())
        return jsonify(outcomes_json(run(api_state().core, body, device_id)))

    return view


for _verb, _schema, _run in COMMANDS:
    _view = _command_view(_schema, _run)
    bp.add_url_rule(f"/{_verb}", _verb, _view, methods=["POST"])
    bp.add_url_rule(f"/devices/<device_id>/{_verb}", f"device_{_verb}", _view, methods=["POST"])


def _json_body() -> object:
    if not request.is_json:
        raise UnsupportedMediaType(
            "this endpoint takes a JSON body (Content-Type: application/json)"
        )
    body = request.get_data(cache=False)
    limit = api_state().settings.max_body_bytes
    if len(body) > limit:  # a chunked body: no Content-Length for the guard to check
        raise RequestEntityTooLarge(body_too_large_message(limit))
    return parse_json(body)
