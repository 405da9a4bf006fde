"""The reaper on real PostgreSQL: stock returned exactly once, safe against payments and other reapers."""

from __future__ import annotations

import asyncio
import json
import logging
import random
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from backend import events, orders, payments, reaper
from backend.db import make_pool
from backend.errors import SoldOut
from tests.integration.conftest import assert_invariants, paid_event, policy, reserve, run_in_threads

pytestmark = pytest.mark.anyio

MASTER = b"test-master-secret-0123456789abcdef"


async def _orders(pool: AsyncConnectionPool, code: str, count: int, quantity: int = 1) -> list[orders.Order]:
    return [await reserve(pool, code, quantity) for _ in range(count)]


def _expire_all(database_url: str, code: str) -> None:
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "UPDATE orders SET expires_at = now() - interval '1 second'"
            " WHERE event_id = (SELECT id FROM events WHERE code = %s)",
            (code,),
        )


async def test_reaper_expires_only_overdue_orders_and_returns_their_stock(
    database_url: str, pool: AsyncConnectionPool
) -> None:
    await events.create_event(pool, code="REAP", name="Reap", capacity=50)
    old = await _orders(pool, "REAP", 5, quantity=2)
    _expire_all(database_url, "REAP")
    fresh = await _orders(pool, "REAP", 3)
    assert await reaper.reap_once(pool, batch_size=2) == 2  # bounded batches
    assert await reaper.reap_all(pool, batch_size=2) == 3
    assert await reaper.reap_once(pool) == 0
    for order in old:
        assert (await orders.get_order(pool, order.id)).status == "expired"
    for order in fresh:
        assert (await orders.get_order(pool, order.id)).status == "pending"
    stock = await events.get_event_stock(pool, "REAP")
    assert (stock.available, stock.held) == (47, 3)
    with psycopg.connect(database_url) as conn:
        audit = conn.execute(
            "SELECT count(*) FROM audit_log WHERE actor = 'reaper' AND from_status = 'pending'"
            " AND to_status = 'expired'"
        ).fetchone()
    assert audit == (5,)
    assert_invariants(database_url)


async def test_reaping_goes_in_batches_of_500_by_default_and_as_asked(
    database_url: str, pool: AsyncConnectionPool, caplog: pytest.LogCaptureFixture
) -> None:
    await events.create_event(pool, code="BATCH", name="Batches", capacity=600)
    with psycopg.connect(database_url) as conn:  # 503 overdue orders, as reserve() leaves them, quickly
        conn.execute(
            "CREATE TEMP TABLE due AS SELECT e.id AS event_id, (g % e.stock_shards)::smallint AS shard"
            " FROM events e, generate_series(0, 502) g WHERE e.code = 'BATCH'"
        )
        conn.execute(
            "INSERT INTO orders (event_id, status, quantity, amount_cents, currency, email, expires_at,"
            "  alloc_shards, alloc_quantities)"
            " SELECT event_id, 'pending', 1, 0, 'EUR', 'b@example.org', now() - interval '1 minute',"
            "  ARRAY[shard], ARRAY[1] FROM due"
        )
        conn.execute(
            "INSERT INTO audit_log (order_id, event_id, from_status, to_status, actor, detail)"
            " SELECT id, event_id, NULL, 'pending', 'test', '{}' FROM orders WHERE email = 'b@example.org'"
        )
        conn.execute(
            "UPDATE event_stock s SET available = available - n, held = held + n"
            " FROM (SELECT event_id, shard, count(*) AS n FROM due GROUP BY 1, 2) d"
            " WHERE s.event_id = d.event_id AND s.shard = d.shard"
        )
    assert await reaper.reap_once(pool) == 500
    caplog.set_level(logging.INFO, logger="backend.reaper")
    assert await reaper.reap_all(pool, batch_size=2) == 3
    assert [r.getMessage() for r in caplog.records] == [
        "reaper expired 2 order(s)",
        "reaper expired 1 order(s)",
    ]
    assert await reaper.reap_once(pool, batch_size=1) == 0
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        await reaper.reap_once(pool, batch_size=0)
    assert_invariants(database_url)


