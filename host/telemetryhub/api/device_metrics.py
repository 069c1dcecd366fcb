"""Per-device metric families from the `/status` `devices` summaries, under a cardinality cap.

The first `max_devices` boards, in the order the gateway first saw them (so a board keeps its
series as others come), get series labelled `device`. Boards beyond the cap are folded: their
counters are summed under `device="_other"` (so sums over `device` still equal the fleet's
totals), they have no per-device gauges, and `telemetryhub_metrics_devices_folded` says how
many there are. `telemetryhub_devices{status}` counts every board, folded or not.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from telemetryhub.api.contracts import board_status
from telemetryhub.models import DEVICE_STATUSES, DeviceState

PREFIX = "telemetryhub"
OTHER = "_other"  # the `device` label of the folded boards' summed counters
STATES = tuple(state.label for state in DeviceState)

Summary = Mapping[str, object]

# (summary key, family name without prefix, help) of each per-device counter
_COUNTERS = (
    ("samples_received", "device_samples_received", "Samples received from the board."),
    ("samples_stored", "device_samples_stored", "Samples of the board written to the store."),
    ("reconnects", "device_reconnects", "Times the board's link was reopened."),
)


def device_families(summaries: Sequence[Summary], max_devices: int) -> Iterator[Metric]:
    """Every per-device family; the boards past `max_devices` folded (see the module doc)."""
    shown, folded = summaries[:max_devices], summaries[max_devices:]
    yield _fleet_counts(summaries)
    yield GaugeMetricFamily(
        f"{PREFIX}_metrics_devices_folded",
        f"Boards past [http] metrics_max_devices ({max_devices}): no series of their own, "
        f'counters summed under device="{OTHER}".',
        value=float(len(folded)),
    )
    yield from _counters(shown, folded)
    yield _lost(shown, folded)
    yield from _gauges(shown)


def _fleet_counts(summaries: Sequence[Summary]) -> Metric:
    family = GaugeMetricFamily(
        f"{PREFIX}_devices",
        "Boards known, by status: their state, or offline when not connected.",
        labels=["status"],
    )
    counts = dict.fromkeys(DEVICE_STATUSES, 0)
    for summary in summaries:
        status = board_status(summary)
        counts[status] = counts.get(status, 0) + 1
    for status, n in counts.items():
        family.add_metric([status], float(n))
    return family


def _counters(shown: Sequence[Summary], folded: Sequence[Summary]) -> Iterator[Metric]:
    for key, name, doc in _COUNTERS:
        family = CounterMetricFamily(f"{PREFIX}_{name}", doc, labels=["device"])
        for summary in shown:
            value = number(summary.get(key))
            if value is not None:
                family.add_metric([str(summary.get("device_id"))], value)
        if folded:
            family.add_metric([OTHER], sum(number(s.get(key)) or 0.0 for s in folded))
        yield family


def _lost(shown: Sequence[Summary], folded: Sequence[Summary]) -> Metric:
    family = CounterMetricFamily(
        f"{PREFIX}_device_samples_lost",
        "Samples the board took that never reached the gateway, by reason.",
        labels=["device", "reason"],
    )
    for summary in shown:
        for reason, n in _by_reason(summary).items():
            family.add_metric([str(summary.get("device_id")), reason], n)
    other: dict[str, float] = {}
    for summary in folded:
        for reason, n in _by_reason(summary).items():
            other[reason] = other.get(reason, 0.0) + n
    for reason, n in other.items():
        family.add_metric([OTHER, reason], n)
    return family


def _gauges(shown: Sequence[Summary]) -> Iterator[Metric]:
    state = GaugeMetricFamily(
        f"{PREFIX}_device_state",
        "1 for the state each board last reported (Idle, Measuring, SafeState).",
        labels=["device", "state"],
    )
    up = GaugeMetricFamily(
        f"{PREFIX}_device_link_up", "1 while the board's link is up.", labels=["device"]
    )
    seen = GaugeMetricFamily(
        f"{PREFIX}_device_last_seen_timestamp_seconds",
        "Wall-clock time (unix seconds) samples last arrived from the board.",
        labels=["device"],
    )
    info = GaugeMetricFamily(
        f"{PREFIX}_device_info",
        "Each board's firmware, protocol and boot id (8 hex digits); always 1.",
        labels=["device", "firmware", "protocol", "boot_id"],
    )
    for summary in shown:
        device = str(summary.get("device_id"))
        label = summary.get("state")
        for name in (*STATES, *([] if label in STATES else [str(label)])):
            state.add_metric([device, name], float(name == label))
        up.add_metric([device], float(summary.get("connected") is True))
        last_seen = number(summary.get("last_seen"))
        if last_seen is not None:
            seen.add_metric([device], last_seen)
        if summary.get("boot_id_hex") is not None:
            labels = [str(summary.get(k) or "") for k in ("firmware", "protocol", "boot_id_hex")]
            info.add_metric([device, *labels], 1.0)
    yield from (state, up, seen, info)


def _by_reason(summary: Summary) -> dict[str, float]:
    lost = summary.get("lost")
    if not isinstance(lost, Mapping):
        return {}
    return {str(r): v for r, n in lost.items() if (v := number(n)) is not None}


def number(value: object) -> float | None:
    """A JSON number as a float; None for anything else (booleans included)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)
