"""Batched checkout (the API's path for buyers racing for one event) against real PostgreSQL."""

from __future__ import annotations

import asyncio
import random
import threading
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from backend import events, orders
from backend.checkout_batch import ReserveRequest, reserve_batch
from backend.db import make_pool
from backend.errors import EventNotFound, InvalidInput, SoldOut
from backend.order_tokens import order_token_key
from tests.integration.conftest import assert_invariants, run_in_threads

pytestmark = pytest.mark.anyio


def req(code: str, quantity: int, email: str, key: str | None = None) -> ReserveRequest:
    return ReserveRequest(event_code=code, quantity=quantity, email=email, idempotency_key=key)


async def batch(pool: AsyncConnectionPool, code: str, requests: list[tuple[Any, ...]]) -> list[Any]:
    """Reserve ``requests`` ((quantity, email[, key]) tuples) for ``code`` in one batch."""
    made = [req(code, *r) for r in requests]
    return await reserve_batch(
        pool, requests=made, hold_seconds=900, max_per_order=10, max_pending_per_email=10
    )


async def test_each_request_of_a_batch_gets_its_own_order_or_error(
    pool: AsyncConnectionPool, database_url: str
) -> None:
    await events.create_event(pool, code="BATCH1", name="b", capacity=5, price_cents=1000)
    results = await batch(
        pool,
        "batch1",
        [
            (2, "a@example.com"),
            (0, "bad@example.com"),
            (2, "b@example.com"),
            (2, "c@example.com"),  # only 1 left by now
            (1, "not an email"),
            (1, "d@example.com"),  # takes the last one
        ],
    )
    first, zero, second, too_many, bad_email, last = results
    assert isinstance(zero, InvalidInput) and isinstance(bad_email, InvalidInput)
    assert isinstance(too_many, SoldOut)
    made = [first, second, last]
    assert all(isinstance(o, orders.Order) for o in made)
    assert [(o.quantity, o.email, o.amount_cents, o.status.value) for o in made] == [
        (2, "a@example.com", 2000, "pending"),
        (2, "b@example.com", 2000, "pending"),
        (1, "d@example.com", 1000, "pending"),
    ]
    assert all(o.event_code == "BATCH1" and o.expires_at > o.created_at for o in made)
    for order in made:  # what the buyer was told is what the database holds
        stored = await orders.get_order(pool, order.id)
        assert (stored.quantity, stored.status, stored.email) == (order.quantity, order.status, order.email)
    stock = await events.get_event_stock(pool, "BATCH1")
    assert (stock.available, stock.held, stock.sold) == (0, 5, 0)
    with psycopg.connect(database_url) as conn:
        audited = conn.execute("SELECT count(*) FROM audit_log WHERE actor = 'checkout'").fetchone()
    assert audited == (3,)
    assert_invariants(database_url)


async def test_idempotency_keys_in_a_batch_return_one_order_per_key(
    pool: AsyncConnectionPool, database_url: str
) -> None:
    await events.create_event(pool, code="BATCHKEY", name="b", capacity=3)
    earlier = await orders.reserve(
        pool, event_code="BATCHKEY", quantity=1, email="k@example.com", idempotency_key="k-old",
        hold_seconds=900, max_per_order=10, max_pending_per_email=10,
    )  # fmt: skip
    results = await batch(
        pool,
        "BATCHKEY",
        [
            (2, "n@example.com", "k-new"),
            (2, "n@example.com", "k-new"),  # double click inside the batch
            (1, "k@example.com", "k-old"),  # retry of an order made before
            (3, "n@example.com", "k-new"),  # same key, different order
            (1, "x@example.com", "k-other"),  # sold out: 1 (k-old) + 2 (k-new) = all 3
        ],
    )
    new, repeat, old, conflict, sold_out = results
    assert isinstance(new, orders.Order) and isinstance(repeat, orders.Order)
    assert repeat.id == new.id
    assert isinstance(old, orders.Order) and old.id == earlier.id
    assert isinstance(conflict, InvalidInput)
    assert isinstance(sold_out, SoldOut)
    # A retry after the sale sold out still finds its order.
    again = await batch(pool, "BATCHKEY", [(2, "n@example.com", "k-new")] * 2)
    assert [o.id for o in again] == [new.id, new.id]
    stock = await events.get_event_stock(pool, "BATCHKEY")
    assert (stock.available, stock.held) == (0, 3)
    assert_invariants(database_url)


