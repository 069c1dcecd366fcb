"""Fixtures of the core tests: a real SQLite store in the test's temp dir."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from telemetryhub.store.sqlite import SqliteStore


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    store = SqliteStore.in_data_dir(tmp_path)
    yield store
    store.close()
