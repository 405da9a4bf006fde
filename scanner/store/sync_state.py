"""What the store keeps for the sync with the backend: scans to upload, the pull cursor, the clock
offset, and how the last rounds went (online / offline since when, the last problem).

Every function takes an open ``sqlite3.Connection``; the Store owns the transactions around them.
The small values live in the ``meta`` table, one row each.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from scanner.store.scans import SCAN_COLUMNS, scan_from_row
from scanner.store.schema import dt, ts
from scanner.verdicts import ScanResult

# never: no round yet; online: the last round reached the server; offline: it did not (network,
# timeout, busy); refused: the server refused this device (revoked, unknown token) — pair again.
Link = Literal["never", "online", "offline", "refused"]
LINKS: tuple[Link, ...] = ("never", "online", "offline", "refused")


@dataclass(frozen=True)
class SyncState:
    """How this gate stands with the backend, for the status line and ``ticketgate sync``."""

    cursor: str  # "" means pull from the beginning
    clock_offset_ms: int | None  # server clock minus this laptop's, last measured
    link: Link
    link_since: datetime | None  # when ``link`` last changed
    problem: str | None  # why the last round failed, if it did
    last_sync_at: datetime | None  # when the last successful round ended
    pending_upload: int
    conflicts: int  # conflicts the backend flagged for the gate's event


def pending_upload_count(conn: sqlite3.Connection) -> int:
    """Scans not yet pushed to the backend."""
    count: int = conn.execute("SELECT count(*) FROM scans WHERE synced = 0").fetchone()[0]
    return count


def unsynced_scans(conn: sqlite3.Connection, limit: int, *, after: int = 0) -> list[ScanResult]:
    """The oldest scans not yet pushed with an id above ``after``, for the sync client."""
    rows = conn.execute(
        f"SELECT {SCAN_COLUMNS} FROM scans WHERE synced = 0 AND id > ? ORDER BY id LIMIT ?", (after, limit)
    ).fetchall()
    return [scan_from_row(r) for r in rows]


def mark_synced(conn: sqlite3.Connection, scan_ids: Iterable[int]) -> None:
    conn.executemany("UPDATE scans SET synced = 1 WHERE id = ?", ((i,) for i in scan_ids))


def last_sync_at(conn: sqlite3.Connection) -> datetime | None:
    """When the last successful sync ended; None means never."""
    return dt(_meta(conn, "last_sync_at"))


def set_last_sync_at(conn: sqlite3.Connection, moment: datetime) -> None:
    _set_meta(conn, "last_sync_at", ts(moment))


def cursor(conn: sqlite3.Connection) -> str:
    """Where the next pull starts ("" from the beginning)."""
    return _meta(conn, "sync_cursor") or ""


def set_cursor(conn: sqlite3.Connection, value: str) -> None:
    _set_meta(conn, "sync_cursor", value)


def clock_offset_ms(conn: sqlite3.Connection) -> int | None:
    """Server clock minus this laptop's clock, in ms, as last measured; None before any measurement."""
    value = _meta(conn, "clock_offset_ms")
    return int(value) if value is not None else None


def set_clock_offset_ms(conn: sqlite3.Connection, offset_ms: int) -> None:
    _set_meta(conn, "clock_offset_ms", str(int(offset_ms)))


def record_link(conn: sqlite3.Connection, link: Link, *, at: datetime, problem: str | None) -> None:
    """How a round went; ``link_since`` moves only when the link changes. An ``online`` round with no
    problem is a successful sync (its time is the last sync)."""
    if link not in LINKS:
        raise ValueError(f"unknown link state {link!r}")
    if _meta(conn, "sync_link") != link:
        _set_meta(conn, "sync_link", link)
        _set_meta(conn, "sync_link_since", ts(at))
    if problem is None:
        conn.execute("DELETE FROM meta WHERE key = 'sync_problem'")
    else:
        _set_meta(conn, "sync_problem", problem)
    if link == "online" and problem is None:
        set_last_sync_at(conn, at)


def reset_for_pairing(conn: sqlite3.Connection) -> None:
    """A new pairing starts its pull from the beginning and forgets how the old device fared.
    Scans not yet uploaded stay queued: they go up under the new device."""
    conn.execute(
        "DELETE FROM meta WHERE key IN ('sync_cursor', 'sync_link', 'sync_link_since', 'sync_problem')"
    )


def conflict_count(conn: sqlite3.Connection, event: str) -> int:
    count: int = conn.execute("SELECT count(*) FROM conflicts WHERE event = ?", (event,)).fetchone()[0]
    return count


def sync_state(conn: sqlite3.Connection, event: str) -> SyncState:
    """Everything the status line shows about sync, read at once."""
    link = _meta(conn, "sync_link")  # None before the first round; another release's word reads the same
    return SyncState(
        cursor=cursor(conn),
        clock_offset_ms=clock_offset_ms(conn),
        link=link if link in LINKS else "never",
        link_since=dt(_meta(conn, "sync_link_since")),
        problem=_meta(conn, "sync_problem"),
        last_sync_at=last_sync_at(conn),
        pending_upload=pending_upload_count(conn),
        conflicts=conflict_count(conn, event),
    )


def _meta(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def _set_meta(conn: sqlite3.Connection, key: str, value: str) -> None:
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, value),
    )