async def test_a_committed_key_reused_in_a_batch_with_another_quantity_is_refused(
    pool: AsyncConnectionPool, database_url: str
) -> None:
    await events.create_event(pool, code="BATCHQTY", name="b", capacity=20)
    earlier = (await batch(pool, "BATCHQTY", [(2, "k@example.com", "k1"), (1, "o@example.com")]))[0]
    assert isinstance(earlier, orders.Order)
    reused, same, someone_else = await batch(
        pool,
        "BATCHQTY",
        [
            (3, "k@example.com", "k1"),  # the committed key, another quantity: refused
            (2, "k@example.com", "k1"),  # the same request again: the same order
            (2, "eve@example.com", "k1"),  # the same key from another buyer: their own new order
        ],
    )
    assert isinstance(reused, InvalidInput) and "another quantity" in str(reused)
    assert isinstance(same, orders.Order) and same.id == earlier.id
    assert isinstance(someone_else, orders.Order) and someone_else.id != earlier.id
    assert someone_else.email == "eve@example.com" and someone_else.access_token
    stock = await events.get_event_stock(pool, "BATCHQTY")
    assert stock.held == 5
    assert_invariants(database_url)


async def test_the_hold_limit_counts_a_buyers_earlier_and_same_batch_orders(
    pool: AsyncConnectionPool, database_url: str
) -> None:
    await events.create_event(pool, code="BATCHHLD", name="b", capacity=50)
    await batch(pool, "BATCHHLD", [(6, "h@example.com"), (1, "x@example.com")])
    results = await batch(
        pool,
        "BATCHHLD",
        [(3, "H@example.com"), (2, "h@example.com"), (1, "h@example.com"), (5, "y@example.com")],
    )
    assert [type(r).__name__ for r in results] == ["Order", "HoldLimit", "Order", "Order"]
    assert str(results[1]) == (
        "this email already holds 9 unpaid ticket(s) for event BATCHHLD; at most 10 may be pending at "
        "once: pay or cancel an order first (or wait until a hold ends)"
    )
    assert 890 <= results[1].retry_after <= 900  # when h@'s first hold, of the earlier batch, ends
    # A buyer with nothing pending before the batch: the wait is the hold this batch starts.
    fresh = await batch(pool, "BATCHHLD", [(8, "z@example.com"), (3, "z@example.com")])
    assert type(fresh[1]).__name__ == "HoldLimit" and fresh[1].retry_after == 901
    assert (await events.get_event_stock(pool, "BATCHHLD")).held == 6 + 1 + 3 + 1 + 5 + 8
    assert_invariants(database_url)


async def test_an_order_bigger_than_any_shard_is_taken_across_shards(
    pool: AsyncConnectionPool, database_url: str
) -> None:
    await events.create_event(pool, code="SPLIT1", name="b", capacity=64)  # 8 shards of 8
    results = await batch(pool, "SPLIT1", [(10, f"s{i}@example.com") for i in range(6)])
    assert all(isinstance(r, orders.Order) for r in results)
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT alloc_shards, alloc_quantities FROM orders").fetchall()
    assert all(sum(quantities) == 10 and len(shards) >= 2 for shards, quantities in rows)
    stock = await events.get_event_stock(pool, "SPLIT1")
    assert (stock.available, stock.held) == (4, 60)
    assert_invariants(database_url)


async def test_an_unknown_event_fails_every_valid_request(pool: AsyncConnectionPool) -> None:
    results = await batch(pool, "NOSUCH", [(1, "a@example.com"), (0, "a@example.com")])
    assert isinstance(results[0], EventNotFound) and isinstance(results[1], InvalidInput)
    results = await batch(pool, "bad code!", [(1, "a@example.com")])
    assert isinstance(results[0], EventNotFound)


def test_concurrent_batches_from_many_processes_never_oversell(database_url: str) -> None:
    async def setup(pool: AsyncConnectionPool) -> None:
        await events.create_event(pool, code="STORM1", name="b", capacity=300)

    run_in_threads(database_url, [setup], threads=1, connections_per_thread=1)
    rng = random.Random(7)
    batches = [[(rng.randint(1, 3), f"b{j}-{i}@example.com") for i in range(rng.randint(1, 20))]
               for j in range(40)]  # fmt: skip

    def job(requests: list[tuple[Any, ...]]) -> Any:
        return lambda pool: batch(pool, "STORM1", requests)

    outcomes = run_in_threads(database_url, [job(b) for b in batches], threads=4, connections_per_thread=3)
    reserved = 0
    for requests, results in zip(batches, outcomes, strict=True):
        assert not isinstance(results, BaseException), results
        for request, result in zip(requests, results, strict=True):
            assert isinstance(result, orders.Order | SoldOut), result
            if isinstance(result, orders.Order):
                assert result.quantity == request[0]
                reserved += result.quantity
    asked = sum(quantity for b in batches for quantity, _ in b)
    assert asked > 300 and reserved <= 300
    with psycopg.connect(database_url) as conn:
        held = conn.execute("SELECT sum(held), sum(available) FROM event_stock").fetchone()
    assert held is not None and held[0] == reserved and held[1] < 3
    assert_invariants(database_url)


