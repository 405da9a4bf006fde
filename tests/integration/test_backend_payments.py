"""Payment confirmation against real PostgreSQL: exactly once, all or nothing, late payments never lost."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from backend import events, ledger, orders, payments, reaper
from backend.errors import DatabaseUnavailable, OrderNotFound
from backend.webhooks import PaymentEvent
from tests.integration.conftest import assert_invariants, reserve, run_in_threads
from ticketcode import derive_event_key, find_signing_key, parse_code

pytestmark = pytest.mark.anyio

MASTER = b"test-master-secret-0123456789abcdef"
SUCCEEDED = "payment_intent.succeeded"


POLICY = payments.PaymentPolicy(master_secret=MASTER)


async def _pay(
    pool: AsyncConnectionPool,
    order: orders.Order | uuid.UUID,
    event_id: str,
    event_type: str = SUCCEEDED,
    *,
    payment: str | None = None,
    amount: int | None = None,
) -> payments.PaymentOutcome:
    """Deliver a payment intent event for ``order`` (its exact amount, currency and event by default)."""
    event = PaymentEvent(
        id=event_id,
        type=event_type,
        order_id=order.id if isinstance(order, orders.Order) else order,
        payment_reference=payment or f"pi_{event_id}",
        amount_cents=amount if amount is not None else getattr(order, "amount_cents", 0),
        currency=order.currency if isinstance(order, orders.Order) else "EUR",
        event_code=order.event_code if isinstance(order, orders.Order) else None,
    )
    return await payments.apply_payment_event(pool, event, policy=POLICY)


def _expire_now(database_url: str, order_id: uuid.UUID) -> None:
    """Move the order's hold end into the past (as if the hold time had passed)."""
    with psycopg.connect(database_url) as conn:
        conn.execute("UPDATE orders SET expires_at = now() - interval '1 second' WHERE id = %s", (order_id,))


def _count(database_url: str, query: str, *params: Any) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(query.encode(), params).fetchone()
        assert row is not None
        return int(row[0])


async def test_payment_makes_the_order_paid_with_signed_tickets(
    database_url: str, pool: AsyncConnectionPool
) -> None:
    event = await events.create_event(pool, code="PAYD", name="Paid show", capacity=1200, price_cents=1000)
    order = await reserve(pool, "PAYD", 3)
    result = await _pay(pool, order, "evt_1")
    assert result.outcome == "paid"
    paid = result.order
    assert (paid.status, paid.webhook_attempts, len(paid.tickets)) == ("paid", 1, 3)
    assert paid.paid_at is not None
    key = derive_event_key(MASTER, "PAYD", event.key_version)
    parsed = [parse_code(code) for code in paid.tickets]
    assert [p.serial for p in parsed] == [1, 2, 3]
    assert all(p.serial_text == f"{p.serial:04d}" for p in parsed)  # 1200 seats: 4 digits
    assert all(find_signing_key(p, [key]) == key for p in parsed)
    stock = await events.get_event_stock(pool, "PAYD")
    assert (stock.available, stock.held, stock.sold) == (1197, 0, 3)
    assert await orders.get_order(pool, order.id) == paid
    assert_invariants(database_url)


async def test_the_same_webhook_ten_times_at_once_gives_one_set_of_tickets(
    database_url: str, pool: AsyncConnectionPool
) -> None:
    await events.create_event(pool, code="TENX", name="Ten deliveries", capacity=20)
    order = await reserve(pool, "TENX", 2)
    deliver: Callable[[AsyncConnectionPool], Awaitable[Any]] = lambda p: _pay(p, order, "evt_same")  # noqa: E731
    results = run_in_threads(database_url, [deliver] * 10, threads=5, connections_per_thread=2)
    outcomes = sorted(r.outcome for r in results)
    assert outcomes == ["duplicate"] * 9 + ["paid"], results
    final = await orders.get_order(pool, order.id)
    assert final.webhook_attempts == 10
    assert len(final.tickets) == 2
    assert _count(database_url, "SELECT count(*) FROM tickets") == 2
    assert _count(database_url, "SELECT count(*) FROM audit_log WHERE to_status = 'paid'") == 1
    assert_invariants(database_url)


async def test_a_redelivered_event_later_changes_only_the_attempt_count(pool: AsyncConnectionPool) -> None:
    await events.create_event(pool, code="AGIN", name="Again", capacity=5)
    order = await reserve(pool, "AGIN", 1)
    first = await _pay(pool, order, "evt_a")
    again = await _pay(pool, order, "evt_a")
    assert again.outcome == "duplicate"
    assert again.order.tickets == first.order.tickets
    assert again.order.webhook_attempts == 2


async def test_a_failed_payment_is_recorded_and_the_order_stays_pending(
    database_url: str, pool: AsyncConnectionPool
) -> None:
    await events.create_event(pool, code="FAIL", name="Declined", capacity=5)
    order = await reserve(pool, "FAIL", 1)
    result = await _pay(pool, order, "evt_f", "payment_intent.payment_failed")
    assert (result.outcome, result.order.status, result.order.webhook_attempts) == (
        "failed_recorded",
        "pending",
        1,
    )
    assert (
        _count(
            database_url,
            "SELECT count(*) FROM audit_log WHERE order_id = %s AND detail->>'type' = %s",
            order.id,
            "payment_intent.payment_failed",
        )
        == 1
    )
    # The buyer pays with another card before the hold ends.
    assert (await _pay(pool, order, "evt_g")).outcome == "paid"
    # Event types this backend does not act on are recorded and change nothing else.
    ignored = await _pay(pool, order, "evt_h", "charge.refund.updated")
    assert (ignored.outcome, ignored.order.status) == ("ignored", "paid")
    assert_invariants(database_url)


