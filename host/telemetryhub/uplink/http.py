"""HttpSink: delivers sample batches as JSON POSTs to a list of cloud endpoints, in order."""

from __future__ import annotations

import email.utils
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from telemetryhub import tracing
from telemetryhub.errors import UplinkError
from telemetryhub.models import Sample
from telemetryhub.uplink.base import (
    CIRCUIT_OPEN,
    CONNECTED,
    DISCONNECTED,
    CursorStore,
    Forwarder,
    sample_record,
)
from telemetryhub.uplink.breaker import CircuitBreaker
from telemetryhub.uplink.settings import HttpUplinkSettings

_log = logging.getLogger(__name__)

TOO_MANY_REQUESTS = 429
SERVICE_UNAVAILABLE = 503


@dataclass
class _Endpoint:
    url: str
    breaker: CircuitBreaker
    held_until: float = 0.0  # Retry-After: not before this monotonic time
    posts: int = 0
    successes: int = 0
    failures: int = 0
    throttled: int = 0
    last_error: str | None = field(default=None)


class HttpSink:
    """POSTs each batch to the first endpoint that is neither cooling down nor throttled.

    Each endpoint has its own circuit breaker, so a dead primary costs one fast refusal, not a
    timeout per batch, while the next endpoint takes the traffic. A 429 (or a 503) with
    Retry-After holds that endpoint back for the time asked; a 429 alone does not count as a
    failure (the server is alive and said when to come back). Only a 2xx is a delivery.
    """

    kind = "http"

    def __init__(
        self, settings: HttpUplinkSettings, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if not settings.endpoints:
            raise UplinkError("HTTP uplink needs at least one endpoint")
        self.settings = settings
        self._clock = clock
        self._lock = threading.Lock()
        self._endpoints = [
            _Endpoint(
                url, CircuitBreaker(settings.breaker_failures, settings.breaker_cooldown_s, clock)
            )
            for url in settings.endpoints
        ]
        self._active: str | None = None
        self._last_ok = False

    def open(self) -> None:
        """Nothing to connect: every batch is one request."""

    def deliver(self, samples: Sequence[Sample]) -> None:
        """POST `samples` to the first available endpoint; UplinkError if none took them."""
        body = self._body(samples)
        reasons: list[str] = []
        for endpoint in self._endpoints:
            reason = self._try(endpoint, body)
            if reason is None:
                with self._lock:
                    self._active, self._last_ok = endpoint.url, True
                return
            reasons.append(f"{endpoint.url}: {reason}")
        with self._lock:
            self._last_ok = False
        raise UplinkError("no HTTP endpoint took the batch (" + "; ".join(reasons) + ")")

    def state(self) -> str:
        with self._lock:
            if all(e.breaker.retry_in_s() > 0 for e in self._endpoints):
                return CIRCUIT_OPEN
            return CONNECTED if self._last_ok else DISCONNECTED

    def hold_off_s(self) -> float:
        """Until the first endpoint may be tried again (0 if one may be tried now)."""
        now = self._clock()
        with self._lock:
            return min(
                max(e.held_until - now, e.breaker.retry_in_s(), 0.0) for e in self._endpoints
            )

    def close(self) -> None:
        """Nothing to release."""

    def note_device_state(self, device_id: str, state: str, reason: str) -> None:
        """The HTTP uplink carries samples only."""

    def status(self) -> dict[str, object]:
        now = self._clock()
        with self._lock:
            return {
                "active_endpoint": self._active,
                "breaker_opens": sum(e.breaker.opens for e in self._endpoints),
                "throttled": sum(e.throttled for e in self._endpoints),
                "endpoints": [
                    {
                        "url": e.url,
                        "posts": e.posts,
                        "successes": e.successes,
                        "failures": e.failures,
                        "throttled": e.throttled,
                        "retry_after_s": round(max(0.0, e.held_until - now), 3),
                        "last_error": e.last_error,
                        "breaker": e.breaker.snapshot(),
                    }
                    for e in self._endpoints
                ],
            }

    # -- one endpoint -----------------------------------------------------------------------

    def _body(self, samples: Sequence[Sample]) -> bytes:
        records = [{"device": s.device_id, **sample_record(s)} for s in samples]
        doc = {"gateway": self.settings.gateway_id, "samples": records}
        return json.dumps(doc, separators=(",", ":")).encode()

    def _try(self, endpoint: _Endpoint, body: bytes) -> str | None:
        """POST once unless held back; None on a 2xx, else why not."""
        with self._lock:
            if endpoint.held_until > self._clock():
                return "honouring Retry-After"
            if not endpoint.breaker.allow():
                return "circuit open"
            endpoint.posts += 1
        status, retry_after_s, error = self._post(endpoint.url, body)
        with self._lock:
            if status is not None and 200 <= status < 300:
                endpoint.successes += 1
                endpoint.breaker.record_success()
                return None
            if retry_after_s is not None:
                endpoint.held_until = self._clock() + retry_after_s
            if status == TOO_MANY_REQUESTS:
                endpoint.throttled += 1
                endpoint.breaker.record_success()  # alive; it only asked us to slow down
            else:
                endpoint.failures += 1
                endpoint.breaker.record_failure()
            endpoint.last_error = error
        _log.info("HTTP uplink %s: %s", endpoint.url, error)
        return error

    def _post(self, url: str, body: bytes) -> tuple[int | None, float | None, str]:
        """(HTTP status or None, Retry-After seconds or None, description)."""
        headers = {"Content-Type": "application/json", **dict(self.settings.headers)}
        tracing.inject(headers)
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.settings.timeout_s) as response:
                response.read()
                return response.status, None, f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            exc.close()
            retry = self._retry_after_s(exc.headers.get("Retry-After"), exc.code)
            return exc.code, retry, f"HTTP {exc.code} {exc.reason}"
        except (urllib.error.URLError, OSError) as exc:
            return None, None, f"request failed: {exc}"

    def _retry_after_s(self, header: str | None, status: int) -> float | None:
        if header is None or status not in (TOO_MANY_REQUESTS, SERVICE_UNAVAILABLE):
            return None
        seconds = parse_retry_after(header, time.time())
        if seconds is None:
            return None
        return min(seconds, self.settings.max_retry_after_s)


def parse_retry_after(header: str, now_epoch_s: float) -> float | None:
    """Seconds to wait from a Retry-After value (delta-seconds or HTTP-date); None if bad."""
    text = header.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now_epoch_s)


def http_uplink(store: CursorStore, settings: HttpUplinkSettings, name: str = "http") -> Forwarder:
    """The HTTP uplink the core starts and stops: a Forwarder around an HttpSink."""
    return Forwarder(name, store, HttpSink(settings), settings.forwarding)
