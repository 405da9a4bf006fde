"""Checkout in batches: many buyers' reservations, for one or many events, in one transaction and commit.

The API's coalescer (``backend.coalescing``) hands over the checkouts that queued while the previous
batch was committing. Each request keeps exactly the semantics of ``orders.reserve``: its own order
or its own error (SoldOut, InvalidInput, EventNotFound), the same Idempotency-Key rules, the same
rows (order with its shard allocation, audit entry, stock moved from available to held). Only the
transaction is shared. Why: one commit and a few round trips per batch instead of per buyer cut the
database CPU per reservation 7-10x (measured with 8-32 orders per statement).

Correctness: the stock rows of the events involved are locked in (event, shard) order, the order
every multi-row stock writer uses, and the allocation is computed from the locked counts, so nothing
can be taken twice; the stock update is derived from the order rows actually inserted; and
``CHECK (available >= 0)`` would abort the whole batch rather than oversell.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from backend.db import database_errors
from backend.errors import BackendError, EventNotFound, InvalidInput, SoldOut
from backend.events import code_to_look_up
from backend.orders import Order, get_order, order_from_row, validate_order_request
from backend.stock import allocate


@dataclass(frozen=True)
class ReserveRequest:
    """One buyer's checkout, as ``orders.reserve`` takes it."""

    event_code: str
    quantity: int
    email: str
    idempotency_key: str | None = None


@dataclass
class _Event:
    id: int
    code: str
    price_cents: int
    currency: str
    available: dict[int, int]


@dataclass(frozen=True)
class _New:
    index: int
    order_id: uuid.UUID
    event: _Event
    quantity: int
    email: str
    key: str | None
    allocation: list[tuple[int, int]]


_LOCK_STOCK = """
SELECT e.id, e.code, e.price_cents, e.currency, s.shard, s.available
  FROM events e JOIN event_stock s ON s.event_id = e.id
 WHERE e.code = ANY(%s)
 ORDER BY e.id, s.shard
   FOR UPDATE OF s
"""

_EXISTING_KEYS = """
SELECT o.id, o.event_id, o.quantity, o.email, o.idempotency_key
  FROM orders o JOIN unnest(%s::bigint[], %s::text[]) AS k(event_id, idempotency_key)
       ON o.event_id = k.event_id AND o.idempotency_key = k.idempotency_key
"""

_PLACE = """
WITH req AS (
    SELECT * FROM unnest(%(ids)s::uuid[], %(event_ids)s::bigint[], %(prices)s::bigint[],
                         %(currencies)s::text[], %(quantities)s::integer[], %(emails)s::text[],
                         %(keys)s::text[])
        AS r(id, event_id, price_cents, currency, quantity, email, idempotency_key)
), alloc AS (
    SELECT a.id, array_agg(a.shard ORDER BY a.shard) AS shards,
           array_agg(a.quantity ORDER BY a.shard) AS quantities
      FROM unnest(%(alloc_ids)s::uuid[], %(alloc_shards)s::smallint[], %(alloc_quantities)s::integer[])
           AS a(id, shard, quantity)
     GROUP BY a.id
), placed AS (
    INSERT INTO orders (id, event_id, status, quantity, amount_cents, currency, email, idempotency_key,
                        expires_at, alloc_shards, alloc_quantities)
    SELECT r.id, r.event_id, 'pending', r.quantity, r.price_cents * r.quantity, r.currency, r.email,
           r.idempotency_key, now() + make_interval(secs => %(hold)s), alloc.shards, alloc.quantities
      FROM req r JOIN alloc ON alloc.id = r.id
    ON CONFLICT ON CONSTRAINT orders_idempotency_key DO NOTHING
    RETURNING id, event_id, status, quantity, amount_cents, currency, email, created_at, expires_at, paid_at,
              webhook_attempts, alloc_shards, alloc_quantities
), taken AS (
    UPDATE event_stock s
       SET available = s.available - t.quantity, held = s.held + t.quantity
      FROM (SELECT p.event_id, a.shard, sum(a.quantity)::integer AS quantity
              FROM placed p, unnest(p.alloc_shards, p.alloc_quantities) AS a(shard, quantity)
             GROUP BY p.event_id, a.shard) t
     WHERE s.event_id = t.event_id AND s.shard = t.shard
    RETURNING s.shard
), audited AS (
    INSERT INTO audit_log (order_id, event_id, from_status, to_status, actor, detail)
    SELECT p.id, p.event_id, NULL, 'pending', 'checkout',
           jsonb_build_object('quantity', p.quantity, 'shards', p.alloc_shards)
      FROM placed p
)
SELECT p.*, (SELECT count(*) FROM taken) AS shards_taken FROM placed p
"""

_DIFFERENT_ORDER = "this Idempotency-Key was already used for a different order (quantity or email differ)"


