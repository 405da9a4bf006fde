"""Known tickets and revocations in the store: add or update them, and find them for the look-up screen."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from datetime import UTC, datetime

from scanner.store.schema import dt, ts
from scanner.verdicts import KnownTicket
from ticketcode import MalformedCode, parse_code
from ticketcode.keys import EVENT_CODE_RE

# A code's serial has at most 9 digits (ticketcode's format): a larger number names no ticket, and
# past 2**63 SQLite cannot even bind it.
MAX_SERIAL = 999_999_999


# (event, serial, holder, revoked 0/1, revoked_reason, updated_at, code, order_ref, status_changed_at)
TicketRow = tuple[str, int, str | None, int, str | None, str, str | None, str | None, str | None]


def upsert_tickets(conn: sqlite3.Connection, tickets: Iterable[KnownTicket]) -> int:
    """Add or update known tickets inside the caller's transaction; return how many rows were given.

    Revocations are sticky: a refund is final, so a later list that still shows the ticket as
    valid (an older export, a sync race) does not un-revoke it.
    """
    now = ts(datetime.now(UTC))
    return upsert_ticket_rows(
        conn,
        [
            (
                t.event,
                t.serial,
                t.holder,
                int(t.revoked),
                t.revoked_reason if t.revoked else None,
                now,
                t.code,
                t.order_ref,
                ts(t.changed_at) if t.changed_at else None,
            )
            for t in tickets
        ],
    )


def upsert_ticket_rows(conn: sqlite3.Connection, rows: list[TicketRow]) -> int:
    """``upsert_tickets`` for rows already laid out (the sync's bulk path: 100,000 tickets at a time)."""
    conn.executemany(
        "INSERT INTO tickets (event, serial, holder, revoked, revoked_reason, updated_at, code, order_ref,"
        " status_changed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (event, serial) DO UPDATE SET"
        " holder = coalesce(excluded.holder, holder),"
        " revoked_reason = CASE WHEN excluded.revoked = 1 THEN excluded.revoked_reason"
        "   ELSE revoked_reason END,"
        " revoked = max(revoked, excluded.revoked),"
        " code = coalesce(excluded.code, code),"
        " order_ref = coalesce(excluded.order_ref, order_ref),"
        " status_changed_at = coalesce(excluded.status_changed_at, status_changed_at),"
        " updated_at = excluded.updated_at",
        rows,
    )
    return len(rows)


def find_tickets(conn: sqlite3.Connection, query: str, *, limit: int) -> list[KnownTicket]:
    """Known tickets matching a serial (``42``), a code or ``EVENT-SERIAL``, or part of a holder name."""
    query = query.strip()
    if not query:
        return []
    select = (
        "SELECT event, serial, holder, revoked, revoked_reason, code, order_ref, status_changed_at"
        " FROM tickets"
    )
    if query.isascii() and query.isdigit():
        if int(query) > MAX_SERIAL:
            return []
        rows = conn.execute(
            f"{select} WHERE serial = ? ORDER BY event LIMIT ?", (int(query), limit)
        ).fetchall()
    elif (ident := _ticket_ident(query)) is not None:
        rows = conn.execute(f"{select} WHERE event = ? AND serial = ? LIMIT ?", (*ident, limit)).fetchall()
    else:
        pattern = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        rows = conn.execute(
            f"{select} WHERE holder LIKE ? ESCAPE '\\' ORDER BY holder, event, serial LIMIT ?",
            (pattern, limit),
        ).fetchall()
    return [
        KnownTicket(
            event=r[0],
            serial=r[1],
            holder=r[2],
            revoked=bool(r[3]),
            revoked_reason=r[4],
            code=r[5],
            order_ref=r[6],
            changed_at=dt(r[7]),
        )
        for r in rows
    ]


def _ticket_ident(text: str) -> tuple[str, int] | None:
    """``(EVENT, serial)`` from a full code or an ``EVENT-SERIAL`` prefix, else None."""
    try:
        code = parse_code(text)
        return code.event, code.serial
    except MalformedCode:
        pass
    parts = text.split("-")
    if (
        len(parts) == 2
        and EVENT_CODE_RE.fullmatch(parts[0].upper())
        and parts[1].isascii()
        and parts[1].isdigit()
        and int(parts[1]) <= MAX_SERIAL
    ):
        return parts[0].upper(), int(parts[1])
    return None
