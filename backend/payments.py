"""Payment confirmation: apply a payment provider's event to an order, exactly once, all or nothing."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from backend.db import database_errors, storable_text
from backend.errors import Busy, ConfigError, InvalidInput, OrderNotFound
from backend.lifecycle import Decision, OrderStatus, Outcome, StockMove, Trigger, decide
from backend.orders import Order, fetch_order, parse_order_id
from backend.settings import MIN_MASTER_SECRET_BYTES
from backend.stock import allocate
from backend.tickets import issue_ticket_codes

# The payment provider's event types this backend acts on; any other type is recorded and ignored.
EVENT_TRIGGERS = {
    "payment_intent.succeeded": Trigger.PAYMENT_SUCCEEDED,
    "payment_intent.payment_failed": Trigger.PAYMENT_FAILED,
}
DUPLICATE = "duplicate"
MAX_PROVIDER_EVENT_ID_CHARS = 255


@dataclass(frozen=True)
class PaymentOutcome:
    """The order after the event, and what the event did: one of ``Outcome`` or ``duplicate``."""

    order: Order
    outcome: str


@dataclass(frozen=True)
class _Locked:
    id: UUID
    event_id: int
    status: OrderStatus
    quantity: int
    alloc_shards: list[int]
    alloc_quantities: list[int]


class _ConcurrentDuplicate(Exception):
    """The same provider event id was committed for another order while this one ran."""


async def apply_payment_event(
    pool: AsyncConnectionPool,
    *,
    provider_event_id: str,
    event_type: str,
    order_id: UUID,
    master_secret: bytes,
    payment_reference: str | None = None,
) -> PaymentOutcome:
    """Apply one delivery of a payment event in one transaction; OrderNotFound if no such order.

    Every delivery counts in ``webhook_attempts``, duplicates included; a provider event id seen
    before changes nothing else (outcome ``duplicate``). Event types other than the two below are
    recorded as processed (outcome ``ignored``) and change nothing else.
    ``payment_intent.succeeded`` on a pending order makes it paid with its tickets and moves its
    stock from held to sold; on an expired order it re-reserves the stock if there is enough
    (``late_paid``) or marks the order ``refund_due``.
    ``payment_intent.payment_failed`` is recorded and the order stays pending until it expires.
    If anything fails, the transaction rolls back and nothing of it remains, the attempt count
    included: the provider retries such a delivery, and the retry is counted.
    """
    if (
        not isinstance(provider_event_id, str)
        or not 1 <= len(provider_event_id) <= MAX_PROVIDER_EVENT_ID_CHARS
        or not storable_text(provider_event_id)
    ):
        raise InvalidInput(f"the payment event id must be 1 to {MAX_PROVIDER_EVENT_ID_CHARS} characters")
    if not isinstance(event_type, str) or not storable_text(event_type):
        raise InvalidInput("the payment event type must be text")
    if payment_reference is not None and not storable_text(payment_reference):
        raise InvalidInput("the payment reference must be text")
    if len(master_secret) < MIN_MASTER_SECRET_BYTES:
        raise ConfigError("TICKETGATE_MASTER_SECRET is not set: tickets cannot be signed without it")
    order_id = parse_order_id(order_id)
    actor = f"webhook:{provider_event_id}"
    try:
        async with database_errors(), pool.connection() as conn, conn.transaction():
            cur = conn.cursor(row_factory=dict_row)
            # Locks the order: every delivery for it waits here, so they are applied one at a time.
            await cur.execute(
                "UPDATE orders SET webhook_attempts = webhook_attempts + 1 WHERE id = %s"
                " RETURNING id, event_id, status, quantity, alloc_shards, alloc_quantities",
                (order_id,),
            )
            row = await cur.fetchone()
            if row is None:
                raise OrderNotFound(f"no order has the id {order_id}")
            locked = _Locked(**{**row, "status": OrderStatus(row["status"])})
            seen = await conn.execute(
                "SELECT 1 FROM processed_payment_events WHERE provider_event_id = %s", (provider_event_id,)
            )
            if await seen.fetchone() is not None:
                outcome = DUPLICATE
            else:
                trigger = EVENT_TRIGGERS.get(event_type)
                if trigger is None:
                    outcome = Outcome.IGNORED.value
                else:
                    outcome = await _apply(
                        conn,
                        locked,
                        trigger,
                        actor=actor,
                        event_type=event_type,
                        master_secret=master_secret,
                        payment_reference=payment_reference,
                    )
                recorded = await conn.execute(
                    "INSERT INTO processed_payment_events (provider_event_id, order_id, type, outcome)"
                    " VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING 1",
                    (provider_event_id, order_id, event_type[:200], outcome),
                )
                if await recorded.fetchone() is None:
                    raise _ConcurrentDuplicate
            order = await fetch_order(conn, order_id)
            assert order is not None
    except _ConcurrentDuplicate:
        raise Busy(f"payment event {provider_event_id} is being processed for another order; retry") from None
    return PaymentOutcome(order=order, outcome=outcome)


async def _apply(
    conn: AsyncConnection[Any],
    order: _Locked,
    trigger: Trigger,
    *,
    actor: str,
    event_type: str,
    master_secret: bytes,
    payment_reference: str | None,
) -> str:
    """Apply ``trigger`` to the locked order inside the caller's transaction; return the outcome."""
    allocation = list(zip(order.alloc_shards, order.alloc_quantities, strict=True))
    decision = decide(order.status, trigger)
    if trigger is Trigger.PAYMENT_SUCCEEDED and order.status is OrderStatus.EXPIRED:
        # Its hold is gone: the payment can only be honoured from stock still available now.
        shards = await conn.execute(
            "SELECT shard, available FROM event_stock WHERE event_id = %s ORDER BY shard FOR UPDATE",
            (order.event_id,),
        )
        found = allocate(dict(await shards.fetchall()), order.quantity)
        decision = decide(order.status, trigger, stock_available=found is not None)
        allocation = found or []
    await _move_stock(conn, order.event_id, allocation, decision.stock)
    if decision.issue_tickets:
        await issue_ticket_codes(
            conn,
            order_id=order.id,
            event_id=order.event_id,
            quantity=order.quantity,
            master_secret=master_secret,
        )
    detail: dict[str, Any] = {"type": event_type}
    if decision.stock is StockMove.AVAILABLE_TO_SOLD:
        detail["late"] = True
    if decision.to_status is OrderStatus.REFUND_DUE and decision.changes_status(order.status):
        detail["reason"] = "payment arrived after the order's hold ended and the event is sold out"
    await _record(
        conn,
        order,
        decision,
        allocation=allocation,
        actor=actor,
        detail=detail,
        payment_reference=payment_reference,
    )
    return decision.outcome.value