async def test_a_payment_for_an_unknown_order_changes_nothing(
    database_url: str, pool: AsyncConnectionPool
) -> None:
    with pytest.raises(OrderNotFound):
        await _pay(pool, uuid.uuid4(), "evt_x")
    with pytest.raises(OrderNotFound):
        await _pay(pool, "not-a-uuid", "evt_x")  # type: ignore[arg-type]
    assert _count(database_url, "SELECT count(*) FROM processed_payment_events") == 0


async def test_a_late_payment_with_stock_left_is_fulfilled(
    database_url: str, pool: AsyncConnectionPool
) -> None:
    await events.create_event(pool, code="LATE", name="Late", capacity=10)
    order = await reserve(pool, "LATE", 4)
    _expire_now(database_url, order.id)
    assert await reaper.reap_once(pool) == 1
    assert (await events.get_event_stock(pool, "LATE")).available == 10
    result = await _pay(pool, order, "evt_late")
    assert (result.outcome, result.order.status, len(result.order.tickets)) == ("late_paid", "paid", 4)
    stock = await events.get_event_stock(pool, "LATE")
    assert (stock.available, stock.held, stock.sold) == (6, 0, 4)
    assert_invariants(database_url)


async def test_a_late_payment_without_stock_becomes_refund_due(
    database_url: str, pool: AsyncConnectionPool
) -> None:
    await events.create_event(pool, code="NONE", name="Gone", capacity=3, price_cents=1500)
    order = await reserve(pool, "NONE", 2)
    _expire_now(database_url, order.id)
    await reaper.reap_once(pool)
    await reserve(pool, "NONE", 2)  # someone else buys the returned tickets
    result = await _pay(pool, order, "evt_too_late")
    assert (result.outcome, result.order.status, result.order.tickets) == ("refund_due", "refund_due", ())
    due = await ledger.list_refund_due(pool)
    assert [(p.order_id, p.reference, p.due_cents) for p in due] == [(order.id, "pi_evt_too_late", 3000)]
    assert (
        _count(
            database_url,
            "SELECT count(*) FROM audit_log WHERE order_id = %s AND to_status = 'refund_due' AND actor = %s",
            order.id,
            "webhook:evt_too_late",
        )
        == 1
    )
    stock = await events.get_event_stock(pool, "NONE")
    assert (stock.available, stock.held, stock.sold) == (1, 2, 0)
    assert_invariants(database_url)


async def test_a_killed_connection_during_confirmation_leaves_no_partial_order(
    database_url: str, pool: AsyncConnectionPool
) -> None:
    await events.create_event(pool, code="KILL", name="Killed", capacity=10)
    order = await reserve(pool, "KILL", 2)
    async with (
        await psycopg.AsyncConnection.connect(database_url) as blocker,
        await psycopg.AsyncConnection.connect(database_url, autocommit=True) as admin,
    ):
        # Hold the event row, so the confirmation stops after it changed the order and the stock and
        # waits to take ticket serials, with its transaction open.
        await blocker.execute("SELECT 1 FROM events WHERE code = 'KILL' FOR NO KEY UPDATE")
        confirming = asyncio.ensure_future(_pay(pool, order, "evt_kill"))
        pid = None
        for _ in range(200):
            cur = await admin.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock' AND query LIKE 'UPDATE events SET next_serial%'"
            )
            row = await cur.fetchone()
            if row:
                pid = row[0]
                break
            await asyncio.sleep(0.02)
        assert pid is not None, "the confirmation never reached the serial counter"
        await admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with pytest.raises(DatabaseUnavailable):
            await confirming
        await blocker.rollback()
    after = await orders.get_order(pool, order.id)
    assert (after.status, after.paid_at, after.tickets, after.webhook_attempts) == ("pending", None, (), 0)
    stock = await events.get_event_stock(pool, "KILL")
    assert (stock.available, stock.held, stock.sold) == (8, 2, 0)
    assert _count(database_url, "SELECT count(*) FROM processed_payment_events") == 0
    assert_invariants(database_url)
    # The provider retries the delivery: now it goes through, once.
    retried = await _pay(pool, order, "evt_kill")
    assert (retried.outcome, len(retried.order.tickets), retried.order.webhook_attempts) == ("paid", 2, 1)
    assert_invariants(database_url)


async def test_paying_an_order_held_across_shards_sells_it_from_each(
    database_url: str, pool: AsyncConnectionPool
) -> None:
    await events.create_event(pool, code="SPAN", name="Span", capacity=16)  # two shards of 8
    first = await reserve(pool, "SPAN", 5)
    second = await reserve(pool, "SPAN", 5)
    spanning = await reserve(pool, "SPAN", 6)  # 3 + 3 from the two shards
    for n, order in enumerate((spanning, first, second)):
        assert (await _pay(pool, order, f"evt_span_{n}")).outcome == "paid"
    stock = await events.get_event_stock(pool, "SPAN")
    assert (stock.available, stock.held, stock.sold) == (0, 0, 16)
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT sold FROM event_stock ORDER BY shard").fetchall() == [(8,), (8,)]
    assert_invariants(database_url)
