"""What the store keeps for the sync with the backend: scans not yet uploaded, and the last sync time."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from datetime import datetime

from scanner.store.scans import SCAN_COLUMNS, scan_from_row
from scanner.store.schema import dt, ts
from scanner.verdicts import ScanResult


def pending_upload_count(conn: sqlite3.Connection) -> int:
    """Scans not yet pushed to the backend."""
    count: int = conn.execute("SELECT count(*) FROM scans WHERE synced = 0").fetchone()[0]
    return count


def unsynced_scans(conn: sqlite3.Connection, limit: int) -> list[ScanResult]:
    """The oldest scans not yet pushed, for the sync client."""
    rows = conn.execute(
        f"SELECT {SCAN_COLUMNS} FROM scans WHERE synced = 0 ORDER BY id LIMIT ?", (limit,)
    ).fetchall()
    return [scan_from_row(r) for r in rows]


def mark_synced(conn: sqlite3.Connection, scan_ids: Iterable[int]) -> None:
    conn.executemany("UPDATE scans SET synced = 1 WHERE id = ?", ((i,) for i in scan_ids))


def last_sync_at(conn: sqlite3.Connection) -> datetime | None:
    """When the last successful sync ended; None means never."""
    row = conn.execute("SELECT value FROM meta WHERE key = 'last_sync_at'").fetchone()
    return dt(row[0]) if row else None


def set_last_sync_at(conn: sqlite3.Connection, moment: datetime) -> None:
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('last_sync_at', ?)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (ts(moment),),
    )
