"""Checkout against real PostgreSQL: never oversell, one winner for the last ticket, idempotent retries."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from backend import events, orders
from backend.db import make_pool
from backend.errors import (
    Busy,
    EventExists,
    EventNotFound,
    HoldLimit,
    InvalidInput,
    OrderNotFound,
    SoldOut,
)
from tests.integration.conftest import assert_invariants, reserve, run_in_threads

pytestmark = pytest.mark.anyio


async def test_500_concurrent_buyers_for_100_tickets_never_oversell(
    database_url: str, pool: AsyncConnectionPool
) -> None:
    await events.create_event(pool, code="RUSH", name="Flash sale", capacity=100)
    # Buyer i asks for 1 + i % 3 tickets: 167 buyers want a single ticket, so if any stock were left
    # at the end, some single-ticket buyer was wrongly told "sold out".
    quantities = [1 + i % 3 for i in range(500)]

    def buyer(quantity: int) -> Callable[[AsyncConnectionPool], Awaitable[Any]]:
        return lambda p: reserve(p, "RUSH", quantity)

    results = run_in_threads(
        database_url, [buyer(q) for q in quantities], threads=8, connections_per_thread=4
    )

    won = [r for r in results if isinstance(r, orders.Order)]
    unexpected = [r for r in results if not isinstance(r, orders.Order | SoldOut)]
    assert not unexpected, unexpected[:3]
    assert sum(o.quantity for o in won) == 100
    assert len({o.id for o in won}) == len(won)
    stock = await events.get_event_stock(pool, "RUSH")
    assert (stock.available, stock.held, stock.sold) == (0, 100, 0)
    assert_invariants(database_url)


async def test_two_buyers_race_for_the_last_ticket_one_wins(
    database_url: str, pool: AsyncConnectionPool
) -> None:
    for round_ in range(15):
        code = f"LAST{round_:02d}"
        await events.create_event(pool, code=code, name="One seat", capacity=1)
        results = await asyncio.gather(reserve(pool, code, 1), reserve(pool, code, 1), return_exceptions=True)
        assert sorted(type(r).__name__ for r in results) == ["Order", "SoldOut"], results
    assert_invariants(database_url)


async def test_concurrent_retries_with_one_idempotency_key_make_one_order(
    database_url: str, pool: AsyncConnectionPool
) -> None:
    await events.create_event(pool, code="IDEM", name="Retries", capacity=50)
    results = run_in_threads(
        database_url,
        [lambda p: reserve(p, "IDEM", 2, key="retry-123")] * 12,
        threads=4,
        connections_per_thread=3,
    )
    assert all(isinstance(r, orders.Order) for r in results), results
    assert len({r.id for r in results}) == 1
    stock = await events.get_event_stock(pool, "IDEM")
    assert stock.held == 2
    # A later retry returns the same order; the key reused for a different order is refused.
    assert (await reserve(pool, "IDEM", 2, key="retry-123")).id == results[0].id
    with pytest.raises(InvalidInput, match="already used"):
        await reserve(pool, "IDEM", 3, key="retry-123")
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM orders").fetchone() == (1,)
    assert_invariants(database_url)


async def test_a_retry_after_sell_out_still_gets_its_order(pool: AsyncConnectionPool) -> None:
    await events.create_event(pool, code="GONE", name="Tiny", capacity=2)
    first = await reserve(pool, "GONE", 2, key="k")
    with pytest.raises(SoldOut):
        await reserve(pool, "GONE", 1)
    assert (await reserve(pool, "GONE", 2, key="k")).id == first.id


async def test_an_order_bigger_than_any_shard_is_served_while_the_total_allows(
    database_url: str, pool: AsyncConnectionPool
) -> None:
    event = await events.create_event(pool, code="SPLIT", name="Two shards", capacity=16)
    assert event.stock_shards == 2
    await reserve(pool, "SPLIT", 5)
    await reserve(pool, "SPLIT", 5)  # the second shard: the first has only 3 left
    order = await reserve(pool, "SPLIT", 6)  # 3 + 3 left, in two rows
    assert (order.quantity, order.event_code, order.status) == (6, "SPLIT", "pending")
    assert await orders.get_order(pool, order.id) == order  # what the split path answered is what it stored
    with pytest.raises(SoldOut) as refused:
        await reserve(pool, "SPLIT", 1)
    assert str(refused.value) == "sold out: event SPLIT has fewer than 1 ticket(s) left"
    assert_invariants(database_url)


async def test_order_carries_amount_expiry_and_an_unguessable_id(pool: AsyncConnectionPool) -> None:
    await events.create_event(pool, code="GIG1", name="Gig", capacity=10, price_cents=2500, currency="eur")
    order = await reserve(pool, "gig1", 3)
    assert (order.status, order.quantity, order.amount_cents, order.currency) == ("pending", 3, 7500, "EUR")
    assert order.id.version == 4
    assert 899 <= (order.expires_at - order.created_at).total_seconds() <= 901
    assert (await orders.get_order(pool, order.id)) == order
    # The id as a URL or a command line carries it: text, in either case.
    assert (await orders.get_order(pool, str(order.id).upper())) == order  # type: ignore[arg-type]
    for bad in ("not-an-id", "", str(order.id)[:-1]):
        with pytest.raises(OrderNotFound, match="no order has the id"):
            await orders.get_order(pool, bad)  # type: ignore[arg-type]
    unknown = uuid.uuid4()
    with pytest.raises(OrderNotFound) as missing:
        await orders.get_order(pool, unknown)
    assert str(missing.value) == f"no order has the id {unknown}"


async def test_an_order_bigger_than_any_shard_keeps_the_hold_limit_and_gets_its_access_token(
    pool: AsyncConnectionPool,
) -> None:
    event = await events.create_event(pool, code="SPLIT2", name="Two shards", capacity=16)
    assert event.stock_shards == 2
    await reserve(pool, "SPLIT2", 5)
    await reserve(pool, "SPLIT2", 5)  # 3 + 3 left: an order of 4 or more needs both rows
    email = "big@example.org"
    with pytest.raises(HoldLimit) as refused:
        await reserve(pool, "SPLIT2", 6, email=email, max_pending=5)
    assert str(refused.value).startswith("this email already holds 0 unpaid ticket(s) for event SPLIT2")
    order = await reserve(pool, "SPLIT2", 6, email=email, key="big-1", max_pending=6)
    assert order.quantity == 6
    assert (await orders.get_order(pool, order.id)).opens_with(order.access_token)  # the buyer's key to it


async def test_the_hold_limit_counts_the_buyers_pending_tickets_and_allows_exactly_the_limit(
    pool: AsyncConnectionPool,
) -> None:
    await events.create_event(pool, code="HOLD1", name="Holds", capacity=100)
    email = "holder@example.org"
    await reserve(pool, "HOLD1", 3, email=email, max_pending=4)
    with pytest.raises(HoldLimit) as refused:
        await reserve(pool, "HOLD1", 2, email=email, max_pending=4)
    assert str(refused.value) == (
        "this email already holds 3 unpaid ticket(s) for event HOLD1; at most 4 may be pending at "
        "once: pay or cancel an order first (or wait until a hold ends)"
    )
    assert 890 <= refused.value.retry_after <= 901  # when the buyer's hold of 15 minutes ends
    assert (await reserve(pool, "HOLD1", 1, email=email, max_pending=4)).quantity == 1  # 3 + 1 = 4
    with pytest.raises(EventNotFound) as unknown:
        await reserve(pool, "NOPE1", 1)
    assert str(unknown.value) == "no event has the code NOPE1"


async def test_a_keyed_orders_access_token_is_its_own_event_buyer_and_key(pool: AsyncConnectionPool) -> None:
    for code in ("TOKA", "TOKB"):
        await events.create_event(pool, code=code, name="Tokens", capacity=10)

    async def keyed(code: str) -> orders.Order:
        return await orders.reserve(
            pool, event_code=code, quantity=1, email="same@example.org", idempotency_key="same-key",
            hold_seconds=900, max_per_order=10, max_pending_per_email=10, token_key=b"k" * 32,
        )  # fmt: skip

    first, other_event = await keyed("TOKA"), await keyed("TOKB")
    # The same buyer and key at another event: another order, which the first token does not open.
    assert first.id != other_event.id and first.access_token != other_event.access_token
    assert not (await orders.get_order(pool, other_event.id)).opens_with(first.access_token)
    assert (await keyed("TOKA")).access_token == first.access_token  # a retry gets it again


@pytest.mark.parametrize(
    ("quantity", "email", "key", "message"),
    [
        (0, "a@b.example", None, "quantity"),
        (11, "a@b.example", None, "quantity"),
        (True, "a@b.example", None, "quantity"),
        (1, "not-an-address", None, "e-mail"),
        (1, "nul\x00@b.example", None, "e-mail"),
        (1, "lone\ud800@b.example", None, "e-mail"),
        (1, "a@b.example", "k\x00", "Idempotency-Key"),
        (1, "a@b.example", "", "Idempotency-Key"),
        (1, "a@b.example", "x" * 201, "Idempotency-Key"),
    ],
)
async def test_bad_checkout_input_is_refused_and_holds_nothing(
    pool: AsyncConnectionPool, quantity: Any, email: str, key: str | None, message: str
) -> None:
    await events.create_event(pool, code="EDGE", name="Edges", capacity=10)
    with pytest.raises(InvalidInput, match=message):
        await orders.reserve(
            pool,
            event_code="EDGE",
            quantity=quantity,
            email=email,
            idempotency_key=key,
            hold_seconds=900,
            max_per_order=10,
            max_pending_per_email=10,
        )
    assert (await events.get_event_stock(pool, "EDGE")).available == 10


async def test_unknown_events_and_duplicate_codes_are_clear_errors(pool: AsyncConnectionPool) -> None:
    with pytest.raises(EventNotFound):
        await reserve(pool, "NOPE", 1)
    with pytest.raises(EventNotFound):
        await reserve(pool, "bad code!", 1)
    with pytest.raises(EventNotFound):
        await events.get_event_stock(pool, "NOPE")
    await events.create_event(pool, code="DUPE", name="First", capacity=5)
    with pytest.raises(EventExists):
        await events.create_event(pool, code="dupe", name="Second", capacity=5)
    with pytest.raises(InvalidInput):
        await events.create_event(pool, code="AB", name="Short code", capacity=5)
    with pytest.raises(InvalidInput):
        await events.create_event(pool, code="ZERO", name="No seats", capacity=0)
    for unstorable in ("nul\x00name", "lone\ud800"):
        with pytest.raises(InvalidInput, match="name"):
            await events.create_event(pool, code="TEXT", name=unstorable, capacity=5)


@pytest.mark.parametrize(
    "capacity",
    [
        16,  # two rows of 8: the first retry to commit leaves 7, so the others meet "sold out"
        32,  # four rows of 8: stock is left, so the others meet the order their key already made
    ],
)
async def test_retries_of_an_order_spread_over_rows_all_get_the_one_order(
    database_url: str, capacity: int
) -> None:
    # An order of 9 fits no single row: each retry takes the split path, whose two transactions
    # let retries of one request interleave between them.
    for round_ in range(6):
        code = f"SPR{capacity}X{round_}"
        results = await _race_on_a_new_event(
            database_url,
            code,
            "Spread",
            capacity,
            [lambda p, code=code: reserve(p, code, 9, key="same-buyer")] * 8,
        )
        assert all(isinstance(r, orders.Order) for r in results), results
        assert len({r.id for r in results}) == 1
    assert_invariants(database_url)


async def test_one_buyers_orders_racing_over_several_rows_never_pass_the_hold_limit(
    database_url: str,
) -> None:
    # Orders of 9 fit no row of 8, so each is placed by the split path, which counts the buyer's
    # pending tickets again in its own transaction: only one of these fits under the limit of 10.
    for round_ in range(4):
        code = f"HOLDR{round_}"
        results = await _race_on_a_new_event(
            database_url,
            code,
            "Racing holds",
            100,
            [
                lambda p, code=code, n=n: reserve(p, code, 9, key=f"k{n}", email="one@example.org")
                for n in range(8)
            ],
        )
        assert sorted(type(r).__name__ for r in results) == ["HoldLimit"] * 7 + ["Order"], results
        for refused in results:
            if isinstance(refused, HoldLimit):  # whichever path refused it says the same
                assert str(refused).startswith(
                    f"this email already holds 9 unpaid ticket(s) for event {code}; at most 10 may"
                ), refused
                assert 890 <= refused.retry_after <= 901
    assert_invariants(database_url)


async def _race_on_a_new_event(
    database_url: str,
    code: str,
    name: str,
    capacity: int,
    jobs: list[Callable[[AsyncConnectionPool], Awaitable[Any]]],
) -> list[Any]:
    """Make event ``code``, then run ``jobs`` at once: 4 threads of 2 connections each."""
    async with make_pool(database_url, min_size=1, max_size=1) as setup:
        await events.create_event(setup, code=code, name=name, capacity=capacity)
    return run_in_threads(database_url, jobs, threads=4, connections_per_thread=2)


async def test_a_blocked_stock_row_gives_busy_not_a_hang(database_url: str) -> None:
    async with make_pool(database_url, min_size=1, max_size=2, lock_timeout_ms=200) as pool:
        await events.create_event(pool, code="BUSY", name="Blocked", capacity=5)  # one shard
        async with await psycopg.AsyncConnection.connect(database_url) as locker:
            await locker.execute("SELECT 1 FROM event_stock FOR UPDATE")
            with pytest.raises(Busy, match="retry"):
                await reserve(pool, "BUSY", 1)
            await locker.rollback()
        assert (await reserve(pool, "BUSY", 1)).quantity == 1
    assert_invariants(database_url)


async def test_retries_racing_for_the_last_tickets_all_get_the_one_order_not_sold_out(
    database_url: str,
) -> None:
    for round_ in range(5):
        code = f"KEYL{round_}"
        results = await _race_on_a_new_event(
            database_url,
            code,
            "Last two",
            2,
            [lambda p, code=code: reserve(p, code, 2, key="same-buyer")] * 8,
        )
        assert all(isinstance(r, orders.Order) for r in results), results
        assert len({r.id for r in results}) == 1
    assert_invariants(database_url)
