"""Event key versions: list them, rotate to a new one, re-sign every valid ticket and retire the old ones.

Rotation is what an operator does after a gate laptop is lost (README, "A lost gate laptop"):

1. ``rotate_key``: one transaction bumps the event's ``key_version``; every ticket issued after it
   commits is signed with the new version (payments read the version under the event's row lock),
   and gates learn the new key on their next pull (every pull page carries every version).
2. ``reissue``: every valid ticket not yet signed with the current version gets a new code, in
   batches of whole orders. A batch locks its orders (in id order) and then their tickets, the same
   order refunds and cancellations take them in, so a refund racing the reissue waits or is waited
   for, never deadlocks, and a ticket it revoked stays revoked (only valid tickets are re-signed).
   The new codes reach the buyer's order page at once and gates through the change feed.
3. Retiring: one conditional statement marks the older versions retired only if no valid ticket is
   left on them and the version did not move meanwhile; gates then answer a code of a retired
   version REVOKED, "superseded: ask for the new ticket".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from backend.db import database_errors
from backend.errors import EventNotFound
from backend.events import code_to_look_up
from backend.tickets import gate_keys, signing_key
from ticketcode import issue_code, serial_width

# Orders per reissue transaction: a few hundred tickets, so a refund waits at most a moment.
REISSUE_BATCH_ORDERS = 200
SUPERSEDED_REASON = "superseded: ask for the new ticket"


@dataclass(frozen=True)
class KeyVersion:
    """One key version of an event, as ``keys list`` shows it."""

    version: int
    scheme: str
    fingerprint: str
    current: bool
    retired: bool
    valid_tickets: int  # valid tickets whose code this version signed (pre-005 tickets count as v1)


@dataclass(frozen=True)
class Rotation:
    """What ``event rotate-key`` did."""

    event: str
    scheme: str
    old_version: int
    new_version: int
    reissued: int  # tickets given a new code
    retired_below: int  # versions below this are retired now


@dataclass(frozen=True)
class _EventRow:
    id: int
    code: str
    capacity: int
    key_version: int
    retired_below: int
    signing: str


async def _event(conn: AsyncConnection[Any], code: str, *, lock: bool) -> _EventRow:
    cur = await conn.execute(
        "SELECT id, code, capacity, key_version, retired_below, signing FROM events WHERE code = %s"
        + (" FOR UPDATE" if lock else ""),
        (code,),
    )
    row = await cur.fetchone()
    if row is None:
        raise EventNotFound(f"no event has the code {code}")
    return _EventRow(*row)


async def list_versions(pool: AsyncConnectionPool, code: str, *, master_secret: bytes) -> list[KeyVersion]:
    """Every key version of the event, oldest first, with the tickets each still signs."""
    code = code_to_look_up(code)
    async with database_errors(), pool.connection() as conn:
        event = await _event(conn, code, lock=False)
        cur = await conn.execute(
            "SELECT coalesce(key_version, 1), count(*) FROM tickets"
            " WHERE event_id = %s AND status = 'valid' GROUP BY 1",
            (event.id,),
        )
        counts = {int(v): int(n) for v, n in await cur.fetchall()}
    keys = gate_keys(
        master_secret,
        event.code,
        key_version=event.key_version,
        retired_below=event.retired_below,
        scheme=event.signing,
    )
    return [
        KeyVersion(
            version=k.version,
            scheme=event.signing,
            fingerprint=k.fingerprint,
            current=k.version == event.key_version,
            retired=k.retired,
            valid_tickets=counts.get(k.version, 0),
        )
        for k in keys
    ]


async def rotate_key(
    pool: AsyncConnectionPool, code: str, *, master_secret: bytes, reissue: bool = False, actor: str = "cli"
) -> Rotation:
    """Start a new key version of the event; with ``reissue`` re-sign every valid ticket with it and
    retire the older versions. EventNotFound for an unknown event."""
    code = code_to_look_up(code)
    async with database_errors(), pool.connection() as conn, conn.transaction():
        event = await _event(conn, code, lock=True)
        await conn.execute("UPDATE events SET key_version = key_version + 1 WHERE id = %s", (event.id,))
        await conn.execute(
            "INSERT INTO audit_log (event_id, from_status, to_status, actor, detail)"
            " VALUES (%s, %s, 'key_rotated', %s, jsonb_build_object('key_version', %s::integer,"
            " 'reissue', %s::boolean))",
            (event.id, f"key_v{event.key_version}", actor, event.key_version + 1, reissue),
        )
    new_version = event.key_version + 1
    reissued = 0
    retired_below = event.retired_below
    if reissue:
        reissued, retired_below = await reissue_tickets(pool, code, master_secret=master_secret, actor=actor)
    return Rotation(
        event=event.code,
        scheme=event.signing,
        old_version=event.key_version,
        new_version=new_version,
        reissued=reissued,
        retired_below=retired_below,
    )


async def reissue_tickets(
    pool: AsyncConnectionPool, code: str, *, master_secret: bytes, actor: str = "cli"
) -> tuple[int, int]:
    """Re-sign every valid ticket of the event with its current key version, then retire the older
    versions; return (tickets re-signed, the version below which all are retired). Safe to run again
    (it continues where it stopped) and beside refunds, cancellations and payments."""
    code = code_to_look_up(code)
    total = 0
    while True:
        async with database_errors(), pool.connection() as conn:
            event = await _event(conn, code, lock=False)
        while True:
            done = await _reissue_batch(pool, event, master_secret=master_secret)
            if done == 0:
                break
            total += done
        async with database_errors(), pool.connection() as conn, conn.transaction():
            # Retire only if nothing valid is left on an older version and nobody rotated meanwhile;
            # otherwise go round again with the version as it is now.
            cur = await conn.execute(
                "UPDATE events e SET retired_below = e.key_version"
                " WHERE e.id = %s AND e.key_version = %s AND NOT EXISTS ("
                "   SELECT 1 FROM tickets t WHERE t.event_id = e.id AND t.status = 'valid'"
                "   AND t.key_version IS DISTINCT FROM e.key_version)"
                " RETURNING e.retired_below",
                (event.id, event.key_version),
            )
            row = await cur.fetchone()
            if row is not None:
                after = row[0]
                if after != event.retired_below:
                    await conn.execute(
                        "INSERT INTO audit_log (event_id, from_status, to_status, actor, detail)"
                        " VALUES (%s, %s, 'keys_retired', %s, jsonb_build_object('retired_below',"
                        " %s::integer, 'reissued', %s::integer))",
                        (event.id, f"key_v{event.key_version}", actor, after, total),
                    )
                return total, int(after)


async def _reissue_batch(pool: AsyncConnectionPool, event: _EventRow, *, master_secret: bytes) -> int:
    """Re-sign the valid tickets of up to REISSUE_BATCH_ORDERS orders in one transaction; return how many."""
    key = signing_key(master_secret, event.code, event.key_version, event.signing)
    width = serial_width(event.capacity)
    async with database_errors(), pool.connection() as conn, conn.transaction():
        cur = await conn.execute(
            "SELECT DISTINCT order_id FROM tickets WHERE event_id = %s AND status = 'valid'"
            " AND key_version IS DISTINCT FROM %s LIMIT %s",
            (event.id, event.key_version, REISSUE_BATCH_ORDERS),
        )
        orders: list[UUID] = [r[0] for r in await cur.fetchall()]
        if not orders:
            return 0
        # Orders first, in id order, as every order change locks them: a refund of one of these waits
        # here or we wait for it, and either way its revocation stands.
        await conn.execute("SELECT id FROM orders WHERE id = ANY(%s) ORDER BY id FOR UPDATE", (orders,))
        cur = await conn.execute(
            "SELECT id, serial FROM tickets WHERE order_id = ANY(%s) AND status = 'valid'"
            " AND key_version IS DISTINCT FROM %s ORDER BY id FOR UPDATE",
            (orders, event.key_version),
        )
        tickets = await cur.fetchall()
        if not tickets:
            # Refunded or cancelled while we waited for the locks: nothing to re-sign. The caller's
            # retiring step checks again and comes back if anything was left.
            return 0
        ids = [t[0] for t in tickets]
        codes = [issue_code(key, t[1], width=width) for t in tickets]
        await conn.execute(
            "UPDATE tickets t SET code = n.code, key_version = %s"
            " FROM unnest(%s::bigint[], %s::text[]) AS n(id, code) WHERE t.id = n.id",
            (event.key_version, ids, codes),
        )
        return len(ids)
