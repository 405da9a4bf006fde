"""The order state machine (pure): which status an order moves to on each trigger, what its stock and
tickets do, what becomes of the payment that triggered it, and which flag it raises for the operator.

```
pending --(payment confirmed)--> paid --(refunded in full)--> refunded      (tickets revoked)
   |                              |  +--(operator cancels)--> refund_due --(refunded)--> refunded
   |                              |  +--(dispute, if revoking)--> disputed --(refunded)--> refunded
   +--(hold expired: reaper)--> expired --(late payment, stock left)--> paid
   |                               +----(late payment, sold out)--> refund_due
   +--(buyer/operator cancels)--> cancelled --(payment arrives anyway)--> refund_due
```
A payment that does not match its order (amount, currency, event), names a payment already used by
another order, a second payment for a paid order, a partial refund and a dispute leave the status as
it is (except as drawn above) and flag the order for the operator (``Attention``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class OrderStatus(StrEnum):
    PENDING = "pending"
    PAID = "paid"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"
    REFUND_DUE = "refund_due"
    DISPUTED = "disputed"


class Trigger(StrEnum):
    PAYMENT_SUCCEEDED = "payment_succeeded"
    # A successful payment that does not match the order (short, other currency, other event).
    PAYMENT_MISMATCH = "payment_mismatch"
    # A payment reference another order already counts: the same money cannot pay twice.
    PAYMENT_REUSED = "payment_reused"
    PAYMENT_FAILED = "payment_failed"
    HOLD_EXPIRED = "hold_expired"
    CANCEL = "cancel"
    # The order's money went back to the buyer in full (operator command, or the provider's refund).
    REFUND = "refund"
    PARTIAL_REFUND = "partial_refund"
    DISPUTE = "dispute"


class StockMove(StrEnum):
    """What happens to the order's quantity in the event's stock."""

    NONE = "none"
    HELD_TO_SOLD = "held_to_sold"
    AVAILABLE_TO_SOLD = "available_to_sold"
    HELD_TO_AVAILABLE = "held_to_available"
    SOLD_TO_AVAILABLE = "sold_to_available"
    # Revoked seats the operator keeps off sale (TICKETGATE_RETURN_REFUNDED_STOCK=0).
    SOLD_TO_WITHDRAWN = "sold_to_withdrawn"


class PaymentStatus(StrEnum):
    """What a recorded provider payment is: it paid its order, or its money must go back (or went back)."""

    PAID = "paid"
    REFUND_DUE = "refund_due"
    REFUNDED = "refunded"


class Attention(StrEnum):
    """Why an order is listed by ``ticketgate orders attention``."""

    PAYMENT_MISMATCH = "payment_mismatch"
    PAYMENT_REUSED = "payment_reused"
    DOUBLE_PAYMENT = "double_payment"
    PARTIAL_REFUND = "partial_refund"
    DISPUTED = "disputed"


class Outcome(StrEnum):
    """What a trigger did, as reported to the caller (and the payment provider's log)."""

    PAID = "paid"
    LATE_PAID = "late_paid"
    REFUND_DUE = "refund_due"
    PAYMENT_MISMATCH = "payment_mismatch"
    PAYMENT_REUSED = "payment_reused"
    FAILED_RECORDED = "failed_recorded"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"
    PARTIALLY_REFUNDED = "partially_refunded"
    DISPUTED = "disputed"
    IGNORED = "ignored"


@dataclass(frozen=True)
class Decision:
    """The result of applying a trigger: the new status (or the same), stock move, tickets, the
    status of the payment that triggered it (None: no new payment to record) and the flag raised."""

    to_status: OrderStatus
    outcome: Outcome
    stock: StockMove = StockMove.NONE
    issue_tickets: bool = False
    revoke_tickets: bool = False
    payment: PaymentStatus | None = None
    attention: Attention | None = None

    def changes_status(self, current: OrderStatus) -> bool:
        return self.to_status is not current


def stock_bucket(status: OrderStatus, *, withdrawn: bool = False) -> str | None:
    """Where an order in this status keeps its quantity: ``held``, ``sold``, ``withdrawn`` (revoked
    seats kept off sale) or nowhere (None)."""
    if status is OrderStatus.PENDING:
        return "held"
    if status is OrderStatus.PAID:
        return "sold"
    return "withdrawn" if withdrawn else None


# Where the quantity of a paid order goes when its tickets are revoked.
def _revoked_stock(return_stock: bool) -> StockMove:
    return StockMove.SOLD_TO_AVAILABLE if return_stock else StockMove.SOLD_TO_WITHDRAWN


def decide(
    status: OrderStatus,
    trigger: Trigger,
    *,
    stock_available: bool = False,
    return_stock: bool = True,
    revoke_on_dispute: bool = False,
) -> Decision:
    """Apply ``trigger`` to an order in ``status``.

    ``stock_available`` matters only for a payment that arrives after the hold ended: whether the
    event still has the order's quantity available. ``return_stock``: whether revoked seats go back
    on sale (else they are withdrawn). ``revoke_on_dispute``: whether a dispute revokes a paid
    order's tickets. Triggers that do not apply leave the status as it is, with outcome ``ignored``
    (e.g. the reaper meeting an order paid a moment ago, a cancel of an expired order).
    """
    same = Decision(status, Outcome.IGNORED)
    if trigger is Trigger.PAYMENT_SUCCEEDED:
        return _payment_succeeded(status, stock_available=stock_available)
    if trigger is Trigger.PAYMENT_MISMATCH:
        # No tickets for money that does not match: it is due back, and someone must look.
        return Decision(
            status,
            Outcome.PAYMENT_MISMATCH,
            payment=PaymentStatus.REFUND_DUE,
            attention=Attention.PAYMENT_MISMATCH,
        )
    if trigger is Trigger.PAYMENT_REUSED:
        # The money is already counted by the order it paid; nothing new to record but the flag.
        return Decision(status, Outcome.PAYMENT_REUSED, attention=Attention.PAYMENT_REUSED)
    if trigger is Trigger.PAYMENT_FAILED:
        # The buyer may retry with another card while the hold lasts; the reaper ends it otherwise.
        return Decision(status, Outcome.FAILED_RECORDED)
    if trigger is Trigger.HOLD_EXPIRED:
        if status is OrderStatus.PENDING:
            return Decision(OrderStatus.EXPIRED, Outcome.EXPIRED, StockMove.HELD_TO_AVAILABLE)
        return same
    if trigger is Trigger.CANCEL:
        if status is OrderStatus.PENDING:
            return Decision(OrderStatus.CANCELLED, Outcome.CANCELLED, StockMove.HELD_TO_AVAILABLE)
        if status is OrderStatus.PAID:
            # Cancelled after payment: tickets revoked at once, the money is now due back.
            return Decision(
                OrderStatus.REFUND_DUE, Outcome.REFUND_DUE, _revoked_stock(return_stock), revoke_tickets=True
            )
        return same
    if trigger is Trigger.REFUND:
        if status is OrderStatus.PAID:
            return Decision(
                OrderStatus.REFUNDED, Outcome.REFUNDED, _revoked_stock(return_stock), revoke_tickets=True
            )
        if status in (OrderStatus.REFUND_DUE, OrderStatus.DISPUTED):
            return Decision(OrderStatus.REFUNDED, Outcome.REFUNDED)
        return same
    if trigger is Trigger.PARTIAL_REFUND:
        return Decision(status, Outcome.PARTIALLY_REFUNDED, attention=Attention.PARTIAL_REFUND)
    if trigger is Trigger.DISPUTE:
        if status is OrderStatus.PAID and revoke_on_dispute:
            return Decision(
                OrderStatus.DISPUTED,
                Outcome.DISPUTED,
                _revoked_stock(return_stock),
                revoke_tickets=True,
                attention=Attention.DISPUTED,
            )
        return Decision(status, Outcome.DISPUTED, attention=Attention.DISPUTED)
    raise ValueError(f"unknown trigger {trigger!r}")


def _payment_succeeded(status: OrderStatus, *, stock_available: bool) -> Decision:
    if status is OrderStatus.PENDING:
        return Decision(
            OrderStatus.PAID,
            Outcome.PAID,
            StockMove.HELD_TO_SOLD,
            issue_tickets=True,
            payment=PaymentStatus.PAID,
        )
    if status is OrderStatus.EXPIRED and stock_available:
        return Decision(
            OrderStatus.PAID,
            Outcome.LATE_PAID,
            StockMove.AVAILABLE_TO_SOLD,
            issue_tickets=True,
            payment=PaymentStatus.PAID,
        )
    due = PaymentStatus.REFUND_DUE
    if status is OrderStatus.PAID:
        # A second, different payment for a paid order: a double charge to give back, and to tell.
        return Decision(status, Outcome.REFUND_DUE, payment=due, attention=Attention.DOUBLE_PAYMENT)
    if status is OrderStatus.DISPUTED:
        return Decision(status, Outcome.REFUND_DUE, payment=due, attention=Attention.DOUBLE_PAYMENT)
    # Expired and sold out, cancelled, refunded or already refund_due: money nobody gets tickets for.
    return Decision(OrderStatus.REFUND_DUE, Outcome.REFUND_DUE, payment=due)