async def test_two_reapers_at_once_return_the_stock_once(
    database_url: str, pool: AsyncConnectionPool
) -> None:
    for code in ("TWOA", "TWOB"):
        await events.create_event(pool, code=code, name="Two reapers", capacity=400)
    await asyncio.gather(_orders(pool, "TWOA", 150, quantity=2), _orders(pool, "TWOB", 150))
    _expire_all(database_url, "TWOA")
    _expire_all(database_url, "TWOB")

    async def reap(p: AsyncConnectionPool) -> int:
        return await reaper.reap_all(p, batch_size=20)

    counts = run_in_threads(database_url, [reap, reap, reap], threads=3, connections_per_thread=1)
    assert all(isinstance(c, int) for c in counts), counts
    assert sum(counts) == 300
    for code in ("TWOA", "TWOB"):
        stock = await events.get_event_stock(pool, code)
        assert (stock.available, stock.held, stock.sold) == (400, 0, 0)
    with psycopg.connect(database_url) as conn:
        per_order = conn.execute(
            "SELECT max(n) FROM"
            " (SELECT count(*) AS n FROM audit_log WHERE actor = 'reaper' GROUP BY order_id) x"
        ).fetchone()
    assert per_order == (1,)
    assert_invariants(database_url)


async def test_an_order_locked_by_a_payment_is_skipped_not_waited_for(
    database_url: str, pool: AsyncConnectionPool
) -> None:
    # FOR UPDATE without SKIP LOCKED passed every other test: the reaper then queues behind a payment
    # (or another reaper) holding an order, and every order after it waits too.
    await events.create_event(pool, code="SKIP", name="Skip locked", capacity=10)
    held, *others = await _orders(pool, "SKIP", 4)
    _expire_all(database_url, "SKIP")
    async with await psycopg.AsyncConnection.connect(database_url) as payment:
        await payment.execute("SELECT 1 FROM orders WHERE id = %s FOR UPDATE", (held.id,))
        # A lock wait would end in lock_timeout's "busy" error instead of a count.
        async with make_pool(database_url, min_size=1, max_size=1, lock_timeout_ms=1000) as impatient:
            assert await reaper.reap_once(impatient) == len(others)
        await payment.rollback()
    assert (await orders.get_order(pool, held.id)).status == "pending"
    assert await reaper.reap_once(pool) == 1  # taken once the lock is gone
    assert_invariants(database_url)


