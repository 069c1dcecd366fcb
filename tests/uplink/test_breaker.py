"""CircuitBreaker state machine on an injected clock."""

from __future__ import annotations

import pytest

from telemetryhub.uplink.breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_threshold_consecutive_failures() -> None:
    breaker = CircuitBreaker(3, cooldown_s=10.0, clock=FakeClock())
    for _ in range(2):
        assert breaker.allow()
        breaker.record_failure()
    assert breaker.state == CLOSED
    breaker.record_failure()
    assert breaker.state == OPEN
    assert not breaker.allow()
    assert breaker.opens == 1


def test_a_success_resets_the_count() -> None:
    breaker = CircuitBreaker(2, cooldown_s=10.0, clock=FakeClock())
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state == CLOSED


def test_half_open_admits_one_probe_after_cooldown_and_closes_on_success() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(1, cooldown_s=5.0, clock=clock)
    breaker.record_failure()
    clock.now = 4.0
    assert breaker.retry_in_s() == pytest.approx(1.0)
    assert not breaker.allow()
    clock.now = 5.0
    assert breaker.state == HALF_OPEN
    assert breaker.allow()
    assert not breaker.allow()  # only one probe at a time
    breaker.record_success()
    assert breaker.state == CLOSED
    assert breaker.allow()
    assert breaker.probes == 1


def test_failed_probe_reopens_for_a_full_cooldown() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(3, cooldown_s=5.0, clock=clock)
    for _ in range(3):
        breaker.record_failure()
    clock.now = 6.0
    assert breaker.allow()
    breaker.record_failure()  # one failure in half-open is enough
    assert breaker.state == OPEN
    assert breaker.retry_in_s() == pytest.approx(5.0)
    assert breaker.opens == 2


def test_threshold_must_be_positive() -> None:
    with pytest.raises(ValueError, match="failure_threshold"):
        CircuitBreaker(0, cooldown_s=1.0)
