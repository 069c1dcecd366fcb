"""A small urllib client for a running gateway's REST API; errors become ApiError."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence

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
        """GET /status (the fleet)."""
        return self.request("GET", "/status")

    def device(self, device_id: str) -> JsonObject:
        """GET /devices/<id>: one board's document."""
        return self.request("GET", _board(device_id))

    def devices(self, states: Sequence[str] = (), page: int = 1000) -> JsonObject:
        """GET /devices, every page fetched in turn: {"ts", "devices": [...], "count",
        "total"} with every board listed, by device id."""
        found: list[object] = []
        while True:
            query = [("state", s) for s in states] + [("limit", page), ("offset", len(found))]
            answer = self.request("GET", "/devices?" + urllib.parse.urlencode(query))
            listed, total = answer.get("devices"), answer.get("total")
            if not isinstance(listed, list) or not isinstance(total, int):
                raise ApiError(200, "the gateway's /devices answer has no devices list")
            found.extend(listed)
            if not listed or len(found) >= total:
                return {**answer, "devices": found, "count": len(found)}

    def start(self, device_id: str | None = None) -> JsonObject:
        """POST /start, or /devices/<id>/start."""
        return self.request("POST", _command("start", device_id))

    def stop(self, device_id: str | None = None) -> JsonObject:
        """POST /stop, or /devices/<id>/stop."""
        return self.request("POST", _command("stop", device_id))

    def reset(self, device_id: str | None = None) -> JsonObject:
        """POST /reset, or /devices/<id>/reset."""
        return self.request("POST", _command("reset", device_id))

    def fault(
        self,
        mode: str,
        probability: float | None = None,
        count: int | None = None,
        device_id: str | None = None,
    ) -> JsonObject:
        """POST /fault (or to one board); a parameter left None is not sent (the gateway says
        what a mode needs)."""
        body: dict[str, object] = {"mode": mode}
        if probability is not None:
            body["probability"] = probability
        if count is not None:
            body["count"] = count
        return self.request("POST", _command("fault", device_id), body)

    def period(self, period_ms: int, device_id: str | None = None) -> JsonObject:
        """POST /period, or /devices/<id>/period."""
        return self.request("POST", _command("period", device_id), {"period_ms": period_ms})

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


def _board(device_id: str) -> str:
    return "/devices/" + urllib.parse.quote(device_id, safe="")


def _command(verb: str, device_id: str | None) -> str:
    """The path of `verb` to every connected board (None) or to one."""
    return f"/{verb}" if device_id is None else f"{_board(device_id)}/{verb}"


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
