"""The REST endpoints: status and history reads, device commands, health, readiness, metrics."""

from __future__ import annotations

import time
from collections.abc import Mapping

from flask import Blueprint, Response, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge, UnsupportedMediaType

from telemetryhub.api.auth import Role
from telemetryhub.api.guard import api_state, body_too_large_message, requires
from telemetryhub.api.openapi import openapi_document
from telemetryhub.api.schemas import (
    FAULT_SCHEMA,
    PERIOD_SCHEMA,
    RECENT_PARAMS,
    SAMPLES_PARAMS,
    InvalidInput,
    parse_json,
    parse_query,
    validate_body,
)
from telemetryhub.core.device_status import sample_json
from telemetryhub.models import Fault, FaultMode, Sample

bp = Blueprint("api", __name__)

OK = {"ok": True}


@bp.get("/status")
def status() -> Response:
    return jsonify(dict(api_state().core.status()))


@bp.post("/start")
@requires(Role.OPERATOR)
def start() -> Response:
    api_state().core.start()
    return jsonify(OK)


@bp.post("/stop")
@requires(Role.OPERATOR)
def stop() -> Response:
    api_state().core.stop()
    return jsonify(OK)


@bp.post("/reset")
@requires(Role.OPERATOR)
def reset() -> Response:
    api_state().core.reset_device()
    return jsonify(OK)


@bp.post("/fault")
@requires(Role.OPERATOR)
def fault() -> Response:
    body = validate_body(FAULT_SCHEMA, _json_body())
    api_state().core.inject_fault(
        Fault(
            mode=FaultMode[str(body["mode"]).upper()],
            probability=float(body.get("probability", 0.0)),
            count=int(body.get("count", 0)),
        )
    )
    return jsonify(OK)


@bp.post("/period")
@requires(Role.OPERATOR)
def period() -> Response:
    body = validate_body(PERIOD_SCHEMA, _json_body())
    api_state().core.set_period(int(body["period_ms"]))
    return jsonify(OK)


@bp.get("/samples")
def samples() -> Response:
    query = parse_query(SAMPLES_PARAMS, request.args)
    since, until = query["since"], query["until"]
    if isinstance(since, float) and isinstance(until, float) and until < since:
        raise InvalidInput("query parameter 'until' must not be before 'since'")
    found = api_state().core.store.query(
        device_id=_opt_str(query["device"]),
        since_ts=_opt_float(since),
        until_ts=_opt_float(until),
        limit=int(query["limit"] or 1000),
    )
    return jsonify(samples=[sample_json(s) for s in found], count=len(found))


@bp.get("/samples/recent")
def samples_recent() -> Response:
    query = parse_query(RECENT_PARAMS, request.args)
    found = thin(
        api_state().core.recent_samples(float(query["seconds"] or 300)),
        int(query["points"] or 600),
    )
    return jsonify(samples=[sample_json(s) for s in found], count=len(found))


@bp.get("/health")
@requires(Role.ANONYMOUS)
def health() -> Response:
    problems = api_state().core.health()
    response = jsonify(status="failing" if problems else "ok", problems=problems)
    response.status_code = 503 if problems else 200
    return response


@bp.get("/ready")
@requires(Role.ANONYMOUS)
def ready() -> Response:
    state = api_state()
    reasons = readiness_problems(
        state.core.status(),
        time.time(),
        state.settings.ready_max_age_periods,
        state.settings.ready_queue_fraction,
    )
    response = jsonify(ready=not reasons, reasons=reasons)
    response.status_code = 503 if reasons else 200
    return response


@bp.get("/metrics")
def metrics() -> Response:
    return Response(
        api_state().metrics.render(), mimetype="text/plain", content_type=_PROM_CONTENT_TYPE
    )


@bp.get("/openapi.json")
@requires(Role.ANONYMOUS)
def openapi() -> Response:
    return jsonify(openapi_document())


_PROM_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_MIN_FRESH_S = 1.0  # below this, batching jitter alone would flap readiness


def readiness_problems(
    status: Mapping[str, object], now_s: float, max_age_periods: float, queue_fraction: float
) -> list[str]:
    """Why the gateway is not ready to take traffic (empty when it is)."""
    reasons: list[str] = []
    link = _mapping(status.get("link"))
    device = _mapping(status.get("device"))
    metrics = _mapping(status.get("metrics"))
    if link.get("connected") is not True or not device:
        reasons.append("device not connected")
    depth, capacity = metrics.get("queue_depth"), metrics.get("queue_capacity")
    if (
        isinstance(depth, int)
        and isinstance(capacity, int)
        and capacity > 0
        and depth >= queue_fraction * capacity
    ):
        reasons.append(f"queue {depth}/{capacity} is at or above {queue_fraction:.0%} of capacity")
    if status.get("state") == "Measuring":
        reasons.extend(_staleness(status, device, now_s, max_age_periods))
    return reasons


def _staleness(
    status: Mapping[str, object], device: Mapping[str, object], now_s: float, periods: float
) -> list[str]:
    period_ms = device.get("period_ms")
    if not isinstance(period_ms, int | float) or period_ms <= 0:
        return []
    limit_s = max(_MIN_FRESH_S, periods * float(period_ms) / 1000.0)
    ts = _mapping(status.get("latest_sample")).get("ts")
    if not isinstance(ts, int | float):
        return ["measuring but no sample received yet"]
    age_s = now_s - float(ts)
    if age_s > limit_s:
        return [f"data stale: last sample {age_s:.1f} s old (limit {limit_s:.1f} s)"]
    return []


def thin(items: list[Sample], points: int) -> list[Sample]:
    """At most `points` items evenly spread over `items`, always keeping the newest."""
    if len(items) <= points:
        return items
    step = len(items) / points
    picked = [items[int(i * step)] for i in range(points - 1)]
    picked.append(items[-1])
    return picked


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


def _mapping(value: object) -> Mapping[str, object]:
    return value if isinstance(value, Mapping) else {}


def _opt_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _opt_float(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None
