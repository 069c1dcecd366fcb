"""The Flask app factory: wires the core, settings, guards, error handlers and blueprints."""

from __future__ import annotations

from flask import Flask, Response, render_template

from telemetryhub.api.auth import Role, TokenAuthority
from telemetryhub.api.commands import bp as commands_bp
from telemetryhub.api.contracts import GatewayView
from telemetryhub.api.guard import ApiState, install_guards, requires
from telemetryhub.api.handlers import register_error_handlers
from telemetryhub.api.metrics import ApiMetrics
from telemetryhub.api.ratelimit import RateLimiter
from telemetryhub.api.routes import bp as api_bp
from telemetryhub.api.settings import ApiSettings
from telemetryhub.tracing import TracedWsgi


def create_app(core: GatewayView, settings: ApiSettings) -> Flask:
    """A new app serving `core` under `settings`; nothing starts until a server runs it."""
    app = Flask("telemetryhub.api", static_folder="static", template_folder="templates")
    # One byte more than allowed, so that reading a body without Content-Length (chunked) can
    # tell "exactly the limit" from "more" (werkzeug cuts such a body at this length silently).
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes + 1
    app.json.sort_keys = False  # type: ignore[attr-defined]
    limiter = (
        RateLimiter(settings.rate_per_s, settings.rate_burst) if settings.rate_per_s > 0 else None
    )
    state = ApiState(
        core,
        settings,
        TokenAuthority(settings),
        limiter,
        ApiMetrics(core, settings.metrics_max_devices),
    )
    install_guards(app, state)
    register_error_handlers(app)
    app.register_blueprint(api_bp)
    app.register_blueprint(commands_bp)
    app.add_url_rule("/", "dashboard", _dashboard)
    app.wsgi_app = TracedWsgi(app.wsgi_app)  # type: ignore[method-assign]  # a no-op untraced
    return app


@requires(Role.ANONYMOUS)
def _dashboard() -> Response:
    # The page holds no data: it fetches /devices and the rest with the token the user typed.
    return Response(render_template("dashboard.html"), mimetype="text/html")
