"""Payment confirmation: apply a payment provider's event to an order, exactly once, all or nothing, and
only for money that matches the order.

Every provider payment is recorded in ``payments`` once (its reference is unique): it paid its order,
or its money is due back (listed by ``ticketgate orders refund-due``). The event types and what they do
are in ``apply_payment_event``; charge.refunded and charge.dispute.created are in ``backend.refund_events``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from backend import money, refund_events, webhooks
from backend.db import database_errors, storable_text
from backend.errors import Busy, ConfigError, InvalidInput, OrderNotFound
from backend.lifecycle import OrderStatus, Outcome, PaymentStatus, Trigger, decide
from backend.orders import Order, fetch_order, parse_order_id
from backend.settings import MIN_MASTER_SECRET_BYTES
from backend.stock import allocate
from backend.transitions import LockedOrder, apply_decision, audit, lock_order

DUPLICATE = "duplicate"
ALREADY_REFUNDED = "already_refunded"
MAX_PROVIDER_EVENT_ID_CHARS = 255


@dataclass(frozen=True)
class PaymentOutcome:
    """The order after the event, and what the event did: one of ``Outcome`` or ``duplicate``."""

    order: Order
    outcome: str


@dataclass(frozen=True)
class PaymentPolicy:
    """The operator's choices that decide what refunds and disputes do (see Settings)."""

    master_secret: bytes
    return_stock: bool = True
    revoke_on_dispute: bool = False


class _ConcurrentDuplicate(Exception):
    """The same provider event id was committed for another order while this one ran."""


def _check(event: webhooks.PaymentEvent, master_secret: bytes) -> None:
    if (
        not isinstance(event.id, str)
        or not 1 <= len(event.id) <= MAX_PROVIDER_EVENT_ID_CHARS
        or not storable_text(event.id)
    ):
        raise InvalidInput(f"the payment event id must be 1 to {MAX_PROVIDER_EVENT_ID_CHARS} characters")
    if not isinstance(event.type, str) or not storable_text(event.type):
        raise InvalidInput("the payment event type must be text")
    if event.payment_reference is not None and not storable_text(event.payment_reference):
        raise InvalidInput("the payment reference must be text")
    if len(master_secret) < MIN_MASTER_SECRET_BYTES:
        raise ConfigError("TICKETGATE_MASTER_SECRET is not set: tickets cannot be signed without it")


async def apply_payment_event(
    pool: AsyncConnectionPool, event: webhooks.PaymentEvent, *, policy: PaymentPolicy
) -> PaymentOutcome:
    """Apply one delivery of a provider event in one transaction; OrderNotFound if it names no order
    we know (nor a payment we recorded).

    Every delivery counts in the order's ``webhook_attempts``, duplicates included; a provider event
    id seen before changes nothing else (outcome ``duplicate``). By type:

    - ``payment_intent.succeeded``: the payment is recorded. If another order already counts its
      reference: ``payment_reused``, flagged. If its amount received, currency or ``metadata.event``
      do not match the order: ``payment_mismatch``, no tickets, flagged, its money due back. Else a
      pending order becomes paid with its tickets (an overpayment's surplus is due back); an expired
      one re-reserves stock if there is enough (``late_paid``) or becomes ``refund_due``; a paid
      order's second payment is due back and flagged (``double_payment``).
    - ``payment_intent.payment_failed``: recorded; the order stays pending until it expires.
    - ``charge.refunded``, ``charge.dispute.created``: see ``backend.refund_events``.
    - anything else: recorded as ``ignored``.

    If anything fails, the transaction rolls back and nothing of it remains, the attempt count
    included: the provider retries such a delivery, and the retry is counted.
    """
    _check(event, policy.master_secret)
    actor = f"webhook:{event.id}"
    try:
        async with database_errors(), pool.connection() as conn, conn.transaction():
            order_id = await _order_of(conn, event)
            locked = await lock_order(conn, order_id, webhook_delivery=True)
            seen = await conn.execute(
                "SELECT 1 FROM processed_payment_events WHERE provider_event_id = %s", (event.id,)
            )
            if await seen.fetchone() is not None:
                outcome = DUPLICATE
            else:
                outcome = await _apply(conn, locked, event, actor=actor, policy=policy)
                recorded = await conn.execute(
                    "INSERT INTO processed_payment_events (provider_event_id, order_id, type, outcome)"
                    " VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING 1",
                    (event.id, order_id, event.type[:200], outcome),
                )
                if await recorded.fetchone() is None:
                    raise _ConcurrentDuplicate
            order = await fetch_order(conn, order_id)
            assert order is not None
    except _ConcurrentDuplicate:
        raise Busy(f"payment event {event.id} is being processed for another order; retry") from None
    return PaymentOutcome(order=order, outcome=outcome)