async def _move_stock(
    conn: AsyncConnection[Any], event_id: int, allocation: list[tuple[int, int]], move: StockMove
) -> None:
    if move is StockMove.NONE or not allocation:
        return
    shards = sorted(allocation)
    if len(shards) > 1:
        # Lock the rows in shard order (as every multi-shard writer does) before changing them.
        await conn.execute(
            "SELECT 1 FROM event_stock WHERE event_id = %s AND shard = ANY(%s) ORDER BY shard FOR UPDATE",
            (event_id, [shard for shard, _ in shards]),
        )
    if move is StockMove.HELD_TO_SOLD:
        statement = (
            "UPDATE event_stock s SET held = s.held - a.n, sold = s.sold + a.n"
            " FROM unnest(%s::smallint[], %s::integer[]) AS a(shard, n)"
            " WHERE s.event_id = %s AND s.shard = a.shard"
        )
    elif move is StockMove.AVAILABLE_TO_SOLD:
        statement = (
            "UPDATE event_stock s SET available = s.available - a.n, sold = s.sold + a.n"
            " FROM unnest(%s::smallint[], %s::integer[]) AS a(shard, n)"
            " WHERE s.event_id = %s AND s.shard = a.shard"
        )
    else:
        raise ValueError(f"payments do not move stock {move}")
    await conn.execute(statement, ([s for s, _ in shards], [n for _, n in shards], event_id))


async def _record(
    conn: AsyncConnection[Any],
    order: _Locked,
    decision: Decision,
    *,
    allocation: list[tuple[int, int]],
    actor: str,
    detail: dict[str, Any],
    payment_reference: str | None,
) -> None:
    """Write the order's new status (and allocation) and its audit row."""
    if decision.changes_status(order.status):
        await conn.execute(
            "UPDATE orders SET status = %s,"
            " paid_at = CASE WHEN %s = 'paid' THEN now() ELSE paid_at END,"
            " payment_reference = coalesce(%s, payment_reference),"
            " alloc_shards = %s::smallint[], alloc_quantities = %s::integer[]"
            " WHERE id = %s",
            (
                decision.to_status.value,
                decision.to_status.value,
                payment_reference,
                [s for s, _ in allocation],
                [n for _, n in allocation],
                order.id,
            ),
        )
    elif payment_reference is not None:
        detail["payment_reference"] = payment_reference
    await conn.execute(
        "INSERT INTO audit_log (order_id, event_id, from_status, to_status, actor, detail)"
        " VALUES (%s, %s, %s, %s, %s, %s::jsonb)",
        (
            order.id,
            order.event_id,
            order.status.value,
            decision.to_status.value,
            actor,
            json.dumps({**detail, "outcome": decision.outcome.value}),
        ),
    )
