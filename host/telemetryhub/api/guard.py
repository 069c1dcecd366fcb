"""Per-request guards: request id, rate limit, body size, token check, headers, metrics, log."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from flask import Flask, Response, current_app, g, request

from telemetryhub.api.auth import AuthFailure, Role, TokenAuthority
from telemetryhub.api.contracts import GatewayView
from telemetryhub.api.handlers import error_response
from telemetryhub.api.metrics import ApiMetrics
from telemetryhub.api.ratelimit import Admission, RateLimiter, retry_after_header
from telemetryhub.api.requestid import HEADER, current_request_id, sanitise_request_id
from telemetryhub.api.settings import ApiSettings

EXTENSION = "telemetryhub"
# Set in the WSGI environ by the server when it refused to read a body too large for it.
BODY_TOO_LARGE = "telemetryhub.body_too_large"
access_log = logging.getLogger("telemetryhub.api.access")

_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
_SECURITY_HEADERS = (
    ("Content-Security-Policy", _CSP),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
)

F = TypeVar("F", bound=Callable[..., object])


@dataclass(frozen=True, slots=True)
class ApiState:
    """Everything the views share, kept in app.extensions["telemetryhub"]."""

    core: GatewayView
    settings: ApiSettings
    authority: TokenAuthority
    limiter: RateLimiter | None
    metrics: ApiMetrics


def body_too_large_message(limit: int) -> str:
    """The one wording of a 413."""
    return f"request body larger than {limit} bytes"


def api_state() -> ApiState:
    """The ApiState of the current app."""
    state: ApiState = current_app.extensions[EXTENSION]
    return state


def requires(role: Role) -> Callable[[F], F]:
    """Mark a view with the least role that may call it (views without a mark need VIEWER)."""

    def mark(view: F) -> F:
        view.required_role = role  # type: ignore[attr-defined]
        return view

    return mark


def _required_role(app: Flask, endpoint: str) -> Role:
    if endpoint == "static":
        return Role.ANONYMOUS
    role = getattr(app.view_functions.get(endpoint), "required_role", Role.VIEWER)
    assert isinstance(role, Role)
    return role


def _before() -> Response | None:
    g.started_s = time.perf_counter()
    request_id = sanitise_request_id(request.headers.get(HEADER))
    g.request_id = request_id
    g.request_id_token = current_request_id.set(request_id)
    state = api_state()
    # First: any other answer would make cheroot drain the unread body to keep the connection.
    limit = state.settings.max_body_bytes
    if request.environ.get(BODY_TOO_LARGE) or (request.content_length or 0) > limit:
        return error_response(413, body_too_large_message(limit))
    if state.limiter is not None:
        admission = state.limiter.acquire(request.remote_addr or "unknown")
        if admission.wait_s > 0:
            return _too_many(admission)
    if request.endpoint is None:
        return None  # routing will answer 404 or 405
    return _check_auth(state, _required_role(current_app, request.endpoint))


def _too_many(admission: Admission) -> Response:
    response = error_response(429, "too many requests from this client; slow down")
    response.headers["Retry-After"] = retry_after_header(admission.wait_s)
    if admission.first_refusal:  # a flood logs one line, and counts every refusal in /metrics
        _log_refusal(429, "rate limit reached; later refusals in a row are not logged")
    return response


def _check_auth(state: ApiState, need: Role) -> Response | None:
    if need is Role.ANONYMOUS:
        return None
    failure = state.authority.check(
        request.headers.get("Authorization"), request.remote_addr, need
    )
    if failure is AuthFailure.MISSING:
        message = f"a bearer token with role {need.name.lower()} is required"
        _log_refusal(401, message)
        response = error_response(401, message)
        response.headers["WWW-Authenticate"] = 'Bearer realm="telemetryhub"'
        return response
    if failure is AuthFailure.FORBIDDEN:
        message = f"this token does not grant role {need.name.lower()}"
        _log_refusal(403, message)
        return error_response(403, message)
    return None


def _log_refusal(status: int, why: str) -> None:
    access_log.info(
        "%s %s from %s refused with %d: %s",
        request.method,
        request.path,
        request.remote_addr or "unknown",
        status,
        why,
        extra={"request_id": g.request_id},
    )


def _after(response: Response) -> Response:
    for name, value in _SECURITY_HEADERS:
        response.headers.setdefault(name, value)
    if request.endpoint != "static":
        response.headers["Cache-Control"] = "no-store"
    request_id = getattr(g, "request_id", None) or current_request_id.get()
    response.headers[HEADER] = request_id
    started_s = getattr(g, "started_s", None)
    if started_s is not None:
        rule = request.url_rule.rule if request.url_rule is not None else "unmatched"
        duration_s = time.perf_counter() - started_s
        api_state().metrics.observe(rule, request.method, response.status_code, duration_s)
        if access_log.isEnabledFor(logging.DEBUG):
            access_log.debug(
                "%s %s -> %d in %.1f ms",
                request.method,
                request.path,
                response.status_code,
                duration_s * 1000,
                extra={"request_id": request_id},
            )
    return response


def _teardown(_exc: BaseException | None) -> None:
    token = g.pop("request_id_token", None)
    if token is not None:
        current_request_id.reset(token)


def install_guards(app: Flask, state: ApiState) -> None:
    """Attach the guards and the shared state to `app`."""
    app.extensions[EXTENSION] = state
    app.before_request(_before)
    app.after_request(_after)
    app.teardown_request(_teardown)
