"""The order state machine (pure): which status an order moves to on each trigger, and what its stock does.

```
pending --(payment confirmed)--> paid --(refund)--> refunded
   +--(hold expired: reaper)--> expired --(late payment, stock left)--> paid
   |                               +----(late payment, sold out)--> refund_due
   +--(buyer/admin cancels)--> cancelled
```
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


class Trigger(StrEnum):
    PAYMENT_SUCCEEDED = "payment_succeeded"
    PAYMENT_FAILED = "payment_failed"
    HOLD_EXPIRED = "hold_expired"
    CANCEL = "cancel"
    REFUND = "refund"


class StockMove(StrEnum):
    """What happens to the order's quantity in the event's stock."""

    NONE = "none"
    HELD_TO_SOLD = "held_to_sold"
    AVAILABLE_TO_SOLD = "available_to_sold"
    HELD_TO_AVAILABLE = "held_to_available"
    SOLD_TO_AVAILABLE = "sold_to_available"


class Outcome(StrEnum):
    """What a trigger did, as reported to the caller (and the payment provider's log)."""

    PAID = "paid"
    LATE_PAID = "late_paid"
    REFUND_DUE = "refund_due"
    ALREADY_PAID = "already_paid"
    FAILED_RECORDED = "failed_recorded"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"
    IGNORED = "ignored"


@dataclass(frozen=True)
class Decision:
    """The result of applying a trigger: the new status (or the same), stock move, tickets."""

    to_status: OrderStatus
    outcome: Outcome
    stock: StockMove = StockMove.NONE
    issue_tickets: bool = False
    revoke_tickets: bool = False

    def changes_status(self, current: OrderStatus) -> bool:
        return self.to_status is not current


def stock_bucket(status: OrderStatus) -> str | None:
    """Where an order in this status keeps its quantity: ``held``, ``sold`` or nowhere (None)."""
    if status is OrderStatus.PENDING:
        return "held"
    if status is OrderStatus.PAID:
        return "sold"
    return None


def decide(status: OrderStatus, trigger: Trigger, *, stock_available: bool = False) -> Decision:
    """Apply ``trigger`` to an order in ``status``.

    ``stock_available`` matters only for a payment that arrives after the hold ended: whether the
    event still has the order's quantity available. Triggers that do not apply leave the status as
    it is (e.g. the reaper meeting an order paid a moment ago).
    """
    same = Decision(status, Outcome.IGNORED)
    if trigger is Trigger.PAYMENT_SUCCEEDED:
        if status is OrderStatus.PENDING:
            return Decision(OrderStatus.PAID, Outcome.PAID, StockMove.HELD_TO_SOLD, issue_tickets=True)
        if status is OrderStatus.EXPIRED:
            if stock_available:
                return Decision(
                    OrderStatus.PAID, Outcome.LATE_PAID, StockMove.AVAILABLE_TO_SOLD, issue_tickets=True
                )
            return Decision(OrderStatus.REFUND_DUE, Outcome.REFUND_DUE)
        if status in (OrderStatus.CANCELLED, OrderStatus.REFUNDED):
            # Money arrived for an order nobody will get tickets for: the operator must refund it.
            return Decision(OrderStatus.REFUND_DUE, Outcome.REFUND_DUE)
        if status is OrderStatus.PAID:
            return Decision(status, Outcome.ALREADY_PAID)
        return Decision(status, Outcome.REFUND_DUE)  # refund_due stays refund_due
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
        return same
    if trigger is Trigger.REFUND:
        if status is OrderStatus.PAID:
            return Decision(
                OrderStatus.REFUNDED, Outcome.REFUNDED, StockMove.SOLD_TO_AVAILABLE, revoke_tickets=True
            )
        if status is OrderStatus.REFUND_DUE:
            return Decision(OrderStatus.REFUNDED, Outcome.REFUNDED)
        return same
    raise ValueError(f"unknown trigger {trigger!r}")
