"""`telemetryhub export --device` on a store of several devices: only those asked, merged by
time."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from telemetryhub.cli.main import main
from telemetryhub.models import Sample
from telemetryhub.store.sqlite import SqliteStore


def test_export_of_several_devices_merges_them_by_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = SqliteStore.in_data_dir(tmp_path)
    for n, device in enumerate(("dev-a", "dev-b", "dev-c")):
        store.write_batch(
            [Sample(device, 1, seq, seq, 1_800_000_000.0 + seq + n / 10, 1.0, 0, "C")
             for seq in range(3)]
        )  # fmt: skip
    store.close()
    argv = ["export", "--data-dir", str(tmp_path), "--format", "jsonl"]
    assert main([*argv, "--device", "dev-c", "--device", "dev-a"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["device_id"], r["seq"]) for r in rows] == [
        ("dev-a", 0), ("dev-c", 0), ("dev-a", 1), ("dev-c", 1), ("dev-a", 2), ("dev-c", 2),
    ]  # fmt: skip
    assert main([*argv, "--device", "dev-b", "--device", "nobody", "--limit", "2"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["device_id"], r["seq"]) for r in rows] == [("dev-b", 0), ("dev-b", 1)]
