"""Durable sample storage: the SQLite store, its schema versions, retention and backup."""

from __future__ import annotations

from telemetryhub.store.retention import Eviction, RetentionSettings, StoreRetention
from telemetryhub.store.sqlite import DB_FILENAME, SqliteStore

__all__ = ["DB_FILENAME", "Eviction", "RetentionSettings", "SqliteStore", "StoreRetention"]
