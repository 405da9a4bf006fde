"""What the backend tells the gate about the rest of the venue: pulled tickets, other gates' entries
and exits (replayed with this gate's own into ``presence``), and conflicts.

Every function takes an open ``sqlite3.Connection``; the Store owns the transactions around them.
Applying the same changes twice changes nothing, and changes applied in any order end in the same
state: movements are kept by their global scan id and presence is recomputed from all of a
ticket's movements (``scanner.presence.replay``), never incremented.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from scanner.presence import Move, replay
from scanner.store import tickets
from scanner.store.schema import ts
from scanner.verdicts import Direction
from ticketcode.sync_protocol import Change, ConflictChange, MovementChange, TicketChange


@dataclass(frozen=True)
class Applied:
    """How many changes of each kind a batch held, and how many were new to this gate."""

    tickets: int = 0
    revoked: int = 0
    movements: int = 0  # new movements (a movement already held is not counted)
    conflicts: int = 0  # conflicts new to this gate (a withdrawn one is removed, not counted)

    def __add__(self, other: Applied) -> Applied:
        return Applied(
            self.tickets + other.tickets,
            self.revoked + other.revoked,
            self.movements + other.movements,
            self.conflicts + other.conflicts,
        )


@dataclass(frozen=True)
class Conflict:
    """Two gates admitted the same ticket while it was inside; both scans stand."""

    id: str
    event: str
    serial: int
    gates: tuple[str, str]
    at: tuple[datetime, datetime]


@dataclass(frozen=True)
class RemoteMovement:
    """An entry or exit another gate recorded, as pulled (server clock)."""

    scan: str
    gate: str
    direction: Direction
    at: datetime


def apply_changes(
    conn: sqlite3.Connection, event: str, changes: Sequence[Change], *, clock_offset_ms: int
) -> Applied:
    """Keep a batch of pulled changes of ``event``, inside the caller's write transaction."""
    now = ts(datetime.now(UTC))
    rows = [_ticket_row(event, c, now) for c in changes if isinstance(c, TicketChange)]
    if rows:
        tickets.upsert_ticket_rows(conn, rows)
    touched: set[int] = set()
    movements = 0
    for change in changes:
        if isinstance(change, MovementChange):
            cur = conn.execute(
                "INSERT INTO remote_movements (scan, event, serial, gate, direction, at)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (scan) DO NOTHING",
                (change.scan, event, change.serial, change.gate, change.direction, ts(change.at)),
            )
            if cur.rowcount:
                movements += 1
                touched.add(change.serial)
    conflicts = 0
    for change in changes:
        if not isinstance(change, ConflictChange):
            continue
        # A conflict is sent again, as it is now, whenever it changes: withdrawn when a late upload
        # showed the ticket had left in between. Then the gate stops showing it.
        if change.withdrawn:
            conn.execute("DELETE FROM conflicts WHERE id = ?", (change.id,))
            continue
        known_before = conn.execute("SELECT 1 FROM conflicts WHERE id = ?", (change.id,)).fetchone()
        conn.execute(
            "INSERT INTO conflicts (id, event, serial, scan_a, gate_a, at_a, scan_b, gate_b, at_b,"
            " received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET"
            " serial = excluded.serial, scan_a = excluded.scan_a, gate_a = excluded.gate_a,"
            " at_a = excluded.at_a, scan_b = excluded.scan_b, gate_b = excluded.gate_b, at_b = excluded.at_b",
            (
                change.id,
                event,
                change.serial,
                change.scans[0],
                change.gates[0],
                ts(change.at[0]),
                change.scans[1],
                change.gates[1],
                ts(change.at[1]),
                now,
            ),
        )
        conflicts += known_before is None
    for serial in sorted(touched):
        recompute_presence(conn, event, serial, clock_offset_ms=clock_offset_ms)
    return Applied(
        tickets=len(rows),
        revoked=sum(row[3] for row in rows),
        movements=movements,
        conflicts=conflicts,
    )


