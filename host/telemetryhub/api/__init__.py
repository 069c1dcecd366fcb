"""The gateway's face: REST API, dashboard, security, metrics and the HTTP client."""

from telemetryhub.api.app import create_app
from telemetryhub.api.auth import Role, ensure_operator_token
from telemetryhub.api.contracts import GatewayView
from telemetryhub.api.settings import ApiSettings, TlsSettings
from telemetryhub.store.base import SampleReader

__all__ = [
    "ApiSettings",
    "GatewayView",
    "Role",
    "SampleReader",
    "TlsSettings",
    "create_app",
    "ensure_operator_token",
]
