"""The reaper: expire pending orders whose hold has ended and return their stock, in bounded batches."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from backend.db import database_errors
from backend.stock import merge_allocations

log = logging.getLogger(__name__)

# Takes the oldest due orders the index on (expires_at) WHERE status = 'pending' finds; rows another
# reaper (or a payment) holds are skipped, so two reapers never handle the same order.
_TAKE_DUE = """
SELECT id, event_id, alloc_shards, alloc_quantities FROM orders
 WHERE status = 'pending' AND expires_at < now()
 ORDER BY expires_at
 LIMIT %s
 FOR UPDATE SKIP LOCKED
"""

_LOCK_SHARDS = """
SELECT 1 FROM event_stock s
  JOIN unnest(%s::bigint[], %s::smallint[]) AS a(event_id, shard)
    ON s.event_id = a.event_id AND s.shard = a.shard
 ORDER BY s.event_id, s.shard
   FOR UPDATE OF s
"""

_RETURN_STOCK_AND_EXPIRE = """
WITH returned AS (
    UPDATE event_stock s SET available = s.available + a.n, held = s.held - a.n
      FROM unnest(%(events)s::bigint[], %(shards)s::smallint[], %(counts)s::integer[])
           AS a(event_id, shard, n)
     WHERE s.event_id = a.event_id AND s.shard = a.shard
    RETURNING 1
), expired AS (
    UPDATE orders SET status = 'expired' WHERE id = ANY(%(orders)s::uuid[]) AND status = 'pending'
    RETURNING id, event_id, quantity, expires_at
)
INSERT INTO audit_log (order_id, event_id, from_status, to_status, actor, detail)
SELECT id, event_id, 'pending', 'expired', 'reaper',
       jsonb_build_object('quantity', quantity, 'expires_at', expires_at)
  FROM expired
"""


async def reap_once(pool: AsyncConnectionPool, *, batch_size: int = 500) -> int:
    """Expire up to ``batch_size`` overdue pending orders in one transaction; return how many.

    Their held stock goes back to available and each gets an audit row. Safe with several reapers
    (and payments) at once: each order is taken by exactly one of them.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    async with database_errors(), pool.connection() as conn, conn.transaction():
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(_TAKE_DUE, (batch_size,))
        due: list[dict[str, Any]] = await cur.fetchall()
        if not due:
            return 0
        returned = merge_allocations(
            [
                (row["event_id"], shard, n)
                for row in due
                for shard, n in zip(row["alloc_shards"], row["alloc_quantities"], strict=True)
            ]
        )
        events = [e for e, _, _ in returned]
        shards = [s for _, s, _ in returned]
        # Stock rows in (event, shard) order, the order every multi-shard writer locks them in.
        await conn.execute(_LOCK_SHARDS, (events, shards))
        await conn.execute(
            _RETURN_STOCK_AND_EXPIRE,
            {
                "events": events,
                "shards": shards,
                "counts": [n for _, _, n in returned],
                "orders": [row["id"] for row in due],
            },
        )
    log.info("reaper expired %d order(s)", len(due))
    return len(due)


async def reap_all(pool: AsyncConnectionPool, *, batch_size: int = 500) -> int:
    """Run batches until no overdue pending order is left; return how many were expired."""
    total = 0
    while True:
        count = await reap_once(pool, batch_size=batch_size)
        total += count
        if count < batch_size:
            return total


async def run_reaper(
    pool: AsyncConnectionPool, *, interval_seconds: float, stop: asyncio.Event, batch_size: int = 500
) -> None:
    """Reap every ``interval_seconds`` until ``stop`` is set; a failed pass is logged and the loop goes on."""
    log.info("reaper running every %s s", interval_seconds)
    while not stop.is_set():
        try:
            await reap_all(pool, batch_size=batch_size)
        except asyncio.CancelledError:
            raise
        except Exception:
            # The next pass retries; a reaper that dies silently would leave stock held forever.
            log.exception("reaper pass failed; retrying in %s s", interval_seconds)
        try:
            await asyncio.wait_for(stop.wait(), timeout=interval_seconds)
        except TimeoutError:
            pass
    log.info("reaper stopped")