async def test_a_batch_and_single_checkouts_racing_for_the_same_key_make_one_order(
    pool: AsyncConnectionPool, database_url: str
) -> None:
    await events.create_event(pool, code="RACEKEY", name="b", capacity=50)

    async def single() -> Any:
        return await orders.reserve(
            pool, event_code="RACEKEY", quantity=2, email="r@example.com", idempotency_key="same",
            hold_seconds=900, max_per_order=10, max_pending_per_email=10,
        )  # fmt: skip

    results = await asyncio.gather(
        single(), batch(pool, "RACEKEY", [(2, "r@example.com", "same")] * 3), single()
    )
    ids = {results[0].id, results[2].id, *(o.id for o in results[1])}
    assert len(ids) == 1
    stock = await events.get_event_stock(pool, "RACEKEY")
    assert stock.held == 2
    assert_invariants(database_url)


async def test_one_batch_serves_several_events_each_from_its_own_stock(
    pool: AsyncConnectionPool, database_url: str
) -> None:
    await events.create_event(pool, code="MULTIA", name="a", capacity=3, price_cents=100)
    await events.create_event(pool, code="MULTIB", name="b", capacity=2, price_cents=700, currency="USD")
    requests = [
        req("MULTIA", 2, "a1@example.com"),
        req("MULTIB", 2, "b1@example.com", "same-key"),
        req("nosuch", 1, "x@example.com"),
        req("MULTIA", 2, "a2@example.com"),  # 1 left on A
        req("MULTIA", 1, "a3@example.com", "same-key"),  # the same key on another event is another order
        req("MULTIB", 1, "b2@example.com"),  # B is sold out
    ]
    a1, b1, unknown, a2, a3, b2 = await reserve_batch(
        pool, requests=requests, hold_seconds=900, max_per_order=10, max_pending_per_email=10
    )
    assert isinstance(unknown, EventNotFound)
    assert isinstance(a2, SoldOut) and "MULTIA" in str(a2)
    assert isinstance(b2, SoldOut) and "MULTIB" in str(b2)
    assert (a1.event_code, a1.amount_cents, a1.currency) == ("MULTIA", 200, "EUR")
    assert (b1.event_code, b1.amount_cents, b1.currency) == ("MULTIB", 1400, "USD")
    assert a3.event_code == "MULTIA" and a3.id != b1.id
    for code, held in (("MULTIA", 3), ("MULTIB", 2)):
        stock = await events.get_event_stock(pool, code)
        assert (stock.available, stock.held) == (0, held)
    assert_invariants(database_url)


async def test_text_the_database_cannot_store_fails_only_its_own_request(
    pool: AsyncConnectionPool, database_url: str
) -> None:
    # A NUL (or a lone surrogate) in one buyer's email used to fail the batch's shared statement, so
    # every buyer checking out at that moment got a 500.
    await events.create_event(pool, code="NULBATCH", name="b", capacity=10)
    results = await batch(
        pool,
        "NULBATCH",
        [
            (1, "a@example.com"),
            (1, "nul\x00@example.com"),
            (1, "b@example.com"),
            (1, "lone\ud800@example.com"),
            (1, "c@example.com", "key\x00"),
        ],
    )
    first, nul, second, surrogate, nul_key = results
    assert isinstance(first, orders.Order) and isinstance(second, orders.Order)
    assert all(isinstance(r, InvalidInput) for r in (nul, surrogate, nul_key)), results
    stock = await events.get_event_stock(pool, "NULBATCH")
    assert (stock.available, stock.held) == (8, 2)
    assert_invariants(database_url)


async def test_refused_requests_anywhere_in_a_batch_leave_the_others_served(
    pool: AsyncConnectionPool, database_url: str
) -> None:
    await events.create_event(pool, code="MIXED1", name="Mixed", capacity=5)
    bad_quantity, bad_code, served, unknown_keyed, served_too = await reserve_batch(
        pool,
        requests=[
            req("MIXED1", 0, "q@example.com"),
            req("not a code!", 1, "c@example.com"),
            req("MIXED1", 2, "s@example.com", "key-1"),
            req("NOSUCH1", 1, "u@example.com", "key-1"),  # a key for an event that does not exist
            req("mixed1", 1, "t@example.com"),
        ],
        hold_seconds=900,
        max_per_order=10,
        max_pending_per_email=10,
    )
    assert isinstance(bad_quantity, InvalidInput)
    assert isinstance(bad_code, EventNotFound)
    assert isinstance(unknown_keyed, EventNotFound) and str(unknown_keyed) == "no event has the code NOSUCH1"
    assert (served.event_code, served.quantity, served_too.quantity) == ("MIXED1", 2, 1)
    assert (await events.get_event_stock(pool, "MIXED1")).held == 3
    assert_invariants(database_url)


