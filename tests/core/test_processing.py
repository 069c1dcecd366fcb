"""Sample validation (every rejection reason, counters) and rolling aggregates."""

from __future__ import annotations

import math
import threading

import pytest

from telemetryhub.core.processing import Rejection, RollingAggregates, SampleValidator
from telemetryhub.models import Sample


def _sample(
    seq: int,
    value: float = 1.0,
    board_ms: int | None = None,
    boot_id: int = 7,
    device_id: str = "dev-1",
    channel: int = 0,
) -> Sample:
    ms = seq * 100 if board_ms is None else board_ms
    return Sample(device_id, boot_id, seq, ms, 1_700_000_000 + ms / 1000, value, channel, "C")


def test_accepts_good_samples_and_counts() -> None:
    validator = SampleValidator()
    result = validator.validate([_sample(1), _sample(2), _sample(3)])
    assert [s.seq for s in result.accepted] == [1, 2, 3]
    assert result.rejected == ()
    assert validator.counters() == {
        "accepted": 3,
        "not_finite": 0,
        "out_of_range": 0,
        "time_backwards": 0,
    }


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_rejects_non_finite(value: float) -> None:
    validator = SampleValidator()
    result = validator.validate([_sample(1, value=value)])
    assert result.rejected[0][1] is Rejection.NOT_FINITE
    assert validator.counters()["not_finite"] == 1


def test_rejects_out_of_range_and_limits_change_live() -> None:
    validator = SampleValidator(min_value=0.0, max_value=10.0)
    result = validator.validate([_sample(1, -0.5), _sample(2, 10.0), _sample(3, 10.5)])
    assert [s.seq for s in result.accepted] == [2]
    assert [r for _, r in result.rejected] == [Rejection.OUT_OF_RANGE] * 2
    validator.set_limits(-1.0, 20.0)
    assert len(validator.validate([_sample(4, -0.5)]).accepted) == 1
    with pytest.raises(ValueError, match="must not exceed"):
        validator.set_limits(5.0, 1.0)
    with pytest.raises(ValueError, match="must not exceed"):
        SampleValidator(min_value=2.0, max_value=1.0)


def test_rejects_board_time_going_backwards_within_a_boot() -> None:
    validator = SampleValidator()
    result = validator.validate(
        [
            _sample(10, board_ms=1000),
            _sample(11, board_ms=900),  # newer seq, older time
            _sample(12, board_ms=1000),  # equal time is fine
            _sample(5, board_ms=500),  # a resend of an older sample: fine
            _sample(6, board_ms=5000),  # a resend claiming a later time than seq 12
            _sample(12, board_ms=1),  # duplicate seq: left to the store
        ]
    )
    assert [s.seq for s in result.accepted] == [10, 12, 5, 12]
    assert [(s.seq, r) for s, r in result.rejected] == [
        (11, Rejection.TIME_BACKWARDS),
        (6, Rejection.TIME_BACKWARDS),
    ]
    assert validator.counters()["time_backwards"] == 2


def test_new_boot_or_other_device_starts_a_fresh_clock() -> None:
    validator = SampleValidator()
    validator.validate([_sample(100, board_ms=100_000)])
    result = validator.validate(
        [_sample(101, board_ms=10, boot_id=8), _sample(101, board_ms=10, device_id="dev-2")]
    )
    assert len(result.accepted) == 2


def test_tracked_boots_are_bounded() -> None:
    validator = SampleValidator()
    validator.validate([_sample(1, boot_id=b) for b in range(1100)])
    assert validator.counters()["accepted"] == 1100
    assert len(validator._clocks) == 1024


def test_validator_counters_exact_across_threads() -> None:
    validator = SampleValidator(max_value=100.0)

    def run(device: str) -> None:
        for seq in range(2000):
            validator.validate([_sample(seq, value=float(seq % 200), device_id=device)])

    threads = [threading.Thread(target=run, args=(f"d{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    counters = validator.counters()
    assert counters["accepted"] + counters["out_of_range"] == 8000
    assert counters["out_of_range"] == 4 * 2000 * 99 // 200


def test_aggregates_over_last_n_samples_per_channel() -> None:
    aggregates = RollingAggregates(window_samples=3)
    assert aggregates.window_samples == 3
    assert aggregates.get("dev-1") is None
    aggregates.add(_sample(i, value=float(i)) for i in range(1, 6))
    aggregates.add([_sample(1, value=-1.0, channel=1)])
    agg = aggregates.get("dev-1")
    assert agg is not None
    assert (agg.count, agg.min, agg.max, agg.mean, agg.total) == (3, 3.0, 5.0, 4.0, 5)
    assert agg.last_value == 5.0
    assert agg.last_ts == _sample(5).ts
    assert [(a.channel, a.count) for a in aggregates.snapshot()] == [(0, 3), (1, 1)]
    with pytest.raises(ValueError, match="window_samples"):
        RollingAggregates(window_samples=0)
