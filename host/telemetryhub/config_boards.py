"""Per-board settings: `[board:<device id>]` sections of the INI file, over the shared defaults.

A board is named by the device id it says in HELLO, so its settings follow it from port to port:

    [board:e6614c311b2f8a29]
    period_ms = 10
    autostart = false
    min_value = -40
    max_value = 125
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from telemetryhub.config_kinds import BOOL, NUMBER, Kind, period_kind
from telemetryhub.errors import ConfigError

BOARD_PREFIX = "board:"


@dataclass(frozen=True, slots=True)
class BoardSettings:
    """One board's overrides; None keeps the shared default."""

    device_id: str
    period_ms: int | None = None
    autostart: bool | None = None
    min_value: float | None = None
    max_value: float | None = None


_KEYS: dict[str, tuple[Kind, str]] = {
    "period_ms": (period_kind(), "this board's sample period"),
    "autostart": (BOOL, "start this board when it connects in Idle"),
    "min_value": (NUMBER, "smallest value accepted from this board"),
    "max_value": (NUMBER, "largest value accepted from this board"),
}


def board_keys() -> Mapping[str, tuple[Kind, str]]:
    """The keys a `[board:<id>]` section takes: their kind and meaning."""
    return _KEYS


def read_board_section(
    section: str, items: Iterable[tuple[str, str]], where: str
) -> dict[tuple[str, str], tuple[str, str]]:
    """The raw `(section, key) -> (text, where)` entries of one board section, keys checked."""
    device_id = section.removeprefix(BOARD_PREFIX).strip()
    if not device_id or any(c.isspace() for c in device_id):
        raise ConfigError(
            f"{where} [{section}]: expected [board:<device id>], e.g. [board:unix-1]"
        )
    raw: dict[tuple[str, str], tuple[str, str]] = {}
    for key, value in items:
        if key not in _KEYS:
            raise ConfigError(
                f"{where} [{section}] {key}: unknown key; expected one of {', '.join(_KEYS)}"
            )
        raw[(f"{BOARD_PREFIX}{device_id}", key)] = (value, f"{where} [{section}] {key}")
    return raw


def build_boards(raw: Mapping[tuple[str, str], tuple[str, str]]) -> tuple[BoardSettings, ...]:
    """The boards' settings from their raw entries (section `board:<id>`), values checked."""
    values: dict[str, dict[str, object]] = {}
    for (section, key), (text, where) in raw.items():
        kind = _KEYS[key][0]
        try:
            value = kind.parse(text)
        except ValueError:
            raise ConfigError(f"{where} = {text!r}: expected {kind.expected}") from None
        values.setdefault(section.removeprefix(BOARD_PREFIX), {})[key] = value
    boards = tuple(
        dataclasses.replace(BoardSettings(device_id), **kw)  # type: ignore[arg-type]
        for device_id, kw in sorted(values.items())
    )
    for board in boards:
        low, high = board.min_value, board.max_value
        if low is not None and high is not None and low > high:
            raise ConfigError(
                f"[{BOARD_PREFIX}{board.device_id}] min_value = {low!r}, max_value = {high!r}: "
                "expected min_value <= max_value"
            )
    return boards