async def _order_of(conn: AsyncConnection[Any], event: webhooks.PaymentEvent) -> UUID:
    """The order an event is about: the one that recorded its payment (charge and dispute events),
    else the one its metadata names."""
    if event.type in (webhooks.CHARGE_REFUNDED, webhooks.DISPUTE_CREATED) and event.payment_reference:
        cur = await conn.execute(
            "SELECT order_id FROM payments WHERE reference = %s", (event.payment_reference,)
        )
        row = await cur.fetchone()
        if row is not None:
            return UUID(str(row[0]))
    if event.order_id is None:
        # Answered 404, so the provider redelivers: a refund or dispute can arrive before the payment.
        raise OrderNotFound(f"no recorded payment has the reference {event.payment_reference!r}")
    return parse_order_id(event.order_id)


async def _apply(
    conn: AsyncConnection[Any],
    order: LockedOrder,
    event: webhooks.PaymentEvent,
    *,
    actor: str,
    policy: PaymentPolicy,
) -> str:
    """Apply ``event`` to the locked order inside the caller's transaction; return the outcome."""
    detail: dict[str, Any] = {"type": event.type}
    if event.payment_reference is not None:
        detail["payment_reference"] = event.payment_reference
    if event.type == webhooks.PAYMENT_SUCCEEDED:
        return await _payment_succeeded(conn, order, event, actor=actor, detail=detail, policy=policy)
    if event.type == webhooks.PAYMENT_FAILED:
        decision = decide(order.status, Trigger.PAYMENT_FAILED)
        await apply_decision(conn, order, decision, actor=actor, detail=detail)
        return decision.outcome.value
    if event.type == webhooks.CHARGE_REFUNDED:
        return await refund_events.charge_refunded(
            conn, order, event, actor=actor, detail=detail, policy=policy
        )
    if event.type == webhooks.DISPUTE_CREATED:
        return await refund_events.dispute_created(
            conn, order, event, actor=actor, detail=detail, policy=policy
        )
    await audit(conn, order, order.status, actor=actor, detail={**detail, "outcome": Outcome.IGNORED.value})
    return Outcome.IGNORED.value


def mismatch(order: LockedOrder, event: webhooks.PaymentEvent) -> str | None:
    """Why the payment cannot pay the order (None when it can): amount short, other currency, no
    ``metadata.event`` naming the order's event. More than the price pays it (the surplus is due back)."""
    if event.amount_cents is None:
        received = "no amount"
    elif event.currency is None:
        received = f"{event.amount_cents} (smallest units, no currency)"
    else:
        received = money.amount(event.amount_cents, event.currency)
    price = money.amount(order.amount_cents, order.currency)
    if event.currency != order.currency:
        return f"received {received} for an order of {price}: another currency"
    if event.amount_cents is None or event.amount_cents < order.amount_cents:
        return f"received {received} for an order of {price}: short"
    if event.event_code != order.event_code:
        return f"the payment's metadata names event {event.event_code!r}, the order is for {order.event_code}"
    return None


