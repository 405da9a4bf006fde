"""Payment confirmation against real PostgreSQL: exactly once, all or nothing, late payments never lost."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from backend import cancellations, events, ledger, orders, payments, reaper
from backend.errors import ConfigError, DatabaseUnavailable, InvalidInput, OrderNotFound
from backend.settings import MIN_MASTER_SECRET_BYTES
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


# What each payment path leaves for the operator: the refund-due list's reason, the attention list's
# detail, and the delivery's row in the order's audit trail. Pinned where mutation testing showed no
# test held them (docs/mutants.md, backend.payments).


async def _deliver(pool: AsyncConnectionPool, event_id: str, **fields: Any) -> payments.PaymentOutcome:
    """Deliver a provider event made of ``fields`` (a success with no amount or currency by default)."""
    fields.setdefault("type", SUCCEEDED)
    return await payments.apply_payment_event(pool, PaymentEvent(id=event_id, **fields), policy=POLICY)


def _trail(database_url: str, actor: str) -> list[tuple[str | None, str, dict[str, Any]]]:
    """The audit rows one delivery wrote: (from, to, detail)."""
    with psycopg.connect(database_url) as conn:
        found = conn.execute(
            "SELECT from_status, to_status, detail FROM audit_log WHERE actor = %s ORDER BY id", (actor,)
        ).fetchall()
    return [(f, t, d) for f, t, d in found]


async def _due(pool: AsyncConnectionPool) -> dict[str, tuple[str, int, int, str, str | None]]:
    """reference -> (status, amount, due, currency, reason) of every payment in the refund-due list."""
    return {
        p.reference: (p.status, p.amount_cents, p.due_cents, p.currency, p.reason)
        for p in await ledger.list_refund_due(pool)
    }


def _payment_row(database_url: str, reference: str) -> tuple[Any, ...]:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT status, amount_cents, due_cents, currency, reason FROM payments WHERE reference = %s",
            (reference,),
        ).fetchone()
    assert row is not None
    return tuple(row)


async def test_each_payment_path_tells_the_operator_why_money_is_due_back(
    database_url: str, pool: AsyncConnectionPool
) -> None:
    await events.create_event(pool, code="WHY1", name="Why", capacity=4, price_cents=1000)
    exact, over, cancelled, late = [await reserve(pool, "WHY1", 1) for _ in range(4)]
    # Exact: paid, nothing due back, no reason; its audit row names the payment and the outcome only.
    assert (await _pay(pool, exact, "evt_exact")).outcome == "paid"
    assert _payment_row(database_url, "pi_evt_exact") == ("paid", 1000, 0, "EUR", None)
    paid_detail = {"type": SUCCEEDED, "payment_reference": "pi_evt_exact", "outcome": "paid"}
    assert [d for *_, d in _trail(database_url, "webhook:evt_exact")] == [paid_detail]
    # Overpaid: paid, the surplus due back.
    assert (await _pay(pool, over, "evt_over", amount=1500)).outcome == "paid"
    # A second, different payment for the paid order: all of it due back, the order flagged.
    assert (await _pay(pool, exact, "evt_twice")).outcome == "refund_due"
    # A payment for a cancelled order: due back, saying why; another one for that refund_due order too.
    await cancellations.cancel_order(pool, cancelled.id, actor="buyer")
    assert (await _pay(pool, cancelled, "evt_cancelled")).outcome == "refund_due"
    assert (await _pay(pool, cancelled, "evt_again", payment="pi_again")).outcome == "refund_due"
    # A late payment with stock left is paid, and its audit row says it was late.
    _expire_now(database_url, late.id)
    await reaper.reap_once(pool)
    assert (await _pay(pool, late, "evt_late")).outcome == "late_paid"
    assert _trail(database_url, "webhook:evt_late") == [
        (
            "expired",
            "paid",
            {"type": SUCCEEDED, "payment_reference": "pi_evt_late", "outcome": "late_paid", "late": True},
        )
    ]
    assert await _due(pool) == {
        "pi_evt_over": ("paid", 1500, 500, "EUR", "overpaid by 5.00 EUR"),
        "pi_evt_twice": ("refund_due", 1000, 1000, "EUR", "double_payment"),
        "pi_evt_cancelled": ("refund_due", 1000, 1000, "EUR", "payment arrived for a cancelled order"),
        "pi_again": ("refund_due", 1000, 1000, "EUR", "refund_due"),
    }
    assert [d.get("reason") for *_, d in _trail(database_url, "webhook:evt_cancelled")] == [
        "payment arrived for a cancelled order"
    ]
    assert_invariants(database_url)


async def test_a_late_payment_for_a_sold_out_event_says_so(
    database_url: str, pool: AsyncConnectionPool
) -> None:
    await events.create_event(pool, code="WHY2", name="Sold out", capacity=1, price_cents=1000)
    order = await reserve(pool, "WHY2", 1)
    _expire_now(database_url, order.id)
    await reaper.reap_once(pool)
    await reserve(pool, "WHY2", 1)
    assert (await _pay(pool, order, "evt_gone")).outcome == "refund_due"
    reason = "payment arrived after the order's hold ended and the event is sold out"
    assert await _due(pool) == {"pi_evt_gone": ("refund_due", 1000, 1000, "EUR", reason)}
    assert _trail(database_url, "webhook:evt_gone") == [
        (
            "expired",
            "refund_due",
            {
                "type": SUCCEEDED,
                "payment_reference": "pi_evt_gone",
                "outcome": "refund_due",
                "reason": reason,
            },
        )
    ]


async def test_mismatched_and_reused_payments_are_flagged_with_the_reason(
    database_url: str, pool: AsyncConnectionPool
) -> None:
    await events.create_event(pool, code="WHY3", name="Mismatch", capacity=4, price_cents=1000)
    first, second = await reserve(pool, "WHY3", 1), await reserve(pool, "WHY3", 1)
    price = "for an order of 10.00 EUR"
    # No amount nor currency: recorded as 0 of "???" (nothing to give back but the record).
    outcome = await _deliver(pool, "evt_bare", order_id=first.id, payment_reference="pi_bare")
    assert (outcome.outcome, outcome.order.status, outcome.order.tickets) == (
        "payment_mismatch",
        "pending",
        (),
    )
    bare = f"payment_mismatch: received no amount {price}: another currency"
    assert _payment_row(database_url, "pi_bare") == ("refund_due", 0, 0, "???", bare)
    short = await _deliver(
        pool, "evt_short", order_id=first.id, payment_reference="pi_short", amount_cents=999, currency="EUR",
        event_code="WHY3",
    )  # fmt: skip
    assert short.outcome == "payment_mismatch"
    flagged = await ledger.list_attention(pool)
    assert [(f.id, f.attention, f.detail) for f in flagged] == [
        (first.id, "payment_mismatch", f"received 9.99 EUR {price}: short")
    ]
    # The first order's payment used again for the second order: counted once, the second flagged.
    await _pay(pool, first, "evt_paid", payment="pi_one")
    reused = await _pay(pool, second, "evt_reused", payment="pi_one")
    assert (reused.outcome, reused.order.status) == ("payment_reused", "pending")
    assert _trail(database_url, "webhook:evt_reused") == [
        (
            "pending",
            "pending",
            {
                "type": SUCCEEDED,
                "payment_reference": "pi_one",
                "reason": f"payment pi_one already counts for order {first.id}",
                "outcome": "payment_reused",
                "attention": "payment_reused",
            },
        )
    ]
    # The same payment under a new event id for its own order: a duplicate, recorded as such.
    again = await _pay(pool, first, "evt_paid_again", payment="pi_one")
    assert again.outcome == "duplicate"
    assert [d for *_, d in _trail(database_url, "webhook:evt_paid_again")] == [
        {"type": SUCCEEDED, "payment_reference": "pi_one", "outcome": "duplicate"}
    ]
    assert_invariants(database_url)


async def test_a_payment_whose_refund_came_first_gives_no_tickets(
    database_url: str, pool: AsyncConnectionPool
) -> None:
    await events.create_event(pool, code="WHY4", name="Refund first", capacity=4, price_cents=1000)
    order = await reserve(pool, "WHY4", 1)
    refund = await _deliver(
        pool, "evt_ref", type="charge.refunded", order_id=order.id, payment_reference="pi_r",
        amount_cents=1000, currency="EUR", refunded_cents=1000,
    )  # fmt: skip
    assert refund.outcome == "refunded"
    late = await _pay(pool, order, "evt_pay", payment="pi_r")
    assert (late.outcome, late.order.status, late.order.tickets) == ("already_refunded", "pending", ())
    assert _trail(database_url, "webhook:evt_pay") == [
        (
            "pending",
            "pending",
            {"type": SUCCEEDED, "payment_reference": "pi_r", "outcome": "already_refunded"},
        )
    ]


async def test_events_we_do_not_act_on_are_in_the_trail_with_their_payment_if_any(
    database_url: str, pool: AsyncConnectionPool
) -> None:
    await events.create_event(pool, code="WHY5", name="Ignored", capacity=4)
    order = await reserve(pool, "WHY5", 1)
    await _deliver(pool, "evt_upd", type="charge.updated", order_id=order.id, payment_reference="ch_1")
    await _deliver(pool, "evt_cus", type="customer.updated", order_id=order.id)
    assert _trail(database_url, "webhook:evt_upd") + _trail(database_url, "webhook:evt_cus") == [
        ("pending", "pending", {"type": "charge.updated", "payment_reference": "ch_1", "outcome": "ignored"}),
        ("pending", "pending", {"type": "customer.updated", "outcome": "ignored"}),
    ]
    # A type of up to 255 characters is accepted; its record keeps the first 200.
    await _deliver(pool, "evt_long", type="t" * 255, order_id=order.id)
    assert (
        _count(
            database_url,
            "SELECT length(type) FROM processed_payment_events WHERE provider_event_id = 'evt_long'",
        )
        == 200
    )


ID_REFUSED = "the payment event id must be 1 to 255 characters"


@pytest.mark.parametrize(
    ("event_id", "event_type", "payment", "refused"),
    [
        ("e", SUCCEEDED, "pi_1", None),
        ("e" * 255, SUCCEEDED, "pi_1", None),
        ("", SUCCEEDED, "pi_1", ID_REFUSED),
        ("e" * 256, SUCCEEDED, "pi_1", ID_REFUSED),
        ("evt_\x00", SUCCEEDED, "pi_1", ID_REFUSED),
        ("evt_1", "payment_intent.\x00", "pi_1", "the payment event type must be text"),
        ("evt_1", SUCCEEDED, "pi_\x00", "the payment reference must be text"),
    ],
)
async def test_an_event_id_type_and_payment_reference_the_database_can_store_are_required(
    pool: AsyncConnectionPool, event_id: str, event_type: str, payment: str, refused: str | None
) -> None:
    # parse_event checks these for HTTP deliveries; apply_payment_event checks them for every caller.
    await events.create_event(pool, code="IDS1", name="Ids", capacity=4)
    order = await reserve(pool, "IDS1", 1)
    if refused is None:
        assert (await _pay(pool, order, event_id, event_type, payment=payment)).outcome == "paid"
        return
    with pytest.raises(InvalidInput) as caught:
        await _pay(pool, order, event_id, event_type, payment=payment)
    assert str(caught.value) == refused  # the whole message: it is the answer a caller reads
    assert (await orders.get_order(pool, order.id)).webhook_attempts == 0


@pytest.mark.parametrize("length", [MIN_MASTER_SECRET_BYTES - 1, MIN_MASTER_SECRET_BYTES])
async def test_a_master_secret_of_at_least_16_bytes_is_needed_to_confirm_a_payment(
    pool: AsyncConnectionPool, length: int
) -> None:
    await events.create_event(pool, code="SEC1", name="Secret", capacity=4)
    order = await reserve(pool, "SEC1", 1)
    event = PaymentEvent(
        id="evt_s", type=SUCCEEDED, order_id=order.id, payment_reference="pi_s", amount_cents=0,
        currency="EUR", event_code="SEC1",
    )  # fmt: skip
    policy = payments.PaymentPolicy(master_secret=b"s" * length)
    if length < MIN_MASTER_SECRET_BYTES:
        with pytest.raises(ConfigError) as caught:
            await payments.apply_payment_event(pool, event, policy=policy)
        assert str(caught.value) == (
            "TICKETGATE_MASTER_SECRET is not set: tickets cannot be signed without it"
        )
    else:
        assert (await payments.apply_payment_event(pool, event, policy=policy)).outcome == "paid"


@pytest.mark.parametrize("event_type", ["charge.refunded", "charge.dispute.created"])
async def test_a_refund_or_dispute_of_a_payment_never_recorded_and_naming_no_order_is_not_found(
    database_url: str, pool: AsyncConnectionPool, event_type: str
) -> None:
    # Answered 404, so that the provider delivers it again once the payment's own event is in.
    with pytest.raises(OrderNotFound, match="no recorded payment has the reference 'pi_nobody'"):
        await _deliver(pool, "evt_r", type=event_type, order_id=None, payment_reference="pi_nobody")
    assert _count(database_url, "SELECT count(*) FROM processed_payment_events") == 0