async def test_reaper_racing_payments_never_loses_a_payment_or_a_ticket(
    database_url: str, pool: AsyncConnectionPool
) -> None:
    """Orders whose hold ends around the time their payment arrives, with reapers and other buyers
    running at the same moment, many times with random timing: each order ends paid with its
    tickets, or refund_due when its stock was sold again; the stock always adds up."""
    rng = random.Random(20261124)
    outcomes: dict[str, int] = {}
    for round_ in range(8):
        code = f"RACE{round_}"
        await events.create_event(pool, code=code, name="Race", capacity=30)
        buyers = await _orders(pool, code, 30)
        with psycopg.connect(database_url) as conn:
            for order in buyers:
                conn.execute(
                    "UPDATE orders SET expires_at = now() + make_interval(secs => %s) WHERE id = %s",
                    (rng.uniform(-0.03, 0.05), order.id),
                )

        async def pay(order: orders.Order, delay: float) -> payments.PaymentOutcome:
            await asyncio.sleep(delay)
            return await payments.apply_payment_event(
                pool, paid_event(order, f"evt_{order.id}"), policy=policy(MASTER)
            )

        async def reap_repeatedly() -> None:
            for _ in range(8):
                await reaper.reap_once(pool, batch_size=7)
                await asyncio.sleep(rng.uniform(0, 0.015))

        async def grab_returned_stock(event_code: str) -> None:
            for _ in range(10):
                try:
                    await _orders(pool, event_code, 1)
                except SoldOut:
                    pass
                await asyncio.sleep(rng.uniform(0, 0.01))

        results: list[Any] = await asyncio.gather(
            *(pay(order, rng.uniform(0, 0.06)) for order in buyers),
            reap_repeatedly(),
            reap_repeatedly(),
            grab_returned_stock(code),
        )
        for result in results[: len(buyers)]:
            outcomes[result.outcome] = outcomes.get(result.outcome, 0) + 1
            order = result.order
            assert order.status in ("paid", "refund_due"), order
            if order.status == "paid":
                assert len(order.tickets) == order.quantity
            else:
                assert order.tickets == ()
        assert_invariants(database_url)
        # The other buyers' holds run out too: everything not paid goes back on sale.
        _expire_all(database_url, code)
        await reaper.reap_all(pool)
        assert_invariants(database_url)
    assert set(outcomes) <= {"paid", "late_paid", "refund_due"}
    assert outcomes.get("paid", 0) > 0
    assert outcomes.get("late_paid", 0) + outcomes.get("refund_due", 0) > 0, outcomes


async def test_the_reaper_loop_survives_a_failed_pass(
    database_url: str, pool: AsyncConnectionPool, caplog: pytest.LogCaptureFixture
) -> None:
    await events.create_event(pool, code="LOOP", name="Loop", capacity=5)
    (order,) = await _orders(pool, "LOOP", 1)
    _expire_all(database_url, "LOOP")
    stop = asyncio.Event()
    async with make_pool(database_url, min_size=1, max_size=2, lock_timeout_ms=100) as impatient:
        # Another session locks the orders table: the reaper's passes time out until it lets go.
        async with await psycopg.AsyncConnection.connect(database_url) as locker:
            await locker.execute("LOCK TABLE orders IN ACCESS EXCLUSIVE MODE")
            with caplog.at_level(logging.ERROR, logger="backend.reaper"):
                loop = asyncio.ensure_future(reaper.run_reaper(impatient, interval_seconds=0.05, stop=stop))
                for _ in range(100):
                    if any("reaper pass failed" in r.getMessage() for r in caplog.records):
                        break
                    await asyncio.sleep(0.05)
            await locker.rollback()
        assert any("reaper pass failed" in r.getMessage() for r in caplog.records)
        for _ in range(100):
            if (await orders.get_order(pool, order.id)).status == "expired":
                break
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(loop, timeout=5)
    assert (await orders.get_order(pool, order.id)).status == "expired"
    assert_invariants(database_url)


async def test_reaper_finds_due_orders_by_index_not_by_scanning_all_orders(
    database_url: str, pool: AsyncConnectionPool
) -> None:
    event = await events.create_event(pool, code="BIGT", name="Big table", capacity=100)
    with psycopg.connect(database_url) as conn:
        # 20,000 settled orders the reaper must not have to read.
        conn.execute(
            "INSERT INTO orders (id, event_id, status, quantity, amount_cents, currency, email, expires_at,"
            " alloc_shards, alloc_quantities)"
            " SELECT gen_random_uuid(), %s, 'expired', 1, 0, 'EUR', 'x@example.org',"
            " now() - interval '1 day', '{}', '{}' FROM generate_series(1, 20000)",
            (event.id,),
        )
        conn.execute("ANALYZE orders")
        plan = conn.execute(("EXPLAIN (FORMAT JSON) " + reaper._TAKE_DUE).encode(), (500,)).fetchone()
    assert plan is not None
    assert "orders_pending_expiry" in json.dumps(plan[0])
    await _orders(pool, "BIGT", 3)
    _expire_all(database_url, "BIGT")
    assert await reaper.reap_all(pool) == 3