async def _payment_succeeded(
    conn: AsyncConnection[Any],
    order: LockedOrder,
    event: webhooks.PaymentEvent,
    *,
    actor: str,
    detail: dict[str, Any],
    policy: PaymentPolicy,
) -> str:
    reference = event.payment_reference
    assert reference is not None, "parse_event requires it"
    amount = event.amount_cents or 0
    # Claim the reference first: a concurrent claim by another order's transaction makes this one wait
    # for it, then see it. One payment pays one order.
    claimed = await conn.execute(
        "INSERT INTO payments (reference, order_id, amount_cents, currency, status, due_cents)"
        " VALUES (%s, %s, %s, %s, 'refund_due', %s) ON CONFLICT (reference) DO NOTHING RETURNING id",
        (reference, order.id, amount, event.currency or "???", amount),
    )
    if await claimed.fetchone() is None:
        cur = await conn.execute("SELECT order_id, status FROM payments WHERE reference = %s", (reference,))
        owner, status = await cur.fetchone() or (None, None)
        if owner != order.id:
            decision = decide(order.status, Trigger.PAYMENT_REUSED)
            detail["reason"] = f"payment {reference} already counts for order {owner}"
            await apply_decision(conn, order, decision, actor=actor, detail=detail)
            return decision.outcome.value
        # This very payment was recorded already (its refund arrived first, or another event of it).
        outcome = ALREADY_REFUNDED if status == PaymentStatus.REFUNDED else DUPLICATE
        await audit(conn, order, order.status, actor=actor, detail={**detail, "outcome": outcome})
        return outcome
    wrong = mismatch(order, event)
    if wrong is not None:
        decision = decide(order.status, Trigger.PAYMENT_MISMATCH)
        detail["reason"] = wrong
        await apply_decision(conn, order, decision, actor=actor, detail=detail)
        await _settle(
            conn, reference, PaymentStatus.REFUND_DUE, due=amount, reason=f"payment_mismatch: {wrong}"
        )
        return decision.outcome.value
    allocation = order.allocation
    decision = decide(order.status, Trigger.PAYMENT_SUCCEEDED)
    if order.status is OrderStatus.EXPIRED:
        # Its hold is gone: the payment can only be honoured from stock still available now.
        shards = await conn.execute(
            "SELECT shard, available FROM event_stock WHERE event_id = %s ORDER BY shard FOR UPDATE",
            (order.event_id,),
        )
        found = allocate(dict(await shards.fetchall()), order.quantity)
        decision = decide(order.status, Trigger.PAYMENT_SUCCEEDED, stock_available=found is not None)
        allocation = found or []
    if decision.to_status is OrderStatus.REFUND_DUE and decision.changes_status(order.status):
        detail["reason"] = (
            "payment arrived after the order's hold ended and the event is sold out"
            if order.status is OrderStatus.EXPIRED
            else f"payment arrived for a {order.status.value} order"
        )
    if decision.outcome is Outcome.LATE_PAID:
        detail["late"] = True
    await apply_decision(
        conn,
        order,
        decision,
        actor=actor,
        detail=detail,
        master_secret=policy.master_secret,
        allocation=allocation,
    )
    if decision.payment is PaymentStatus.PAID:
        surplus = amount - order.amount_cents
        await _settle(
            conn,
            reference,
            PaymentStatus.PAID,
            due=surplus,
            reason=f"overpaid by {money.amount(surplus, order.currency)}" if surplus else None,
        )
        await conn.execute("UPDATE orders SET payment_reference = %s WHERE id = %s", (reference, order.id))
    else:
        why = "double_payment" if decision.attention else (detail.get("reason") or decision.outcome.value)
        await _settle(conn, reference, PaymentStatus.REFUND_DUE, due=amount, reason=str(why))
    return decision.outcome.value


async def _settle(
    conn: AsyncConnection[Any], reference: str, status: PaymentStatus, *, due: int, reason: str | None
) -> None:
    await conn.execute(
        "UPDATE payments SET status = %s, due_cents = %s, reason = %s, updated_at = now()"
        " WHERE reference = %s",
        (status.value, due, reason, reference),
    )
