"""Durable sample storage: the SQLite store and its uplink cursors."""

from __future__ import annotations

from telemetryhub.store.sqlite import DB_FILENAME, SqliteStore

__all__ = ["DB_FILENAME", "SqliteStore"]
