"""Real PostgreSQL for integration tests: a fresh, migrated database per test, and the invariants.

Fixtures (function scope unless said):
- ``database_url``: the URL of a new database ``tg_<hex>``, copied from a template database that was
  migrated once per session (fast), dropped after the test. Works for sync and async tests.
- ``empty_database_url``: the URL of a new database with no tables at all, dropped after the test.
- ``pool``: an opened ``AsyncConnectionPool`` (max 10 connections) on ``database_url``.
- ``anyio_backend``: "asyncio". Async tests use anyio's pytest plugin: mark them
  ``@pytest.mark.anyio`` and request ``pool`` (or ``database_url``) as usual.
Helpers: ``assert_invariants(database_url)`` checks the invariants of docs/architecture.md for every
event and every payment; ``reserve(pool, code, n)`` checks out as a (new) buyer;
``paid_event(order, event_id)`` is a parsed payment intent event paying an order exactly,
``policy(master_secret)`` the payment settings;
``run_in_threads(database_url, jobs, threads=, connections_per_thread=)`` runs async jobs at once
from several threads, each with its own event loop and pool (separate connections).

The server comes from ``TICKETGATE_TEST_DATABASE_URL`` (default postgresql://postgres@127.0.0.1:5432/test).
"""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from backend import orders, payments
from backend.db import make_pool, migrate
from backend.webhooks import PaymentEvent

ADMIN_URL = os.environ.get("TICKETGATE_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")


def url_for_database(name: str, base: str = ADMIN_URL) -> str:
    """``base`` with its database name replaced by ``name``."""
    parts = urlsplit(base)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def _admin(statement: sql.Composed) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(statement)


