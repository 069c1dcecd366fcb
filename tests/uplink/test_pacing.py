"""Backoff with full jitter and the token bucket, on an injected clock."""

from __future__ import annotations

from telemetryhub.uplink.pacing import Backoff, TokenBucket


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_backoff_ceiling_doubles_to_the_cap_and_jitters_below_it() -> None:
    bounds: list[tuple[float, float]] = []
    backoff = Backoff(0.5, 4.0, rng=lambda lo, hi: bounds.append((lo, hi)) or hi)
    delays = [backoff.next_delay_s() for _ in range(6)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert all(lo == 0.0 for lo, _ in bounds)
    backoff.reset()
    assert backoff.next_delay_s() == 0.5


def test_backoff_real_jitter_stays_within_bounds() -> None:
    backoff = Backoff(1.0, 8.0)
    for _ in range(50):
        ceiling = backoff.ceiling_s()
        assert 0.0 <= backoff.next_delay_s() <= ceiling


def test_token_bucket_holds_the_long_run_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(100.0, burst=50, clock=clock)
    assert bucket.reserve(50) == 0.0  # the burst is free
    wait = bucket.reserve(100)
    assert wait == 1.0  # 100 more samples at 100/s
    clock.now += wait
    assert bucket.reserve(10) == 0.1


def test_token_bucket_refills_only_up_to_the_burst() -> None:
    clock = FakeClock()
    bucket = TokenBucket(10.0, burst=5, clock=clock)
    clock.now = 100.0
    assert bucket.reserve(5) == 0.0
    assert bucket.reserve(1) == 0.1


def test_zero_rate_means_unlimited() -> None:
    assert TokenBucket(0.0, burst=1).reserve(1_000_000) == 0.0
