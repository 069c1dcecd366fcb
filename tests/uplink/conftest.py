"""Fixtures of the uplink tests: a private Mosquitto broker and a store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from telemetryhub.store import SqliteStore
from telemetryhub.uplink.mosquitto import MosquittoBroker


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[MosquittoBroker]:
    broker = MosquittoBroker(tmp_path)
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    store = SqliteStore(tmp_path / "telemetry.db")
    yield store
    store.close()
