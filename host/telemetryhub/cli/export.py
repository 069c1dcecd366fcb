"""`telemetryhub export` (stored samples as CSV or JSON lines), and opening a store for the CLI."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from telemetryhub.errors import ConfigError
from telemetryhub.models import Sample
from telemetryhub.store.sqlite import DB_FILENAME, SqliteStore

FIELDS = ("device_id", "boot_id", "seq", "ts", "time_utc", "board_ms", "value", "unit", "channel")


def parse_time(text: str | None) -> float | None:
    """Seconds since the epoch from an ISO 8601 time (UTC if no zone) or a number."""
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"time {text!r}: expected ISO 8601 or seconds since the epoch") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def open_store(data_dir: Path) -> SqliteStore:
    """The existing store of a gateway's data directory (never a new, empty one)."""
    database = data_dir / DB_FILENAME
    if not database.is_file():
        raise ConfigError(f"no store at {database} (expected a gateway data directory)")
    return SqliteStore(database)


def export_samples(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Write every matching sample (of the devices given, else of every device), oldest
    first."""
    since, until = parse_time(args.since), parse_time(args.until)
    store = open_store(args.data_dir)
    devices: list[str] | None = args.device  # None: every device
    try:
        limit = args.limit
        if limit is None:  # all of them
            limit = store.count() if devices is None else sum(store.count(d) for d in devices)
        samples = store.query(devices, since, until, limit=limit) if limit > 0 else []
    finally:
        store.close()
    stream = out or sys.stdout
    write = _csv_writer(stream) if args.format == "csv" else _jsonl_writer(stream)
    for sample in samples:
        write(sample)
    return 0


def _row(sample: Sample) -> dict[str, object]:
    return {
        "device_id": sample.device_id,
        "boot_id": sample.boot_id,
        "seq": sample.seq,
        "ts": sample.ts,
        "time_utc": datetime.fromtimestamp(sample.ts, tz=UTC).isoformat(),
        "board_ms": sample.board_ms,
        "value": sample.value,
        "unit": sample.unit,
        "channel": sample.channel,
    }


def _csv_writer(out: TextIO) -> Callable[[Sample], object]:
    writer = csv.DictWriter(out, fieldnames=FIELDS)
    writer.writeheader()
    return lambda sample: writer.writerow(_row(sample))


def _jsonl_writer(out: TextIO) -> Callable[[Sample], object]:
    return lambda sample: out.write(json.dumps(_row(sample)) + "\n")
