"""What the server knows from its gates, for operators: an event's scan summary and its conflicts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from psycopg.rows import class_row
from psycopg_pool import AsyncConnectionPool

from backend.db import database_errors
from backend.errors import EventNotFound
from backend.events import code_to_look_up


@dataclass(frozen=True)
class ScanSummary:
    """Counted on the server: every uploaded scan; admissions (entries), rejections, exits; the
    devices that uploaded; the conflicts standing (not withdrawn)."""

    scans: int
    admitted: int
    rejected: int
    exits: int
    devices: int
    conflicts: int


@dataclass(frozen=True)
class ConflictInfo:
    """One ticket let in twice: the entry that had it inside, and the other gate's entry while inside."""

    id: int
    serial: int
    code: str | None  # the ticket's code, when the server issued it
    first_gate: str
    first_device: str
    first_at: datetime
    second_gate: str
    second_device: str
    second_at: datetime
    detected_at: datetime
    withdrawn_at: datetime | None


async def _event_id(pool: AsyncConnectionPool, event_code: str) -> int:
    code = code_to_look_up(event_code)
    async with database_errors(), pool.connection() as conn:
        cur = await conn.execute("SELECT id FROM events WHERE code = %s", (code,))
        row = await cur.fetchone()
    if row is None:
        raise EventNotFound(f"no event has the code {code}")
    event_id: int = row[0]
    return event_id


async def scan_summary(pool: AsyncConnectionPool, event_code: str) -> ScanSummary:
    """The event's scans as uploaded by its gates; EventNotFound for an unknown event."""
    event_id = await _event_id(pool, event_code)
    async with database_errors(), pool.connection() as conn:
        cur = conn.cursor(row_factory=class_row(ScanSummary))
        await cur.execute(
            "SELECT count(*) AS scans,"
            " count(*) FILTER (WHERE verdict = 'ADMIT' AND direction = 'in') AS admitted,"
            " count(*) FILTER (WHERE verdict <> 'ADMIT') AS rejected,"
            " count(*) FILTER (WHERE verdict = 'ADMIT' AND direction = 'out') AS exits,"
            " count(DISTINCT device_id) AS devices,"
            " (SELECT count(*) FROM conflicts WHERE event_id = %s AND withdrawn_at IS NULL) AS conflicts"
            " FROM scans WHERE event_id = %s",
            (event_id, event_id),
        )
        summary = await cur.fetchone()
    assert summary is not None, "an aggregate always has a row"
    return summary


async def list_conflicts(
    pool: AsyncConnectionPool, event_code: str, *, withdrawn: bool = False
) -> list[ConflictInfo]:
    """The event's conflicts by ticket and time (standing ones, or with ``withdrawn`` all of them)."""
    event_id = await _event_id(pool, event_code)
    async with database_errors(), pool.connection() as conn:
        cur = conn.cursor(row_factory=class_row(ConflictInfo))
        await cur.execute(
            "SELECT c.id, c.serial, t.code,"
            " a.gate AS first_gate, da.name AS first_device, a.corrected_at AS first_at,"
            " b.gate AS second_gate, db.name AS second_device, b.corrected_at AS second_at,"
            " c.detected_at, c.withdrawn_at"
            " FROM conflicts c"
            " JOIN scans a ON a.id = c.first_scan JOIN devices da ON da.id = a.device_id"
            " JOIN scans b ON b.id = c.second_scan JOIN devices db ON db.id = b.device_id"
            " LEFT JOIN tickets t ON t.event_id = c.event_id AND t.serial = c.serial"
            " WHERE c.event_id = %s AND (%s OR c.withdrawn_at IS NULL)"
            " ORDER BY c.serial, b.corrected_at, c.id",
            (event_id, withdrawn),
        )
        return await cur.fetchall()