def _ticket_row(event: str, change: TicketChange, now: str) -> tickets.TicketRow:
    """The row ``tickets.upsert_ticket_rows`` keeps, laid out directly: a pull brings 100,000 of them."""
    if change.status == "revoked":
        why = change.reason or "refunded or cancelled"
        # When a ticket was revoked is worth keeping; when a valid one was issued is not worth the
        # cost of writing it 100,000 times.
        return (
            event,
            change.serial,
            change.holder,
            1,
            why,
            now,
            change.code,
            change.order,
            ts(change.changed_at),
        )
    return (event, change.serial, change.holder, 0, None, now, change.code, change.order, None)


def recompute_presence(conn: sqlite3.Connection, event: str, serial: int, *, clock_offset_ms: int) -> None:
    """Replace the ticket's presence row with the replay of every movement known, in this gate's
    clock: other gates' times (server clock) less the measured offset, so a gate whose clock runs
    slow still orders and shows them consistently with its own scans."""
    offset = timedelta(milliseconds=clock_offset_ms)
    moves = [
        Move(datetime.fromisoformat(at), gate, Direction(direction), f"local/{scan_id:020d}")
        for at, gate, direction, scan_id in conn.execute(
            "SELECT scanned_at, gate, direction, id FROM scans"
            " WHERE event = ? AND serial = ? AND verdict = 'ADMIT'",
            (event, serial),
        )
    ]
    moves += [
        Move(datetime.fromisoformat(at) - offset, gate, Direction(direction), f"remote/{scan}")
        for at, gate, direction, scan in conn.execute(
            "SELECT at, gate, direction, scan FROM remote_movements WHERE event = ? AND serial = ?",
            (event, serial),
        )
    ]
    presence = replay(moves)
    if presence is None:
        conn.execute("DELETE FROM presence WHERE event = ? AND serial = ?", (event, serial))
        return
    conn.execute(
        "INSERT INTO presence (event, serial, first_admitted_at, first_admitted_gate, inside,"
        " last_moved_at, last_moved_gate, entries) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (event, serial) DO UPDATE SET first_admitted_at = excluded.first_admitted_at,"
        " first_admitted_gate = excluded.first_admitted_gate, inside = excluded.inside,"
        " last_moved_at = excluded.last_moved_at, last_moved_gate = excluded.last_moved_gate,"
        " entries = max(entries, excluded.entries)",
        (
            event,
            serial,
            ts(presence.first_admitted_at),
            presence.first_admitted_gate,
            int(presence.inside),
            ts(presence.last_moved_at),
            presence.last_moved_gate,
            presence.entries,
        ),
    )


def conflicts(conn: sqlite3.Connection, event: str, *, serial: int | None = None) -> list[Conflict]:
    """Conflicts flagged for ``event`` (or one of its tickets), newest first."""
    sql = "SELECT id, event, serial, gate_a, gate_b, at_a, at_b FROM conflicts WHERE event = ?"
    params: tuple[object, ...] = (event,)
    if serial is not None:
        sql += " AND serial = ?"
        params += (serial,)
    rows = conn.execute(sql + " ORDER BY at_b DESC, id", params).fetchall()
    return [
        Conflict(
            id=r[0],
            event=r[1],
            serial=r[2],
            gates=(r[3], r[4]),
            at=(datetime.fromisoformat(r[5]), datetime.fromisoformat(r[6])),
        )
        for r in rows
    ]


def remote_movements(conn: sqlite3.Connection, event: str, serial: int) -> list[RemoteMovement]:
    """Other gates' entries and exits of one ticket, oldest first (server clock)."""
    rows = conn.execute(
        "SELECT scan, gate, direction, at FROM remote_movements WHERE event = ? AND serial = ? ORDER BY at",
        (event, serial),
    ).fetchall()
    return [RemoteMovement(r[0], r[1], Direction(r[2]), datetime.fromisoformat(r[3])) for r in rows]
