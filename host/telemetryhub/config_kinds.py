"""How the text of one INI key becomes a typed value: one Kind per sort of key, each saying
what it expects, with the bounds that keep a value inside what the gateway's parts can do."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass

# Bounds of the numeric kinds; the "expected" text of each key states them in the docs.
MAX_RATE = 1e9
MIN_SECONDS = 0.001
PERIOD_MS_MAX = 60_000  # the firmware's longest sample period (firmware/config.py)
MAX_WAIT_S = 3600.0  # longer waits than an hour help nobody; ~1e10 s overflows time_t


@dataclass(frozen=True, slots=True)
class Kind:
    """How one key's text becomes a value: `parse` raises ValueError; `expected` says what fits."""

    parse: Callable[[str], object]
    expected: str


def int_at_least(minimum: int, maximum: int | None = None) -> Callable[[str], object]:
    def parse(text: str) -> int:
        value = int(text.strip())
        if value < minimum or (maximum is not None and value > maximum):
            raise ValueError(text)
        return value

    return parse


def float_in(minimum: float | None, maximum: float | None = None) -> Callable[[str], object]:
    def parse(text: str) -> float:
        value = float(text.strip())
        if not math.isfinite(value):
            raise ValueError(text)
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            raise ValueError(text)
        return value

    return parse


def rate(minimum: float) -> Callable[[str], object]:
    """0 (off) or at least `minimum`: a slower rate would ask for waits past what time_t holds."""
    in_range = float_in(minimum, MAX_RATE)

    def parse(text: str) -> object:
        return 0.0 if float(text.strip()) == 0 else in_range(text)

    return parse


def int_range(minimum: int, maximum: int, why: str = "") -> Kind:
    return Kind(int_at_least(minimum, maximum), f"an integer {minimum}..{maximum}{why}")


def seconds_up_to(maximum: float) -> Kind:
    return Kind(float_in(MIN_SECONDS, maximum), f"a number of seconds > 0 and <= {maximum:g}")


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _parse_bool(text: str) -> bool:
    word = text.strip().lower()
    if word in _TRUE | _FALSE:
        return word in _TRUE
    raise ValueError(text)


def choice(*choices: str, upper: bool = False) -> Kind:
    def parse(text: str) -> str:
        word = text.strip().upper() if upper else text.strip().lower()
        if word not in choices:
            raise ValueError(text)
        return word

    return Kind(parse, f"one of {', '.join(choices)}")


MAX_SIMULATED = 1000  # `sim:N` boards in one gateway
MAX_EMULATED = 64  # `emulator:N`: each is a MicroPython process


def _parse_source(word: str) -> str:
    if not word or any(c.isspace() for c in word):
        raise ValueError(word)
    kind, colon, count = word.partition(":")
    if colon and kind in ("sim", "emulator"):
        limit = MAX_SIMULATED if kind == "sim" else MAX_EMULATED
        if not count.isdigit() or not 1 <= int(count) <= limit:
            raise ValueError(word)
    return word


def _parse_devices(text: str) -> tuple[str, ...]:
    words = tuple(part.strip() for part in text.split(","))
    if not words or len(set(words)) != len(words):
        raise ValueError(text)  # a port read twice would fight over it
    if sum(word.partition(":")[0] == "sim" for word in words) > 1:
        raise ValueError(text)  # sim and sim:N would both be sim-0001: name them once
    return tuple(_parse_source(word) for word in words)


def period_kind() -> Kind:
    return int_range(1, PERIOD_MS_MAX, " (the board's limits)")


def _parse_url(text: str) -> str:
    urls = _parse_urls(text)
    if len(urls) != 1:
        raise ValueError(text)
    return urls[0]


def _parse_urls(text: str) -> tuple[str, ...]:
    urls = tuple(part.strip() for part in text.split(",") if part.strip())
    if not all(url.startswith(("http://", "https://")) for url in urls):
        raise ValueError(text)
    return urls


def _parse_qos(text: str) -> int:
    value = int(text.strip())
    if value not in (0, 1, 2):
        raise ValueError(text)
    return value


def _non_empty(text: str) -> str:
    word = text.strip()
    if not word:
        raise ValueError(text)
    return word


def _parse_data_dir(text: str) -> str:
    # Empty would mean the current directory: the store would land wherever the gateway starts.
    return os.path.expanduser(_non_empty(text))


def _parse_topic(text: str) -> str:
    topic = _non_empty(text)
    if "+" in topic or "#" in topic or "\x00" in topic:
        raise ValueError(text)  # paho refuses to publish to a wildcard topic
    try:
        topic.format(gateway_id="g", device_id="d")
    except (KeyError, IndexError, ValueError):
        raise ValueError(text) from None
    return topic


POSITIVE_INT = Kind(int_at_least(1), "a positive integer")
NON_NEGATIVE_INT = Kind(int_at_least(0), "an integer >= 0")
TCP_PORT = Kind(int_at_least(0, 65535), "a TCP port number 0-65535 (0 = any free port)")
REMOTE_PORT = Kind(int_at_least(1, 65535), "a TCP port number 1-65535")
NUMBER = Kind(float_in(None), "a finite number")
NON_NEGATIVE_NUMBER = Kind(float_in(0.0), "a finite number >= 0")
HOST = Kind(_non_empty, "a host name or address")
DATA_DIR = Kind(_parse_data_dir, "a directory path (not empty: that would be the current one)")
TOPIC = Kind(
    _parse_topic,
    "an MQTT topic without + or #; placeholders {gateway_id} and {device_id} only",
)
REQUEST_RATE = Kind(rate(0.01), f"0 (off) or requests/s 0.01..{MAX_RATE:g}")
SAMPLE_RATE = Kind(rate(1.0), f"0 (off) or samples/s 1..{MAX_RATE:g}")
BOOL = Kind(_parse_bool, "true or false (also yes/no, on/off, 1/0)")
TEXT = Kind(str.strip, "text")
PATH = Kind(lambda text: os.path.expanduser(text.strip()), "a path")
DEVICES = Kind(
    _parse_devices,
    "a comma-separated list of boards to read: sim or sim:N (once), emulator, emulator:N, auto "
    f"(every board plugged in, now or later), or serial port paths such as /dev/ttyACM0 "
    f"(N up to {MAX_SIMULATED} simulated, {MAX_EMULATED} emulated)",
)
URL_LIST = Kind(_parse_urls, "a comma-separated list of http:// or https:// URLs")
URL = Kind(_parse_url, "one http:// or https:// URL")
QOS = Kind(_parse_qos, "an MQTT QoS level: 0, 1 or 2")
