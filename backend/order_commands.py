"""Handlers of ``ticketgate orders ...``: the operator's money commands (refund-due, attention, cancel,
refund)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC
from uuid import UUID

from psycopg_pool import AsyncConnectionPool

from backend import cancellations, ledger, money
from backend.commands import _settings, _with_pool
from backend.errors import InvalidInput
from backend.orders import Order


def _order_id(text: str) -> UUID:
    try:
        return UUID(text.strip())
    except ValueError:
        raise InvalidInput(
            f"{text!r} is not an order id (a UUID, as `orders attention` lists them)"
        ) from None


def orders_refund_due(args: argparse.Namespace) -> int:
    """``ticketgate orders refund-due``: payments whose money must go back (late, second, mismatched,
    of cancelled orders, overpaid surplus), with the provider's payment reference."""
    due = _with_pool(_settings(args), ledger.list_refund_due)
    if args.json:
        print(json.dumps([payment.as_json() for payment in due], indent=2))
        return 0
    if not due:
        print("no payments are due a refund")
        return 0
    print(f"{len(due)} payment(s) with money due back; refund them with `ticketgate orders refund ORDER_ID`:")
    for p in due:
        print(
            f"{p.reference}  order {p.order_id} ({p.order_status})  {p.event_code:<12}  "
            f"due {money.amount(p.due_cents, p.currency)} of {money.amount(p.amount_cents, p.currency)}  "
            f"{p.email}  "
            f"received {p.received_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC  {p.reason or ''}"
        )
    return 0


def orders_attention(args: argparse.Namespace) -> int:
    """``ticketgate orders attention [--clear ORDER_ID]``: orders flagged for the operator."""
    settings = _settings(args)
    if args.clear:
        order_id = _order_id(args.clear)

        async def clear(pool: AsyncConnectionPool) -> None:
            await ledger.clear_attention(pool, order_id, actor="cli", note=args.note)

        _with_pool(settings, clear)
        print(f"order {order_id}: flag cleared (kept in its audit log)")
        return 0
    flagged = _with_pool(settings, ledger.list_attention)
    if args.json:
        print(json.dumps([order.as_json() for order in flagged], indent=2))
        return 0
    if not flagged:
        print("no orders need attention")
        return 0
    print(f"{len(flagged)} order(s) need attention:")
    for o in flagged:
        print(
            f"{o.id}  {o.attention:<16} {o.status:<10} {o.event_code:<12} "
            f"{money.amount(o.amount_cents, o.currency)}  "
            f"{o.email}  since {o.attention_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC  {o.detail or ''}"
        )
    return 0


def _print_order(order: Order, what: str) -> None:
    print(
        f"order {order.id} ({order.event_code}, {order.quantity} ticket(s)): {what}; now {order.status.value}"
    )


def orders_cancel(args: argparse.Namespace) -> int:
    """``ticketgate orders cancel ORDER_ID [--reason TEXT]``: a pending order is cancelled and its
    stock returned; a paid one's tickets are revoked and its money becomes due back."""
    settings = _settings(args)
    order_id = _order_id(args.order_id)

    async def cancel(pool: AsyncConnectionPool) -> Order:
        return await cancellations.cancel_order(
            pool,
            order_id,
            actor="cli",
            reason=args.reason,
            allow_paid=True,
            return_stock=settings.return_refunded_stock,
        )

    order = _with_pool(settings, cancel)
    _print_order(order, "cancelled")
    if order.status.value == "refund_due":
        print(f"its payment is due back: ticketgate orders refund {order.id}")
    return 0


def orders_refund(args: argparse.Namespace) -> int:
    """``ticketgate orders refund ORDER_ID [--payment REFERENCE]``: with TICKETGATE_STRIPE_API_KEY set,
    Stripe refunds first (idempotency key per payment); then the order is marked refunded."""
    settings = _settings(args)
    order_id = _order_id(args.order_id)
    give_back = None
    if settings.stripe_api_key:
        from backend.stripe_refunds import stripe_refunder

        give_back = stripe_refunder(
            settings.stripe_api_key, api_base=settings.stripe_api_base, order_id=str(order_id)
        )
    else:
        print(
            "TICKETGATE_STRIPE_API_KEY is not set: recording a refund you made with the provider yourself",
            file=sys.stderr,
        )

    async def refund(pool: AsyncConnectionPool) -> tuple[list[cancellations.Refund], Order]:
        planned = await cancellations.refunds_to_make(pool, order_id, payment=args.payment)
        order = await cancellations.refund_order(
            pool,
            order_id,
            actor="cli",
            payment=args.payment,
            return_stock=settings.return_refunded_stock,
            give_back=give_back,
        )
        return planned, order

    planned, order = _with_pool(settings, refund)
    for r in planned:
        print(f"refunded {money.amount(r.amount_cents, r.currency)} of payment {r.reference}")
    _print_order(order, "refund recorded")
    return 0