def test_batches_committing_the_same_keys_at_once_share_one_order_per_key(database_url: str) -> None:
    """Two batches in separate transactions carry the same keys at the same moment: one order per key,
    both batches answer with it, and a request that differs from it is refused. (The batches queue on
    the event's stock rows and the buyers' locks, so the second reads the first's orders; the ON
    CONFLICT fallback in _place is the defence should that ever change: docs/mutants.md.)"""

    async def setup(pool: AsyncConnectionPool) -> None:
        await events.create_event(pool, code="KEYRACE", name="b", capacity=5000)

    run_in_threads(database_url, [setup], threads=1, connections_per_thread=1)
    keys = [f"k{i}" for i in range(40)]
    # Both batches carry every key (same email per key); the second asks 2 instead of 1 for the
    # keys whose number ends in 7, so for those the loser must be refused as a different order.
    first = [(1, f"{k}@example.com", k) for k in keys]
    second = [(2 if k.endswith("7") else 1, f"{k}@example.com", k) for k in keys]

    def job(requests: list[tuple[Any, ...]]) -> Any:
        return lambda pool: batch(pool, "KEYRACE", requests)

    rounds = 8
    together = threading.Barrier(2)
    outcomes: list[Any] = [None] * (2 * rounds)

    def racer(side: int, requests: list[tuple[Any, ...]]) -> None:
        async def main() -> None:
            async with make_pool(database_url, min_size=1, max_size=1) as pool:
                await pool.wait()
                for r in range(rounds):
                    together.wait(timeout=60)  # each round's two batches start at the same moment
                    tagged = [(q, f"r{r}-{e}", f"{key}-r{r}") for q, e, key in requests]
                    try:
                        outcomes[2 * r + side] = await batch(pool, "KEYRACE", tagged)
                    except Exception as exc:  # reported below with the round it happened in
                        outcomes[2 * r + side] = exc

        asyncio.run(main())

    racers = [threading.Thread(target=racer, args=(side, b)) for side, b in enumerate((first, second))]
    for t in racers:
        t.start()
    for t in racers:
        t.join()
    assert all(not isinstance(o, BaseException) for o in outcomes), outcomes

    with psycopg.connect(database_url) as conn:
        made = dict(
            conn.execute(
                "SELECT idempotency_key, id FROM orders WHERE idempotency_key IS NOT NULL"
            ).fetchall()
        )
        held = conn.execute("SELECT sum(held) FROM event_stock").fetchone()
    assert len(made) == rounds * len(keys)  # one order per key, however the batches interleaved
    refused = 0
    expected_held = 0
    for r in range(rounds):
        for a, b, key in zip(outcomes[2 * r], outcomes[2 * r + 1], keys, strict=True):
            order_id = made[f"{key}-r{r}"]
            if key.endswith("7"):
                # Exactly one of the two requests made the order; the other differs from it.
                assert [isinstance(x, InvalidInput) for x in (a, b)].count(True) == 1, (a, b)
                winner = a if isinstance(b, InvalidInput) else b
                refused += 1
            else:
                assert isinstance(a, orders.Order) and isinstance(b, orders.Order), (a, b)
                assert a.id == b.id
                winner = a
            assert winner.id == order_id
            expected_held += winner.quantity
    assert refused == rounds * 4
    assert held is not None and held[0] == expected_held
    assert_invariants(database_url)


async def test_a_keyed_retry_in_a_batch_gets_the_orders_access_token_again(pool: AsyncConnectionPool) -> None:
    await events.create_event(pool, code="TOKEN1", name="b", capacity=50)
    key = order_token_key(b"m" * 32)

    async def keyed(requests: list[tuple[Any, ...]], token_key: bytes | None = key) -> list[Any]:
        made = [req("TOKEN1", *r) for r in requests]
        return await reserve_batch(
            pool, requests=made, hold_seconds=900, max_per_order=10, max_pending_per_email=10,
            token_key=token_key,
        )  # fmt: skip

    first, unkeyed = await keyed([(2, "t@example.com", "k1"), (1, "u@example.com")])
    again, double_click = await keyed([(2, "t@example.com", "k1"), (2, "t@example.com", "k1")])
    assert first.access_token and (await orders.get_order(pool, first.id)).opens_with(first.access_token)
    assert again.id == double_click.id == first.id
    assert again.access_token == double_click.access_token == first.access_token
    assert unkeyed.access_token and unkeyed.access_token != first.access_token
    # An order made without the key (by an older release: a random token) is returned without one.
    [old] = await keyed([(1, "o@example.com", "k2")], token_key=None)
    [retried] = await keyed([(1, "o@example.com", "k2")])
    assert retried.id == old.id and retried.access_token is None
