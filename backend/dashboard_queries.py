"""Reads the organiser's dashboard (``backend.dashboard.Snapshot``) of one event in one read-only
transaction, so the stock, the orders and the gates' figures are of the same moment.

Every query is bounded by the event and by indexes that exist for the hot paths (the pending-order,
attention, refund-due and movement partial indexes), so a refresh every few seconds stays cheap
during a sale.
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import class_row

from backend.dashboard import (
    EXPIRING_SECONDS,
    LIST_LIMIT,
    SERIES_MINUTES,
    AttentionOrder,
    ConflictRow,
    ExpiringOrder,
    GateDevice,
    GateEntries,
    Snapshot,
    Stock,
    is_online,
    per_minute,
)
from backend.db import database_errors
from backend.errors import EventNotFound
from backend.events import code_to_look_up

# ``age``: whole minutes between a row's minute and the current one (0: this minute), the x axis of
# the plots. now() is the transaction's start, the same instant for every statement below.

_EVENT = (
    "SELECT e.id, e.code, e.name, now() AS taken_at, e.capacity,"
    " sum(s.available)::integer AS available, sum(s.held)::integer AS held,"
    " sum(s.sold)::integer AS sold, sum(s.withdrawn)::integer AS withdrawn"
    " FROM events e JOIN event_stock s ON s.event_id = e.id WHERE e.code = %s GROUP BY e.id"
)

_SALES = (
    "SELECT (extract(epoch FROM date_trunc('minute', now()) - date_trunc('minute', issued_at)) / 60)::integer"
    "   AS age, count(*)::integer"
    " FROM tickets WHERE event_id = %(event)s"
    " AND issued_at >= date_trunc('minute', now()) - make_interval(mins => %(minutes)s - 1) GROUP BY 1"
)

_PENDING = (
    "SELECT count(*)::integer,"
    " count(*) FILTER (WHERE expires_at <= now() + make_interval(secs => %(soon)s))::integer"
    " FROM orders WHERE event_id = %(event)s AND status = 'pending'"
)

_EXPIRING = (
    "SELECT id, quantity, email, expires_at FROM orders"
    " WHERE event_id = %(event)s AND status = 'pending'"
    " AND expires_at <= now() + make_interval(secs => %(soon)s)"
    " ORDER BY expires_at, id LIMIT %(limit)s"
)

# Each source of "needs the operator" has its own small partial index; the union keeps them apart.
_ATTENTION = (
    "WITH flagged AS ("
    "  SELECT id FROM orders WHERE attention IS NOT NULL AND event_id = %(event)s"
    "  UNION SELECT id FROM orders WHERE status = 'refund_due' AND event_id = %(event)s"
    "  UNION SELECT p.order_id FROM payments p JOIN orders o ON o.id = p.order_id"
    "   WHERE p.due_cents > 0 AND o.event_id = %(event)s"
    ")"
    " SELECT o.id, o.status, o.attention, o.email,"
    " (SELECT coalesce(sum(p.due_cents), 0) FROM payments p WHERE p.order_id = o.id)::bigint AS due_cents,"
    " o.currency,"
    " coalesce(o.attention_at, (SELECT max(a.at) FROM audit_log a WHERE a.order_id = o.id), o.created_at)"
    "   AS since"
    " FROM orders o WHERE o.id IN (SELECT id FROM flagged) ORDER BY since, o.id"
)

# Waiting devices whose pairing code expired are of no interest on the day; revoked ones neither.
_DEVICES = (
    "SELECT d.name, CASE WHEN d.paired_at IS NULL THEN 'waiting' ELSE 'paired' END AS state,"
    " d.last_seen_at, d.last_sync_at,"
    " (SELECT count(*) FROM scans s WHERE s.device_id = d.id)::integer AS scans"
    " FROM devices d WHERE d.event_id = %(event)s AND d.revoked_at IS NULL"
    " AND (d.paired_at IS NOT NULL OR d.pairing_expires_at > now())"
    " ORDER BY d.name, d.created_at"
)

# Entries are ADMIT movements inward (``movement`` is set only for those and exits: the partial index).
_ENTRIES = (
    "SELECT gate,"
    " CASE WHEN corrected_at >= date_trunc('minute', now()) - make_interval(mins => %(minutes)s - 1) THEN"
    "   (extract(epoch FROM date_trunc('minute', now()) - date_trunc('minute', corrected_at)) / 60)::integer"
    "   END AS age, count(*)::integer"
    " FROM scans WHERE event_id = %(event)s AND movement AND direction = 'in' GROUP BY 1, 2"
)

# A ticket's last movement on the merged timeline (``backend.timeline.merged``: time, device, scan id).
_INSIDE = (
    "SELECT count(*) FILTER (WHERE direction = 'in')::integer FROM ("
    " SELECT DISTINCT ON (serial) direction FROM scans WHERE event_id = %(event)s AND movement"
    " ORDER BY serial, corrected_at DESC, device_id DESC, scan_id DESC) last"
)

_CONFLICTS = (
    "SELECT c.serial, t.code, a.gate AS first_gate, a.corrected_at AS first_at,"
    " b.gate AS second_gate, b.corrected_at AS second_at"
    " FROM conflicts c JOIN scans a ON a.id = c.first_scan JOIN scans b ON b.id = c.second_scan"
    " LEFT JOIN tickets t ON t.event_id = c.event_id AND t.serial = c.serial"
    " WHERE c.event_id = %(event)s AND c.withdrawn_at IS NULL"
    " ORDER BY b.corrected_at DESC, c.id DESC LIMIT %(limit)s"
)


async def take_snapshot(conn: AsyncConnection[Any], event_code: str) -> Snapshot:
    """The event's dashboard now; EventNotFound for an unknown event, DatabaseUnavailable (retryable)
    when the database cannot be reached. Reads only: it can run on a replica or a read-only user."""
    code = code_to_look_up(event_code)
    async with database_errors(), conn.transaction():
        # Repeatable read: every statement sees the snapshot of the first, so held + sold + available
        # add up to the capacity on screen even while a sale runs.
        await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        cur = await conn.execute(_EVENT, (code,))
        row = await cur.fetchone()
        if row is None:
            raise EventNotFound(f"no event has the code {code}")
        event_id, code, name, taken_at, capacity, available, held, sold, withdrawn = row
        params = {"event": event_id, "minutes": SERIES_MINUTES, "soon": EXPIRING_SECONDS, "limit": LIST_LIMIT}

        cur = await conn.execute(_SALES, params)
        sales = per_minute(await cur.fetchall())
        cur = await conn.execute(_PENDING, params)
        counts = await cur.fetchone()
        assert counts is not None, "an aggregate always has a row"
        pending, expiring_count = counts
        expiring_cur = conn.cursor(row_factory=class_row(ExpiringOrder))
        await expiring_cur.execute(_EXPIRING, params)
        expiring = tuple(await expiring_cur.fetchall())
        attention_cur = conn.cursor(row_factory=class_row(AttentionOrder))
        await attention_cur.execute(_ATTENTION, params)
        attention = tuple(await attention_cur.fetchall())

        cur = await conn.execute(_DEVICES, params)
        devices = tuple(
            GateDevice(
                name=device_name,
                state=state,
                last_seen_at=last_seen,
                last_sync_at=last_sync,
                scans=scans,
                online=is_online(last_seen, taken_at),
            )
            for device_name, state, last_seen, last_sync, scans in await cur.fetchall()
        )
        cur = await conn.execute(_ENTRIES, params)
        by_gate: dict[str, list[tuple[int | None, int]]] = {}
        for gate, age, count in await cur.fetchall():
            by_gate.setdefault(gate, []).append((age, count))
        entries = tuple(
            GateEntries(
                gate=gate,
                # age is NULL for entries before the plotted window: counted in the total only.
                per_minute=per_minute((age, n) for age, n in rows if age is not None),
                total=sum(n for _, n in rows),
            )
            for gate, rows in sorted(by_gate.items())
        )
        cur = await conn.execute(_INSIDE, params)
        inside_row = await cur.fetchone()
        assert inside_row is not None, "an aggregate always has a row"
        cur = await conn.execute(
            "SELECT count(*)::integer FROM conflicts WHERE event_id = %(event)s AND withdrawn_at IS NULL",
            params,
        )
        conflict_row = await cur.fetchone()
        assert conflict_row is not None, "an aggregate always has a row"
        conflicts_cur = conn.cursor(row_factory=class_row(ConflictRow))
        await conflicts_cur.execute(_CONFLICTS, params)
        conflicts = tuple(await conflicts_cur.fetchall())

    return Snapshot(
        event_code=code,
        event_name=name,
        taken_at=taken_at,
        stock=Stock(capacity=capacity, available=available, held=held, sold=sold, withdrawn=withdrawn),
        sales_per_minute=sales,
        pending_orders=pending,
        expiring_count=expiring_count,
        expiring=expiring,
        attention=attention,
        devices=devices,
        entries=entries,
        admitted=sum(gate.total for gate in entries),
        inside=inside_row[0],
        conflict_count=conflict_row[0],
        conflicts=conflicts,
    )
