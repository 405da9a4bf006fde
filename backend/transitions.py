"""Carrying out a lifecycle decision on a locked order, inside the caller's transaction: stock, tickets,
status, flag and the audit row. Every status change of an order except the reaper's batch goes here."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from backend.errors import OrderNotFound
from backend.lifecycle import Decision, OrderStatus, StockMove
from backend.tickets import issue_ticket_codes

MAX_REVOKED_REASON_CHARS = 200


@dataclass(frozen=True)
class LockedOrder:
    """An order row locked (``FOR UPDATE``) by the current transaction."""

    id: UUID
    event_id: int
    event_code: str
    status: OrderStatus
    quantity: int
    amount_cents: int
    currency: str
    alloc_shards: list[int]
    alloc_quantities: list[int]
    stock_withdrawn: bool

    @property
    def allocation(self) -> list[tuple[int, int]]:
        return list(zip(self.alloc_shards, self.alloc_quantities, strict=True))


_LOCK_ORDER = """
UPDATE orders o SET webhook_attempts = o.webhook_attempts + %s
  FROM events e
 WHERE o.id = %s AND e.id = o.event_id
RETURNING o.id, o.event_id, e.code AS event_code, o.status, o.quantity, o.amount_cents, o.currency,
          o.alloc_shards, o.alloc_quantities, o.stock_withdrawn
"""


async def lock_order(
    conn: AsyncConnection[Any], order_id: UUID, *, webhook_delivery: bool = False
) -> LockedOrder:
    """Lock the order for the rest of the transaction (every change of it waits here, so they apply
    one at a time); count a webhook delivery if it is one. OrderNotFound if there is no such order."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(_LOCK_ORDER, (1 if webhook_delivery else 0, order_id))
    row = await cur.fetchone()
    if row is None:
        raise OrderNotFound(f"no order has the id {order_id}")
    return LockedOrder(**{**row, "status": OrderStatus(row["status"])})


# One statement per stock move, each literal: which counters the order's quantity leaves and enters.
_STOCK_STATEMENTS = {
    StockMove.HELD_TO_SOLD: "UPDATE event_stock s SET held = s.held - a.n, sold = s.sold + a.n",
    StockMove.AVAILABLE_TO_SOLD: "UPDATE event_stock s SET available = available - a.n, sold = s.sold + a.n",
    StockMove.HELD_TO_AVAILABLE: "UPDATE event_stock s SET held = s.held - a.n, available = available + a.n",
    StockMove.SOLD_TO_AVAILABLE: "UPDATE event_stock s SET sold = s.sold - a.n, available = available + a.n",
    StockMove.SOLD_TO_WITHDRAWN: "UPDATE event_stock s SET sold = s.sold - a.n, withdrawn = withdrawn + a.n",
}
_STOCK_ROWS = (
    " FROM unnest(%s::smallint[], %s::integer[]) AS a(shard, n) WHERE s.event_id = %s AND s.shard = a.shard"
)


async def move_stock(
    conn: AsyncConnection[Any], event_id: int, allocation: list[tuple[int, int]], move: StockMove
) -> None:
    """Move the allocated quantity between the event's stock counters (shard rows locked in order)."""
    if move is StockMove.NONE or not allocation:
        return
    shards = sorted(allocation)
    if len(shards) > 1:
        # Lock the rows in shard order (as every multi-shard writer does) before changing them.
        await conn.execute(
            "SELECT 1 FROM event_stock WHERE event_id = %s AND shard = ANY(%s) ORDER BY shard FOR UPDATE",
            (event_id, [shard for shard, _ in shards]),
        )
    await conn.execute(
        (_STOCK_STATEMENTS[move] + _STOCK_ROWS).encode(),
        ([s for s, _ in shards], [n for _, n in shards], event_id),
    )


async def apply_decision(
    conn: AsyncConnection[Any],
    order: LockedOrder,
    decision: Decision,
    *,
    actor: str,
    detail: dict[str, Any],
    master_secret: bytes = b"",
    allocation: list[tuple[int, int]] | None = None,
    revoked_reason: str = "",
) -> None:
    """Carry out ``decision`` on the locked ``order``: stock, tickets, status, flag, audit row.

    ``allocation`` replaces the order's shard allocation (a late payment re-reserves from stock
    available now). Revoked tickets get ``revoked_reason`` and a status change time, which is what
    gate sync carries to every gate as REVOKED.
    """
    allocation = order.allocation if allocation is None else allocation
    await move_stock(conn, order.event_id, allocation, decision.stock)
    if decision.issue_tickets:
        await issue_ticket_codes(
            conn,
            order_id=order.id,
            event_id=order.event_id,
            quantity=order.quantity,
            master_secret=master_secret,
        )
    if decision.revoke_tickets:
        await conn.execute(
            "UPDATE tickets SET status = 'revoked', revoked_reason = %s, status_changed_at = now()"
            " WHERE order_id = %s AND status = 'valid'",
            ((revoked_reason or "order no longer valid")[:MAX_REVOKED_REASON_CHARS], order.id),
        )
    if decision.changes_status(order.status) or decision.attention is not None:
        await conn.execute(
            "UPDATE orders SET status = %(status)s,"
            " paid_at = CASE WHEN %(status)s = 'paid' AND status <> 'paid' THEN now() ELSE paid_at END,"
            " attention = coalesce(%(attention)s, attention),"
            " attention_at = CASE WHEN %(attention)s::text IS NULL THEN attention_at ELSE now() END,"
            " stock_withdrawn = stock_withdrawn OR %(withdrawn)s,"
            " alloc_shards = %(shards)s::smallint[], alloc_quantities = %(quantities)s::integer[]"
            " WHERE id = %(id)s",
            {
                "status": decision.to_status.value,
                "attention": decision.attention.value if decision.attention else None,
                "withdrawn": decision.stock is StockMove.SOLD_TO_WITHDRAWN,
                "shards": [s for s, _ in allocation],
                "quantities": [n for _, n in allocation],
                "id": order.id,
            },
        )
    detail = {**detail, "outcome": decision.outcome.value}
    if decision.attention is not None:
        detail["attention"] = decision.attention.value
    await audit(conn, order, decision.to_status, actor=actor, detail=detail)


async def audit(
    conn: AsyncConnection[Any],
    order: LockedOrder,
    to_status: OrderStatus,
    *,
    actor: str,
    detail: dict[str, Any],
) -> None:
    """One audit row: the order went (or stayed) from its locked status to ``to_status``."""
    await conn.execute(
        "INSERT INTO audit_log (order_id, event_id, from_status, to_status, actor, detail)"
        " VALUES (%s, %s, %s, %s, %s, %s::jsonb)",
        (order.id, order.event_id, order.status.value, to_status.value, actor, json.dumps(detail)),
    )
