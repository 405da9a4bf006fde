"""Cancelling and refunding orders on purpose: the buyer cancels a pending order, the operator cancels or
refunds one (after the money went back, asking the payment provider first if it is configured)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from backend.db import database_errors
from backend.errors import InvalidInput, InvalidTransition, OrderNotFound
from backend.lifecycle import OrderStatus, Outcome, PaymentStatus, Trigger, decide
from backend.orders import Order, fetch_order, parse_order_id
from backend.transitions import LockedOrder, apply_decision, audit, lock_order

MAX_REASON_CHARS = 200
# Orders whose payments can be given back in full (the order then becomes refunded).
_REFUNDABLE = (OrderStatus.PAID, OrderStatus.REFUND_DUE, OrderStatus.DISPUTED)


@dataclass(frozen=True)
class Refund:
    """Money to give back for one payment: ``amount_cents`` of ``reference``; ``key`` makes a repeated
    request to the provider return the same refund instead of refunding twice."""

    reference: str
    amount_cents: int
    currency: str
    key: str


def _reason(reason: str | None) -> str | None:
    if reason is None:
        return None
    reason = reason.strip()
    if not reason or len(reason) > MAX_REASON_CHARS or "\x00" in reason:
        raise InvalidInput(f"a reason must be 1 to {MAX_REASON_CHARS} characters")
    return reason


async def cancel_order(
    pool: AsyncConnectionPool,
    order_id: UUID,
    *,
    actor: str,
    reason: str | None = None,
    allow_paid: bool = False,
    return_stock: bool = True,
) -> Order:
    """Cancel the order in one transaction: a pending one becomes ``cancelled`` and its stock is on
    sale again at once; with ``allow_paid`` (the operator) a paid one becomes ``refund_due``, its
    tickets revoked and its payment due back. InvalidTransition for any other status."""
    order_id = parse_order_id(order_id)
    reason = _reason(reason)
    async with database_errors(), pool.connection() as conn, conn.transaction():
        order = await lock_order(conn, order_id)
        if order.status is not OrderStatus.PENDING and not (allow_paid and order.status is OrderStatus.PAID):
            allowed = "pending or paid" if allow_paid else "pending"
            raise InvalidTransition(
                f"order {order_id} is {order.status.value}: only a {allowed} order can be cancelled"
                + (
                    ""
                    if allow_paid or order.status is not OrderStatus.PAID
                    else "; ask the organiser for a refund"
                )
            )
        decision = decide(order.status, Trigger.CANCEL, return_stock=return_stock)
        detail: dict[str, Any] = {"reason": reason} if reason else {}
        await apply_decision(
            conn,
            order,
            decision,
            actor=actor,
            detail=detail,
            revoked_reason=f"order cancelled: {reason}" if reason else "order cancelled",
        )
        if decision.to_status is OrderStatus.REFUND_DUE:
            await conn.execute(
                "UPDATE payments SET status = 'refund_due', due_cents = amount_cents - refunded_cents,"
                " reason = %s, updated_at = now() WHERE order_id = %s AND status = 'paid'",
                (f"order cancelled{': ' + reason if reason else ''}", order_id),
            )
        result = await fetch_order(conn, order_id)
    assert result is not None
    return result


async def refunds_to_make(
    pool: AsyncConnectionPool, order_id: UUID, *, payment: str | None = None
) -> list[Refund]:
    """What ``refund_order`` would give back: every payment of the order with money to return (the
    whole remainder of the payment that paid a paid, refund_due or disputed order; what is due of
    the others), or only ``payment``'s due amount (a second payment, an overpayment's surplus)."""
    order_id = parse_order_id(order_id)
    async with database_errors(), pool.connection() as conn:
        return await _refunds(conn, order_id, payment=payment)


async def _refunds(conn: AsyncConnection[Any], order_id: UUID, *, payment: str | None) -> list[Refund]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT o.status AS order_status, p.reference, p.status, p.amount_cents, p.due_cents,"
        " p.refunded_cents,"
        " p.currency FROM orders o LEFT JOIN payments p ON p.order_id = o.id WHERE o.id = %s ORDER BY p.id",
        (order_id,),
    )
    rows = await cur.fetchall()
    if not rows:
        raise OrderNotFound(f"no order has the id {order_id}")
    whole = OrderStatus(rows[0]["order_status"]) in _REFUNDABLE and payment is None
    found: list[Refund] = []
    for row in rows:
        if row["reference"] is None or (payment is not None and row["reference"] != payment):
            continue
        if whole and row["status"] == PaymentStatus.PAID:
            amount = row["amount_cents"] - row["refunded_cents"]
        else:
            amount = row["due_cents"]
        if amount > 0:
            key = f"ticketgate-refund-{row['reference']}-{row['refunded_cents']}-{amount}"
            found.append(Refund(row["reference"], amount, row["currency"], key))
    if payment is not None and not found:
        raise InvalidInput(f"order {order_id} has no payment {payment!r} with money due back")
    return found


async def refund_order(
    pool: AsyncConnectionPool,
    order_id: UUID,
    *,
    actor: str,
    payment: str | None = None,
    return_stock: bool = True,
    give_back: Callable[[Refund], str | None] | None = None,
) -> Order:
    """Record that the money went back, in one transaction.

    Without ``payment``: every payment of the order with money to return is refunded, and a paid,
    refund_due or disputed order becomes ``refunded`` (a paid one's tickets revoked, its seats on
    sale again or withdrawn). With ``payment``: only that payment's due money (the order stays as it
    is). ``give_back`` is called first for each refund (the payment provider's refund, which
    returns its refund id) and must raise if it did not happen: then nothing is recorded.
    InvalidTransition when there is nothing to refund.
    """
    order_id = parse_order_id(order_id)
    refunds = await refunds_to_make(pool, order_id, payment=payment)
    provider_ids = [give_back(refund) if give_back else None for refund in refunds]
    async with database_errors(), pool.connection() as conn, conn.transaction():
        order = await lock_order(conn, order_id)
        now_due = {r.reference: r for r in await _refunds(conn, order_id, payment=payment)}
        done = [r for r in refunds if now_due.get(r.reference) == r]
        whole = payment is None and order.status in _REFUNDABLE
        if not done and not whole:
            if refunds and give_back is not None:
                # The provider's refund event was recorded while we asked it: nothing left to do.
                result = await fetch_order(conn, order_id)
                assert result is not None
                return result
            raise InvalidTransition(f"order {order_id} is {order.status.value} and has no money due back")
        for refund, provider_id in zip(refunds, provider_ids, strict=True):
            if refund in done:
                await _record_refund(conn, refund, provider_id)
        detail: dict[str, Any] = {
            "refunds": [{"payment": r.reference, "amount_cents": r.amount_cents} for r in done]
        }
        if whole:
            decision = decide(order.status, Trigger.REFUND, return_stock=return_stock)
            await apply_decision(
                conn, order, decision, actor=actor, detail=detail, revoked_reason="order refunded"
            )
        else:
            await _audit_payment_refund(conn, order, actor=actor, detail=detail)
        result = await fetch_order(conn, order_id)
    assert result is not None
    return result


async def _record_refund(conn: AsyncConnection[Any], refund: Refund, provider_id: str | None) -> None:
    await conn.execute(
        "UPDATE payments SET refunded_cents = refunded_cents + %(amount)s,"
        " due_cents = greatest(0, due_cents - %(amount)s),"
        " status = CASE WHEN refunded_cents + %(amount)s >= amount_cents THEN 'refunded' ELSE status END,"
        " reason = coalesce(reason || '; ', '') || %(note)s, updated_at = now()"
        " WHERE reference = %(reference)s",
        {
            "amount": refund.amount_cents,
            "reference": refund.reference,
            "note": f"refunded {refund.amount_cents}" + (f" ({provider_id})" if provider_id else ""),
        },
    )


async def _audit_payment_refund(
    conn: AsyncConnection[Any], order: LockedOrder, *, actor: str, detail: dict[str, Any]
) -> None:
    await audit(conn, order, order.status, actor=actor, detail={**detail, "outcome": Outcome.REFUNDED.value})
