"""The REST reads: fleet status, devices, history, health, readiness, metrics, the document."""

from __future__ import annotations

import heapq
import time
from collections.abc import Mapping

from flask import Blueprint, Response, jsonify, request

from telemetryhub.api.auth import Role
from telemetryhub.api.contracts import board_status, device_summaries
from telemetryhub.api.guard import api_state, requires
from telemetryhub.api.openapi import openapi_document
from telemetryhub.api.schemas import (
    DEVICES_PARAMS,
    RECENT_PARAMS,
    SAMPLES_PARAMS,
    InvalidInput,
    parse_query,
)
from telemetryhub.core.device_status import sample_json
from telemetryhub.models import Sample

bp = Blueprint("api", __name__)


@bp.get("/status")
def status() -> Response:
    return jsonify(dict(api_state().core.status()))


@bp.get("/devices")
def devices() -> Response:
    query = parse_query(DEVICES_PARAMS, request.args)
    wanted = set(_strings(query["state"]))
    status = api_state().core.status()
    found = sorted(
        (d for d in device_summaries(status) if not wanted or board_status(d) in wanted),
        key=lambda d: str(d.get("device_id")),
    )
    offset, limit = int(_number(query["offset"])), int(_number(query["limit"]))
    page = found[offset : offset + limit]
    return jsonify(ts=status.get("ts"), devices=page, count=len(page), total=len(found))


@bp.get("/devices/<device_id>")
def device(device_id: str) -> Response:
    return jsonify(dict(api_state().core.device_status(device_id)))


@bp.get("/samples")
def samples() -> Response:
    query = parse_query(SAMPLES_PARAMS, request.args)
    since, until = query["since"], query["until"]
    if isinstance(since, float) and isinstance(until, float) and until < since:
        raise InvalidInput("query parameter 'until' must not be before 'since'")
    found = api_state().core.store.query(
        device_id=_strings(query["device"]) or None,
        since_ts=_opt_float(since),
        until_ts=_opt_float(until),
        limit=int(_number(query["limit"])),
    )
    return jsonify(samples=[sample_json(s) for s in found], count=len(found))


@bp.get("/samples/recent")
def samples_recent() -> Response:
    query = parse_query(RECENT_PARAMS, request.args)
    core, seconds = api_state().core, _number(query["seconds"])
    ids = _strings(query["device"])
    if ids:
        series = [core.recent_samples(seconds, d) for d in dict.fromkeys(ids)]
    else:
        series = list(_by_device(core.recent_samples(seconds)).values())
    points = int(_number(query["points"]))
    found = list(heapq.merge(*(thin(s, points) for s in series), key=lambda s: s.ts))
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


def _by_device(found: list[Sample]) -> dict[str, list[Sample]]:
    """Samples grouped by device, each group in the order given."""
    groups: dict[str, list[Sample]] = {}
    for sample in found:
        groups.setdefault(sample.device_id, []).append(sample)
    return groups


def _mapping(value: object) -> Mapping[str, object]:
    return value if isinstance(value, Mapping) else {}


def _number(value: object) -> float:
    """A parameter with a numeric default (so never absent)."""
    if not isinstance(value, int | float):
        raise TypeError(f"expected a number, got {value!r}")
    return float(value)


def _strings(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def _opt_float(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None
