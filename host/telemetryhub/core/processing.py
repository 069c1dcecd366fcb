"""Sample validation (with counted rejection reasons) and rolling per-device aggregates."""

from __future__ import annotations

import enum
import math
import threading
from collections import OrderedDict, deque
from collections.abc import Iterable
from dataclasses import dataclass

from telemetryhub.models import Sample

DEFAULT_MIN_VALUE = -1e6
DEFAULT_MAX_VALUE = 1e6
DEFAULT_WINDOW_SAMPLES = 100
_MAX_TRACKED_BOOTS = 1024


class Rejection(enum.Enum):
    """Why a sample was refused; the value is the name used in metrics and logs."""

    NOT_FINITE = "not_finite"
    OUT_OF_RANGE = "out_of_range"
    TIME_BACKWARDS = "time_backwards"


@dataclass(frozen=True, slots=True)
class ValidationResult:
    """One batch split into what may be stored and what was refused (with the reason)."""

    accepted: tuple[Sample, ...]
    rejected: tuple[tuple[Sample, Rejection], ...]


@dataclass(slots=True)
class _BootClock:
    """The highest seq seen in one boot and its board time."""

    seq: int
    board_ms: int


class SampleValidator:
    """Checks samples: finite value, inside [min_value, max_value], board time agreeing with seq.

    Time rule, per (device_id, boot_id): a sample with a higher seq than any accepted one must
    not have an earlier `board_ms`; a sample with a lower seq (a resend of something the host
    missed) must not have a later `board_ms` than that highest one. An equal seq (a duplicate)
    is left to the store. A new boot_id starts a fresh clock. Thread-safe; counters are exact.
    """

    def __init__(
        self, min_value: float = DEFAULT_MIN_VALUE, max_value: float = DEFAULT_MAX_VALUE
    ) -> None:
        self._lock = threading.Lock()
        self._min_value, self._max_value = _checked_limits(min_value, max_value)
        self._clocks: OrderedDict[tuple[str, int], _BootClock] = OrderedDict()
        self._device_limits: dict[str, tuple[float, float]] = {}
        self._accepted = 0
        self._rejected = dict.fromkeys(Rejection, 0)

    def set_limits(self, min_value: float, max_value: float) -> None:
        """Change the accepted value range (live reload); raises ValueError if min > max."""
        limits = _checked_limits(min_value, max_value)
        with self._lock:
            self._min_value, self._max_value = limits

    def set_device_limits(self, limits: dict[str, tuple[float, float]]) -> None:
        """Per-device ranges that replace the shared one for those devices (live reload)."""
        checked = {device_id: _checked_limits(*pair) for device_id, pair in limits.items()}
        with self._lock:
            self._device_limits = checked

    def validate(self, samples: Iterable[Sample]) -> ValidationResult:
        """Split `samples` (in arrival order) into accepted and rejected, counting each."""
        accepted: list[Sample] = []
        rejected: list[tuple[Sample, Rejection]] = []
        with self._lock:
            for sample in samples:
                low, high = self._device_limits.get(
                    sample.device_id, (self._min_value, self._max_value)
                )
                reason = self._check(sample, low, high)
                if reason is None:
                    accepted.append(sample)
                else:
                    rejected.append((sample, reason))
                    self._rejected[reason] += 1
            self._accepted += len(accepted)
        return ValidationResult(tuple(accepted), tuple(rejected))

    def counters(self) -> dict[str, int]:
        """{"accepted": n, "not_finite": n, "out_of_range": n, "time_backwards": n}."""
        with self._lock:
            counts = {"accepted": self._accepted}
            counts.update({reason.value: n for reason, n in self._rejected.items()})
            return counts

    def _check(self, sample: Sample, low: float, high: float) -> Rejection | None:
        value = sample.value
        if not math.isfinite(value):
            return Rejection.NOT_FINITE
        if not low <= value <= high:
            return Rejection.OUT_OF_RANGE
        return self._check_clock(sample)

    def _check_clock(self, sample: Sample) -> Rejection | None:
        key = (sample.device_id, sample.boot_id)
        clock = self._clocks.get(key)
        if clock is None:
            self._clocks[key] = _BootClock(sample.seq, sample.board_ms)
            if len(self._clocks) > _MAX_TRACKED_BOOTS:
                self._clocks.popitem(last=False)
            return None
        self._clocks.move_to_end(key)
        if sample.seq > clock.seq:
            if sample.board_ms < clock.board_ms:
                return Rejection.TIME_BACKWARDS
            clock.seq, clock.board_ms = sample.seq, sample.board_ms
        elif sample.seq < clock.seq and sample.board_ms > clock.board_ms:
            return Rejection.TIME_BACKWARDS
        return None


def _checked_limits(min_value: float, max_value: float) -> tuple[float, float]:
    if not min_value <= max_value:
        raise ValueError(f"min_value {min_value} must not exceed max_value {max_value}")
    return min_value, max_value


@dataclass(frozen=True, slots=True)
class Aggregate:
    """Statistics over one (device, channel) window; `total` counts every sample ever added."""

    device_id: str
    channel: int
    count: int
    min: float
    max: float
    mean: float
    last_value: float
    last_ts: float
    total: int


@dataclass(slots=True)
class _Window:
    values: deque[float]
    last_ts: float = 0.0
    total: int = 0


class RollingAggregates:
    """count/min/max/mean per (device_id, channel) over the last `window_samples` samples.

    The window is a count of samples, not a time span: it costs one deque append per sample
    and stays bounded whatever the rate. Statistics are computed on read (O(window)).
    Thread-safe.
    """

    def __init__(self, window_samples: int = DEFAULT_WINDOW_SAMPLES) -> None:
        if window_samples < 1:
            raise ValueError(f"window_samples must be >= 1, got {window_samples}")
        self._window_samples = window_samples
        self._lock = threading.Lock()
        self._windows: dict[tuple[str, int], _Window] = {}

    @property
    def window_samples(self) -> int:
        """How many of the latest samples each window keeps."""
        return self._window_samples

    def add(self, samples: Iterable[Sample]) -> None:
        """Fold `samples` (accepted ones, in order) into their windows."""
        with self._lock:
            for sample in samples:
                key = (sample.device_id, sample.channel)
                window = self._windows.get(key)
                if window is None:
                    window = _Window(deque(maxlen=self._window_samples))
                    self._windows[key] = window
                window.values.append(sample.value)
                window.last_ts = sample.ts
                window.total += 1

    def get(self, device_id: str, channel: int = 0) -> Aggregate | None:
        """The aggregate of one device channel, or None if it has no samples yet."""
        with self._lock:
            window = self._windows.get((device_id, channel))
            if window is None:
                return None
            return _summarise(device_id, channel, window)

    def snapshot(self) -> list[Aggregate]:
        """Every window's aggregate, sorted by (device_id, channel)."""
        with self._lock:
            return [_summarise(d, c, w) for (d, c), w in sorted(self._windows.items())]


def _summarise(device_id: str, channel: int, window: _Window) -> Aggregate:
    values = window.values
    return Aggregate(
        device_id=device_id,
        channel=channel,
        count=len(values),
        min=min(values),
        max=max(values),
        mean=math.fsum(values) / len(values),
        last_value=values[-1],
        last_ts=window.last_ts,
        total=window.total,
    )
