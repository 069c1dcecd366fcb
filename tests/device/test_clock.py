"""Board ticks become UTC through the lowest-round-trip offset; 30-bit counters are unwrapped."""

from __future__ import annotations

import pytest

from telemetryhub.device.clock import BoardClock, Unwrapper

WRAP = 1 << 30


def test_unwrapper_extends_across_wraps_and_steps_back_for_resends() -> None:
    unwrap = Unwrapper(WRAP)
    assert [unwrap.extend(v) for v in (WRAP - 2, WRAP - 1, 0, 1)] == [
        WRAP - 2,
        WRAP - 1,
        WRAP,
        WRAP + 1,
    ]
    assert unwrap.extend(WRAP - 1) == WRAP - 1  # a resent older value stays before the wrap
    assert unwrap.extend(5) == WRAP + 5
    unwrap.reset()
    assert unwrap.extend(5) == 5


def test_unmeasured_clock_falls_back_to_host_time() -> None:
    clock = BoardClock(wall=lambda: 123.0)
    assert not clock.synced
    assert clock.to_utc(5_000) == 123.0
    assert clock.rtt_s is None


def test_offset_from_a_measurement_maps_later_ticks() -> None:
    clock = BoardClock()
    assert clock.measure(sent_utc_s=1000.0, t_ms=500, received_utc_s=1000.010)
    assert clock.to_utc(500) == pytest.approx(1000.005)
    assert clock.to_utc(1500) == pytest.approx(1001.005)
    assert clock.rtt_s == pytest.approx(0.010)


def test_the_lowest_round_trip_wins_until_it_goes_stale() -> None:
    clock = BoardClock(refresh_s=60)
    clock.measure(1000.0, 0, 1000.002)
    assert not clock.measure(1001.0, 1000, 1001.100)  # slow answer: ignored for the offset
    assert clock.to_utc(0) == pytest.approx(1000.001)
    assert clock.measure(1100.0, 100_000, 1100.050)  # best is older than refresh_s: replaced
    assert clock.to_utc(100_000) == pytest.approx(1100.025, abs=1e-3)


def test_drift_is_estimated_in_ppm() -> None:
    clock = BoardClock()
    # the board's clock runs 100 ppm slow: 100 board-seconds last 100.01 host-seconds
    for k in range(11):
        board_ms = k * 100_000
        host_s = 1000.0 + k * 100.01
        clock.measure(host_s, board_ms, host_s + 0.001)
    assert clock.drift_ppm == pytest.approx(100, abs=1)
    assert clock.to_utc(2_000_000) == pytest.approx(1000.0005 + 2000.2, abs=0.01)


def test_drift_needs_a_long_enough_baseline_and_is_clamped() -> None:
    clock = BoardClock()
    clock.measure(1000.0, 0, 1000.001)
    clock.measure(1001.0, 1000, 1001.001)
    assert clock.drift_ppm == 0.0
    clock.measure(1100.0, 50_000, 1100.001)  # absurd: 100 s of host time for 50 s of board
    assert clock.drift_ppm == 1000.0


def test_ticks_unwrap_across_the_30_bit_wrap_and_reset_forgets() -> None:
    clock = BoardClock()
    clock.measure(1000.0, WRAP - 1000, 1000.0)
    assert clock.unwrap(WRAP - 10) == WRAP - 10
    assert clock.unwrap(20) == WRAP + 20
    assert clock.to_utc(WRAP + 20) == pytest.approx(1001.020)
    clock.reset()
    assert not clock.synced
    assert clock.unwrap(20) == 20
