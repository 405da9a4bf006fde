"""Scans in the store: decide and record one scan in its transaction (presence, tallies), and read them.

Every function takes an open ``sqlite3.Connection``; the Store owns the transactions around them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from scanner.store.schema import dt, ts
from scanner.verdicts import (
    Authentic,
    Counters,
    Decision,
    Direction,
    Movement,
    Rejected,
    ScanResult,
    TicketState,
    Verdict,
    decide,
)

SCAN_COLUMNS = (
    "id, verdict, direction, raw, code, event, serial, reason, scanned_at, gate, source, "
    "first_admitted_at, first_admitted_gate"
)


def scan_from_row(row: Sequence[Any]) -> ScanResult:
    """A ScanResult from a row of ``SELECT {SCAN_COLUMNS} FROM scans``."""
    return ScanResult(
        scan_id=row[0],
        verdict=Verdict(row[1]),
        direction=Direction(row[2]),
        raw=row[3],
        code=row[4],
        event=row[5],
        serial=row[6],
        reason=row[7],
        scanned_at=datetime.fromisoformat(row[8]),
        gate=row[9],
        source=row[10],
        first_admitted_at=dt(row[11]),
        first_admitted_gate=row[12],
    )


def record_scan(
    conn: sqlite3.Connection,
    screened: Rejected | Authentic,
    *,
    direction: Direction,
    gate: str,
    gate_event: str,
    source: str,
    raw: str,
    scanned_at: datetime,
) -> ScanResult:
    """Decide an authentic code against the stored state and record the scan, inside the caller's
    write transaction (which must be ``BEGIN IMMEDIATE``: the state read and the insert are one step)."""
    if isinstance(screened, Rejected):
        decision = Decision(screened.verdict, screened.reason, screened.code)
    else:
        code = screened.code
        state = ticket_state(conn, code.event, code.serial)
        decision = decide(
            code,
            state,
            direction=direction,
            now=scanned_at,
            superseded=screened.superseded,
            typed_reference=screened.typed_reference,
        )
    entry_no = _apply(conn, decision, gate=gate, at=scanned_at)
    conn.executemany(
        "INSERT INTO tallies (gate_event, name, n) VALUES (?, ?, ?)"
        " ON CONFLICT (gate_event, name) DO UPDATE SET n = n + excluded.n",
        [(gate_event, name, delta) for name, delta in _tally_deltas(decision)],
    )
    code_obj = decision.code
    cur = conn.execute(
        "INSERT INTO scans (scanned_at, gate, gate_event, source, direction, verdict, reason, raw,"
        " code, event, serial, entry_no, first_admitted_at, first_admitted_gate)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            ts(scanned_at),
            gate,
            gate_event,
            source,
            direction.value,
            decision.verdict.value,
            decision.reason,
            raw,
            str(code_obj) if code_obj else None,
            code_obj.event if code_obj else None,
            code_obj.serial if code_obj else None,
            entry_no,
            ts(decision.first_admitted_at) if decision.first_admitted_at else None,
            decision.first_admitted_gate,
        ),
    )
    scan_id = cur.lastrowid
    assert scan_id is not None
    return ScanResult(
        scan_id=scan_id,
        verdict=decision.verdict,
        direction=direction,
        raw=raw,
        code=str(decision.code) if decision.code else None,
        event=decision.code.event if decision.code else None,
        serial=decision.code.serial if decision.code else None,
        reason=decision.reason,
        scanned_at=scanned_at,
        gate=gate,
        source=source,
        first_admitted_at=decision.first_admitted_at,
        first_admitted_gate=decision.first_admitted_gate,
    )


def ticket_state(conn: sqlite3.Connection, event: str, serial: int) -> TicketState:
    """What the store knows of one ticket: revocation and presence."""
    ticket = conn.execute(
        "SELECT revoked, revoked_reason FROM tickets WHERE event = ? AND serial = ?", (event, serial)
    ).fetchone()
    presence = conn.execute(
        "SELECT first_admitted_at, first_admitted_gate, inside, last_moved_at, last_moved_gate, entries"
        " FROM presence WHERE event = ? AND serial = ?",
        (event, serial),
    ).fetchone()
    revoked = bool(ticket and ticket[0])
    reason = ticket[1] if ticket else None
    if presence is None:
        return TicketState(revoked=revoked, revoked_reason=reason, known=ticket is not None)
    return TicketState(
        revoked=revoked,
        revoked_reason=reason,
        known=ticket is not None,
        first_admitted_at=dt(presence[0]),
        first_admitted_gate=presence[1],
        inside=bool(presence[2]),
        last_moved_at=dt(presence[3]),
        last_moved_gate=presence[4],
        entries=presence[5],
    )


def _apply(conn: sqlite3.Connection, decision: Decision, *, gate: str, at: datetime) -> int | None:
    """Update the ticket's presence for an entry or exit; return the entry number of an entry."""
    code = decision.code
    if decision.movement is Movement.NONE or code is None:
        return None
    when = ts(at)
    if decision.movement is Movement.EXIT:
        conn.execute(
            "UPDATE presence SET inside = 0, last_moved_at = ?, last_moved_gate = ?"
            " WHERE event = ? AND serial = ? AND inside = 1",
            (when, gate, code.event, code.serial),
        )
        return None
    row = conn.execute(
        "INSERT INTO presence (event, serial, first_admitted_at, first_admitted_gate, inside,"
        " last_moved_at, last_moved_gate, entries) VALUES (?, ?, ?, ?, 1, ?, ?, 1)"
        " ON CONFLICT (event, serial) DO UPDATE SET inside = 1, last_moved_at = excluded.last_moved_at,"
        " last_moved_gate = excluded.last_moved_gate, entries = entries + 1"
        " RETURNING entries",
        (code.event, code.serial, when, gate, when, gate),
    ).fetchone()
    entries: int = row[0]
    return entries


def _tally_deltas(decision: Decision) -> list[tuple[str, int]]:
    if decision.verdict is not Verdict.ADMIT:
        return [("rejected", 1)]
    if decision.movement is Movement.EXIT:
        return [("exits", 1), ("inside", -1)]
    if decision.movement is Movement.ENTRY:
        return [("admitted", 1), ("inside", 1)]
    return []


def recent_scans(conn: sqlite3.Connection, limit: int) -> list[ScanResult]:
    """The latest scans, newest first."""
    rows = conn.execute(f"SELECT {SCAN_COLUMNS} FROM scans ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
    return [scan_from_row(r) for r in rows]


def ticket_history(conn: sqlite3.Connection, event: str, serial: int) -> list[ScanResult]:
    """Every scan of one ticket (of a well-formed code for it, whatever the verdict), oldest first."""
    rows = conn.execute(
        f"SELECT {SCAN_COLUMNS} FROM scans WHERE event = ? AND serial = ? ORDER BY id",
        (event.upper(), serial),
    ).fetchall()
    return [scan_from_row(r) for r in rows]


def counters(conn: sqlite3.Connection, event: str | None) -> Counters:
    """Admitted entries, rejected scans, exits and people inside now, of one gate event or all."""
    if event:
        rows = conn.execute("SELECT name, n FROM tallies WHERE gate_event = ?", (event.upper(),)).fetchall()
    else:
        rows = conn.execute("SELECT name, sum(n) FROM tallies GROUP BY name").fetchall()
    got = dict(rows)
    return Counters(
        admitted=got.get("admitted", 0),
        rejected=got.get("rejected", 0),
        inside=got.get("inside", 0),
        exits=got.get("exits", 0),
    )
