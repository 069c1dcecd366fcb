"""A small urllib client for a running gateway's REST API; errors become ApiError."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping

from telemetryhub.errors import ApiError

JsonObject = dict[str, object]


class GatewayClient:
    """Calls one gateway at `base_url`, sending `token` as a bearer token when given."""

    def __init__(self, base_url: str, token: str | None = None, timeout_s: float = 10.0) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ApiError(0, f"gateway URL must start with http:// or https://, got {base_url!r}")
        self._base_url = base_url.rstrip("/")
        self._token = token
        self._timeout_s = timeout_s

    def status(self) -> JsonObject:
        """GET /status."""
        return self.request("GET", "/status")

    def start(self) -> JsonObject:
        """POST /start."""
        return self.request("POST", "/start")

    def stop(self) -> JsonObject:
        """POST /stop."""
        return self.request("POST", "/stop")

    def reset(self) -> JsonObject:
        """POST /reset."""
        return self.request("POST", "/reset")

    def fault(
        self, mode: str, probability: float | None = None, count: int | None = None
    ) -> JsonObject:
        """POST /fault; a parameter left None is not sent (the gateway says what a mode needs)."""
        body: dict[str, object] = {"mode": mode}
        if probability is not None:
            body["probability"] = probability
        if count is not None:
            body["count"] = count
        return self.request("POST", "/fault", body)

    def period(self, period_ms: int) -> JsonObject:
        """POST /period."""
        return self.request("POST", "/period", {"period_ms": period_ms})

    def request(
        self, method: str, path: str, body: Mapping[str, object] | None = None
    ) -> JsonObject:
        """One call; the parsed JSON object, or ApiError with the status and the server's text."""
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        req = urllib.request.Request(self._base_url + path, data, headers, method=method)
        try:
            with urllib.request.urlopen(req, timeout=self._timeout_s) as response:
                return _object(response.read(), response.status)
        except urllib.error.HTTPError as exc:
            raise ApiError(exc.code, _error_text(exc.read(), exc.reason)) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ApiError(0, f"cannot reach the gateway at {self._base_url}: {reason}") from None


def _object(raw: bytes, status: int) -> JsonObject:
    try:
        parsed = json.loads(raw)
    except ValueError:
        raise ApiError(status, "the gateway answered with something that is not JSON") from None
    if not isinstance(parsed, dict):
        raise ApiError(status, "the gateway answered with JSON that is not an object")
    return parsed


def _error_text(raw: bytes, reason: object) -> str:
    try:
        parsed = json.loads(raw)
    except ValueError:
        return str(reason)
    if isinstance(parsed, dict) and isinstance(parsed.get("error"), str):
        return str(parsed["error"])
    return str(reason)
