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
from backend.invariants import check_invariants
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

    The checks are ``backend.invariants`` (also what ``ticketgate demo --headless`` reports).
    """
    checks = check_invariants(database_url)
    broken = [f"{check.name}: {problem}" for check in checks for problem in check.problems]
    assert not broken, "invariants broken:\n" + "\n".join(broken)


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