@pytest.fixture(scope="session")
def template_database() -> Iterator[str]:
    name = f"tg_tpl_{uuid.uuid4().hex[:12]}"
    _admin(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        asyncio.run(migrate(url_for_database(name)))
        yield name
    finally:
        _admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def database_url(template_database: str) -> Iterator[str]:
    name = f"tg_{uuid.uuid4().hex[:16]}"
    _admin(
        sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            sql.Identifier(name), sql.Identifier(template_database)
        )
    )
    try:
        yield url_for_database(name)
    finally:
        _admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def empty_database_url() -> Iterator[str]:
    """A new database with nothing in it, not even the schema (for migrations and first starts)."""
    name = f"tg_empty_{uuid.uuid4().hex[:12]}"
    _admin(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield url_for_database(name)
    finally:
        _admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[AsyncConnectionPool]:
    async with make_pool(database_url, min_size=1, max_size=10) as opened:
        yield opened


async def reserve(
    pool: AsyncConnectionPool,
    code: str,
    quantity: int,
    *,
    key: str | None = None,
    email: str | None = None,
    max_pending: int = 10,
) -> orders.Order:
    """``orders.reserve`` with the defaults every backend test uses (15 min hold, 10 per order, 10
    pending per email). Without ``email``, an order with a ``key`` is buyer@example.org's (keys are
    per buyer) and one without is a new buyer's."""
    return await orders.reserve(
        pool,
        event_code=code,
        quantity=quantity,
        email=email or ("buyer@example.org" if key else f"buyer-{uuid.uuid4().hex[:12]}@example.org"),
        idempotency_key=key,
        hold_seconds=900,
        max_per_order=10,
        max_pending_per_email=max_pending,
    )


def paid_event(
    order: orders.Order,
    event_id: str,
    *,
    reference: str | None = None,
    amount: int | None = None,
    currency: str | None = None,
    event_type: str = "payment_intent.succeeded",
) -> PaymentEvent:
    """A parsed payment intent event paying ``order`` exactly (its amount, currency and event), unless
    told otherwise; its payment reference is ``pi_<event id>`` by default."""
    return PaymentEvent(
        id=event_id,
        type=event_type,
        order_id=order.id,
        payment_reference=reference or f"pi_{event_id}",
        amount_cents=order.amount_cents if amount is None else amount,
        currency=currency or order.currency,
        event_code=order.event_code,
    )


def policy(master_secret: bytes, **options: bool) -> payments.PaymentPolicy:
    return payments.PaymentPolicy(master_secret=master_secret, **options)


def assert_invariants(database_url: str) -> None:
    """Fail unless, for every event: capacity = available + held + sold + withdrawn; held = quantity of
    pending orders; sold = quantity of paid orders = valid tickets issued; withdrawn = quantity of
    orders whose revoked seats were kept off sale; a valid ticket only on a paid order and no revoked
    ticket on one; no shard negative; every payment accounted for (it paid a paid or disputed order,
    exactly one per such order, in its currency and at least its amount; or its money is due back or
    went back); and every order's status changes form an unbroken chain in the audit log.
    """
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            """
            SELECT e.code, e.capacity,
                   s.available, s.held, s.sold, s.withdrawn, s.negative,
                   coalesce(o.pending, 0), coalesce(o.paid, 0),
                   (SELECT count(*) FROM tickets t WHERE t.event_id = e.id AND t.status = 'valid'),
                   e.next_serial - 1,
                   (SELECT coalesce(max(serial), 0) FROM tickets t WHERE t.event_id = e.id)
              FROM events e
              JOIN (SELECT event_id, sum(available) AS available, sum(held) AS held, sum(sold) AS sold,
                           sum(withdrawn) AS withdrawn,
                           bool_or(available < 0 OR held < 0 OR sold < 0 OR withdrawn < 0) AS negative
                      FROM event_stock GROUP BY event_id) s ON s.event_id = e.id
              LEFT JOIN (SELECT event_id,
                                sum(quantity) FILTER (WHERE status = 'pending') AS pending,
                                sum(quantity) FILTER (WHERE status = 'paid') AS paid
                           FROM orders GROUP BY event_id) o ON o.event_id = e.id
            """
        ).fetchall()
        for (
            code,
            capacity,
            available,
            held,
            sold,
            kept_off,
            negative,
            pending,
            paid,
            tickets,
            issued,
            top,
        ) in rows:
            where = f"event {code}"
            assert not negative, f"{where}: a stock shard went negative"
            assert available + held + sold + kept_off == capacity, (
                f"{where}: available {available} + held {held} + sold {sold} + withdrawn {kept_off}"
                f" != capacity {capacity}"
            )
            assert held == pending, f"{where}: held {held} != pending quantity {pending}"
            assert sold == paid, f"{where}: sold {sold} != paid quantity {paid}"
            assert tickets == paid, f"{where}: {tickets} valid tickets != paid quantity {paid}"
            assert top <= issued, f"{where}: serial {top} beyond the counter {issued}"
        withdrawn = conn.execute(
            """
            SELECT e.code, (SELECT sum(withdrawn) FROM event_stock s WHERE s.event_id = e.id),
                   (SELECT coalesce(sum(quantity), 0) FROM orders o
                     WHERE o.event_id = e.id AND o.stock_withdrawn)
              FROM events e
            """
        ).fetchall()
        for code, kept_off, revoked in withdrawn:
            assert kept_off == revoked, (
                f"event {code}: withdrawn {kept_off} != revoked seats kept off sale {revoked}"
            )
        orphans = conn.execute(
            """
            SELECT count(*) FROM tickets t JOIN orders o ON o.id = t.order_id
             WHERE (t.status = 'valid') <> (o.status = 'paid')
            """
        ).fetchone()
        assert orphans == (0,), (
            f"{orphans[0] if orphans else '?'} valid ticket(s) without a paid order or revoked on a paid one"
        )
        unaccounted = conn.execute(
            """
            SELECT p.reference, p.status, o.status FROM payments p JOIN orders o ON o.id = p.order_id
             WHERE NOT ((p.status = 'paid' AND o.status IN ('paid', 'disputed')
                         AND p.currency = o.currency AND p.amount_cents >= o.amount_cents)
                        OR (p.status = 'refund_due' AND (p.due_cents > 0 OR p.amount_cents = 0))
                        OR (p.status = 'refunded' AND p.refunded_cents >= p.amount_cents))
            """
        ).fetchall()
        assert not unaccounted, (
            f"payments neither paying their order nor due back nor refunded: {unaccounted}"
        )
        paid_by = conn.execute(
            """
            SELECT o.id, count(p.id) FROM orders o
              LEFT JOIN payments p ON p.order_id = o.id AND p.status = 'paid'
             WHERE o.status IN ('paid', 'disputed') GROUP BY o.id HAVING count(p.id) <> 1
            """
        ).fetchall()
        assert not paid_by, f"paid orders without exactly one payment that paid them: {paid_by}"
        per_order = conn.execute(
            """
            SELECT o.id, o.quantity, count(t.id) FROM orders o LEFT JOIN tickets t ON t.order_id = o.id
             WHERE o.status = 'paid' GROUP BY o.id HAVING count(t.id) <> o.quantity
            """
        ).fetchall()
        assert not per_order, f"paid orders whose ticket count differs from their quantity: {per_order}"
        allocations = conn.execute(
            """
            SELECT id FROM orders
             WHERE status IN ('pending', 'paid')
               AND (SELECT coalesce(sum(q), 0) FROM unnest(alloc_quantities) q) <> quantity
            """
        ).fetchall()
        assert not allocations, f"orders whose shard allocation does not sum to their quantity: {allocations}"
        trails = conn.execute(
            """
            SELECT o.id, o.status,
                   array_agg(a.from_status ORDER BY a.id) FILTER (WHERE a.id IS NOT NULL),
                   array_agg(a.to_status ORDER BY a.id) FILTER (WHERE a.id IS NOT NULL)
              FROM orders o
              LEFT JOIN audit_log a
                ON a.order_id = o.id AND a.from_status IS DISTINCT FROM a.to_status
             GROUP BY o.id, o.status
            """
        ).fetchall()
        for order_id, status, froms, tos in trails:
            # Every status an order went through is in the audit log, in order: created pending by
            # checkout, each change starting where the previous one ended, ending at its status now.
            assert froms and tos, f"order {order_id} has no audit trail"
            assert froms[0] is None and tos[0] == "pending", (
                f"order {order_id}: trail starts {froms[0]}->{tos[0]}"
            )
            chained = all(froms[i] == tos[i - 1] for i in range(1, len(froms)))
            assert chained and tos[-1] == status, (
                f"order {order_id} ({status}): audit trail {list(zip(froms, tos, strict=True))} is broken"
            )


def run_in_threads(
    database_url: str,
    jobs: list[Callable[[AsyncConnectionPool], Awaitable[Any]]],
    *,
    threads: int,
    connections_per_thread: int,
) -> list[Any]:
    """Run ``jobs`` at once across threads, each thread with its own event loop and connection pool.

    Returns each job's result or the exception it raised, in job order.
    """
    results: list[Any] = [None] * len(jobs)
    start = threading.Barrier(threads)

    def worker(index: int) -> None:
        mine = list(range(index, len(jobs), threads))

        async def main() -> None:
            async with make_pool(
                database_url, min_size=connections_per_thread, max_size=connections_per_thread
            ) as pool:
                await pool.wait()
                start.wait(timeout=60)  # every thread's connections are open: release all buyers at once

                async def one(i: int) -> None:
                    try:
                        results[i] = await jobs[i](pool)
                    except Exception as exc:
                        results[i] = exc

                await asyncio.gather(*(one(i) for i in mine))

        asyncio.run(main())

    workers = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return results