async def reserve_batch(
    pool: AsyncConnectionPool,
    *,
    requests: Sequence[ReserveRequest],
    hold_seconds: int,
    max_per_order: int,
) -> list[Order | BackendError]:
    """Reserve every request in one transaction; one result per request, in order.

    A request gets its new pending Order, the order its Idempotency-Key already made on that event
    (also when the event is sold out by now), or its own error: InvalidInput, SoldOut,
    EventNotFound. Database failures (Busy, DatabaseUnavailable) are raised for the whole batch,
    which then holds nothing.
    """
    results: list[Order | BackendError | None] = [None] * len(requests)
    valid: list[tuple[int, str, int, str, str | None]] = []
    for i, request in enumerate(requests):
        try:
            quantity, email, key = validate_order_request(
                quantity=request.quantity,
                email=request.email,
                idempotency_key=request.idempotency_key,
                max_per_order=max_per_order,
            )
        except InvalidInput as exc:
            results[i] = exc
            continue
        try:
            code = code_to_look_up(request.event_code)
        except EventNotFound as exc:
            results[i] = exc
            continue
        valid.append((i, code, quantity, email, key))
    # Orders that already existed under a key, read after the commit with their current state.
    existing_ids: dict[int, uuid.UUID] = {}
    if valid:
        async with database_errors(), pool.connection() as conn, conn.transaction():
            codes = sorted({code for _, code, *_ in valid})
            found: dict[str, _Event] = {}
            for event_id, code, price_cents, currency, shard, available in await (
                await conn.execute(_LOCK_STOCK, (codes,))
            ).fetchall():
                event = found.setdefault(code, _Event(event_id, code, price_cents, currency, {}))
                event.available[int(shard)] = int(available)
            if found:
                await _place(
                    conn,
                    found=found,
                    valid=valid,
                    results=results,
                    existing_ids=existing_ids,
                    hold_seconds=hold_seconds,
                )
    for i, code, *_ in valid:
        if results[i] is None and i not in existing_ids:
            results[i] = EventNotFound(f"no event has the code {code}")
    for i, order_id in existing_ids.items():
        results[i] = await get_order(pool, order_id)
    return [result for result in results if result is not None]


async def _place(
    conn: Any,
    *,
    found: dict[str, _Event],
    valid: list[tuple[int, str, int, str, str | None]],
    results: list[Order | BackendError | None],
    existing_ids: dict[int, uuid.UUID],
    hold_seconds: int,
) -> None:
    """Inside the batch's transaction, with the events' stock rows locked: allocate and insert."""
    keyed = [(found[code].id, key) for _, code, _, _, key in valid if key is not None and code in found]
    known: dict[tuple[int, str], dict[str, Any]] = {}
    if keyed:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(_EXISTING_KEYS, ([e for e, _ in keyed], [k for _, k in keyed]))
        known = {(row["event_id"], row["idempotency_key"]): row for row in await cur.fetchall()}
    new: list[_New] = []
    # A key repeated inside this batch (a double click) gets the order of its first request.
    made_now: dict[tuple[int, str], _New] = {}
    for i, code, quantity, email, key in valid:
        event = found.get(code)
        if event is None:
            continue  # reported as EventNotFound by the caller
        if key is not None:
            previous = known.get((event.id, key))
            first = made_now.get((event.id, key))
            if previous is not None or first is not None:
                if previous is not None:
                    same = (previous["quantity"], previous["email"]) == (quantity, email)
                    target = previous["id"]
                else:
                    assert first is not None
                    same = (first.quantity, first.email) == (quantity, email)
                    target = first.order_id
                if same:
                    existing_ids[i] = target
                else:
                    results[i] = InvalidInput(_DIFFERENT_ORDER)
                continue
        allocation = allocate(event.available, quantity, start=random.randrange(1 << 30))
        if allocation is None:
            results[i] = SoldOut(f"sold out: event {code} has fewer than {quantity} ticket(s) left")
            continue
        for shard, taken in allocation:
            event.available[shard] -= taken
        item = _New(i, uuid.uuid4(), event, quantity, email, key, allocation)
        new.append(item)
        if key is not None:
            made_now[(event.id, key)] = item
    if not new:
        return
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        _PLACE,
        {
            "ids": [n.order_id for n in new],
            "event_ids": [n.event.id for n in new],
            "prices": [n.event.price_cents for n in new],
            "currencies": [n.event.currency for n in new],
            "quantities": [n.quantity for n in new],
            "emails": [n.email for n in new],
            "keys": [n.key for n in new],
            "alloc_ids": [n.order_id for n in new for _ in n.allocation],
            "alloc_shards": [shard for n in new for shard, _ in n.allocation],
            "alloc_quantities": [q for n in new for _, q in n.allocation],
            "hold": hold_seconds,
        },
    )
    placed = {row["id"]: row for row in await cur.fetchall()}
    skipped: dict[uuid.UUID, uuid.UUID] = {}
    for n in new:
        row = placed.get(n.order_id)
        if row is not None:
            results[n.index] = order_from_row(row, n.event.code)
            continue
        # Skipped by ON CONFLICT: a single-order checkout with the same key committed meanwhile.
        # Nothing was taken for it (the stock update follows the inserted rows); use that order.
        winner = await (
            await conn.execute(
                "SELECT id FROM orders WHERE event_id = %s AND idempotency_key = %s", (n.event.id, n.key)
            )
        ).fetchone()
        assert winner is not None, "ON CONFLICT skipped the row, so the conflicting order exists"
        existing_ids[n.index] = skipped[n.order_id] = winner[0]
    # A repeat of that key later in this batch pointed at the order we meant to make: redirect it.
    for i, order_id in list(existing_ids.items()):
        existing_ids[i] = skipped.get(order_id, order_id)
