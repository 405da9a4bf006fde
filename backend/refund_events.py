"""The provider's refund and dispute events (charge.refunded, charge.dispute.created) on a locked order,
inside the webhook's transaction (see ``backend.payments``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from backend import webhooks
from backend.lifecycle import OrderStatus, Outcome, PaymentStatus, Trigger, decide
from backend.transitions import LockedOrder, apply_decision, audit

if TYPE_CHECKING:
    from backend.payments import PaymentPolicy

DUPLICATE = "duplicate"


async def charge_refunded(
    conn: AsyncConnection[Any],
    order: LockedOrder,
    event: webhooks.PaymentEvent,
    *,
    actor: str,
    detail: dict[str, Any],
    policy: PaymentPolicy,
) -> str:
    """Money of the order's payment went back (``amount_refunded`` is the total so far).

    The payment that paid the order, refunded in full: the order becomes ``refunded``, its tickets
    revoked, its seats back on sale (or withdrawn). Refunded in part: recorded and flagged
    (``partial_refund``), tickets kept, unless the part is only an overpayment's surplus. A payment
    already due back: its refund is recorded, and a ``refund_due`` order nothing more is owed for
    becomes ``refunded``. A refund that arrives before its payment is recorded first, so the payment
    then gives no tickets.
    """
    reference = event.payment_reference
    refunded = event.refunded_cents or 0
    payment = await _payment(conn, reference)
    if payment is None:
        # The refund overtook the payment event: record the money as (partly) returned already.
        amount = event.amount_cents or refunded
        status = PaymentStatus.REFUNDED if refunded >= amount else PaymentStatus.REFUND_DUE
        await conn.execute(
            "INSERT INTO payments (reference, order_id, amount_cents, currency, status, due_cents,"
            " refunded_cents, reason)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, 'refunded before its payment was reported')",
            (
                reference,
                order.id,
                amount,
                event.currency or order.currency,
                status.value,
                max(0, amount - refunded),
                refunded,
            ),
        )
        outcome = (
            Outcome.REFUNDED.value if status is PaymentStatus.REFUNDED else Outcome.PARTIALLY_REFUNDED.value
        )
        await audit(
            conn,
            order,
            order.status,
            actor=actor,
            detail={**detail, "outcome": outcome, "before_payment": True},
        )
        return outcome
    new = refunded - payment["refunded_cents"]
    if new <= 0 or payment["status"] == PaymentStatus.REFUNDED:
        await audit(conn, order, order.status, actor=actor, detail={**detail, "outcome": DUPLICATE})
        return DUPLICATE
    full = refunded >= payment["amount_cents"]
    remaining_due = max(0, payment["due_cents"] - new)
    decision = None
    if payment["status"] == PaymentStatus.PAID:
        if full:
            decision = decide(order.status, Trigger.REFUND, return_stock=policy.return_stock)
        elif payment["amount_cents"] - refunded < order.amount_cents:
            decision = decide(order.status, Trigger.PARTIAL_REFUND)
        # else only (part of) an overpayment's surplus went back: the order is still paid in full.
    elif (
        full and order.status is OrderStatus.REFUND_DUE and not await _other_money_due(conn, order, reference)
    ):
        decision = decide(order.status, Trigger.REFUND)
    status = PaymentStatus.REFUNDED if full else PaymentStatus(payment["status"])
    await conn.execute(
        "UPDATE payments SET status = %s, refunded_cents = %s, due_cents = %s, updated_at = now()"
        " WHERE reference = %s",
        (status.value, refunded, 0 if full else remaining_due, reference),
    )
    detail = {**detail, "refunded_cents": refunded}
    if decision is None:
        # The payment changed, the order did not: recorded in its trail all the same.
        outcome = (Outcome.REFUNDED if full else Outcome.PARTIALLY_REFUNDED).value
        await audit(conn, order, order.status, actor=actor, detail={**detail, "outcome": outcome})
        return outcome
    await apply_decision(conn, order, decision, actor=actor, detail=detail, revoked_reason="refunded")
    return decision.outcome.value


async def dispute_created(
    conn: AsyncConnection[Any],
    order: LockedOrder,
    event: webhooks.PaymentEvent,
    *,
    actor: str,
    detail: dict[str, Any],
    policy: PaymentPolicy,
) -> str:
    """The buyer disputed the payment with their bank: the order is flagged (``disputed``); with
    TICKETGATE_REVOKE_ON_DISPUTE a paid order's tickets are revoked and it becomes ``disputed``."""
    decision = decide(
        order.status,
        Trigger.DISPUTE,
        return_stock=policy.return_stock,
        revoke_on_dispute=policy.revoke_on_dispute,
    )
    await apply_decision(
        conn,
        order,
        decision,
        actor=actor,
        detail={**detail, "amount_cents": event.amount_cents},
        revoked_reason="payment disputed",
    )
    return decision.outcome.value


async def _payment(conn: AsyncConnection[Any], reference: str | None) -> dict[str, Any] | None:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT order_id, status, amount_cents, due_cents, refunded_cents FROM payments"
        " WHERE reference = %s FOR UPDATE",
        (reference,),
    )
    return await cur.fetchone()


async def _other_money_due(conn: AsyncConnection[Any], order: LockedOrder, reference: str | None) -> bool:
    cur = await conn.execute(
        "SELECT 1 FROM payments WHERE order_id = %s AND reference <> %s AND due_cents > 0",
        (order.id, reference),
    )
    return await cur.fetchone() is not None
