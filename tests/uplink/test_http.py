"""HTTP uplink against a real local HTTP server: breaker, timeouts, 429/Retry-After, failover."""

from __future__ import annotations

import pytest

from telemetryhub.store import SqliteStore
from telemetryhub.uplink import HttpUplinkSettings, http_uplink
from telemetryhub.uplink.base import Forwarder
from telemetryhub.uplink.http import parse_retry_after
from telemetryhub.uplink.mosquitto import free_port
from telemetryhub.uplink.settings import ForwarderSettings
from tests.uplink.cloud import FAIL, HANG, OK, FakeCloud, throttle
from tests.uplink.support import make_samples, wait_until

COOLDOWN_S = 0.5


def uplink_for(store: SqliteStore, *urls: str, failures: int = 3) -> Forwarder:
    settings = HttpUplinkSettings(
        endpoints=urls,
        gateway_id="gw1",
        timeout_s=0.3,
        breaker_failures=failures,
        breaker_cooldown_s=COOLDOWN_S,
        forwarding=ForwarderSettings(
            batch_size=100,
            rate_limit_sps=0,
            poll_interval_s=0.02,
            backoff_base_s=0.01,
            backoff_max_s=0.05,
        ),
    )
    return http_uplink(store, settings)


def test_breaker_opens_on_500s_and_timeouts_then_a_probe_closes_it(store: SqliteStore) -> None:
    store.write_batch(make_samples(250, ("a", "b")))
    with FakeCloud([FAIL, HANG, FAIL]) as cloud:
        uplink = uplink_for(store, cloud.url)
        uplink.start()
        try:
            assert cloud.ledger.wait_for(250, timeout_s=10)
            assert wait_until(lambda: uplink.status()["backlog"] == 0)
        finally:
            uplink.stop()
        behaviours = [b for _, b in cloud.requests]
        assert behaviours == [FAIL, HANG, FAIL, OK, OK, OK]  # no request while open
        opened_at = cloud.requests[2][0]
        probe_at = cloud.requests[3][0]
        assert probe_at - opened_at >= COOLDOWN_S * 0.95
    status = uplink.status()
    endpoint = status["endpoints"][0]  # type: ignore[index]
    assert status["breaker_opens"] == 1
    assert endpoint["breaker"]["state"] == "closed"
    assert endpoint["failures"] == 3
    assert status["delivered"] == 250
    assert cloud.ledger.out_of_order == 0
    assert store.get_cursor("http") == 250


def test_429_retry_after_is_honoured_and_does_not_open_the_breaker(store: SqliteStore) -> None:
    store.write_batch(make_samples(10))
    with FakeCloud([throttle(1), OK]) as cloud:
        uplink = uplink_for(store, cloud.url, failures=1)
        uplink.start()
        try:
            assert cloud.ledger.wait_for(10, timeout_s=10)
        finally:
            uplink.stop()
        (throttled_at,) = cloud.times_of("429:1")
        (accepted_at,) = cloud.times_of(OK)
        assert accepted_at - throttled_at >= 0.95
    status = uplink.status()
    assert status["throttled"] == 1
    assert status["breaker_opens"] == 0


def test_fails_over_in_order_and_skips_the_dead_endpoint_while_open(store: SqliteStore) -> None:
    dead = f"http://127.0.0.1:{free_port()}/ingest"  # nothing listens: connection refused
    store.write_batch(make_samples(300))
    with FakeCloud() as cloud:
        uplink = uplink_for(store, dead, cloud.url, failures=1)
        uplink.start()
        try:
            assert cloud.ledger.wait_for(300, timeout_s=10)
        finally:
            uplink.stop()
        assert len(cloud.requests) == 3  # three batches, all to the second endpoint
    status = uplink.status()
    first, second = status["endpoints"]  # type: ignore[misc]
    assert first["posts"] == 1  # tried once, breaker opened, skipped while cooling down
    assert first["breaker"]["opens"] == 1
    assert second["successes"] == 3
    assert status["active_endpoint"] == cloud.url
    assert cloud.ledger.duplicates == 0


def test_all_endpoints_down_means_circuit_open_and_nothing_lost(store: SqliteStore) -> None:
    store.write_batch(make_samples(20))
    with FakeCloud([FAIL] * 2) as cloud:
        uplink = uplink_for(store, cloud.url, failures=2)
        uplink.start()
        try:
            assert wait_until(lambda: uplink.status()["state"] == "circuit open")
            assert uplink.status()["cursor"] == 0
            assert cloud.ledger.wait_for(20, timeout_s=10)  # the probe after the cool-down
        finally:
            uplink.stop()
    assert store.get_cursor("http") == 20


@pytest.mark.parametrize(
    ("header", "expected"),
    [("5", 5.0), (" 0 ", 0.0), ("Thu, 01 Jan 1970 00:00:30 GMT", 20.0), ("soon", None)],
)
def test_parse_retry_after(header: str, expected: float | None) -> None:
    assert parse_retry_after(header, now_epoch_s=10.0) == expected
