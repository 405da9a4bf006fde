"""The operator's money commands as run from a shell: cancel, refund (through a Stripe stand-in speaking
the real refund endpoint), attention, refund-due."""

from __future__ import annotations

import asyncio
import json

import psycopg

from backend import events, payments
from backend.db import make_pool
from backend.orders import Order
from tests.integration.conftest import assert_invariants, paid_event, policy, reserve
from tests.integration.fake_stripe import fake_stripe
from tests.integration.test_backend_cli import MASTER, _env, ticketgate


async def _paid_order(database_url: str, code: str, *, second_payment: bool = False) -> Order:
    async with make_pool(database_url, min_size=1, max_size=2) as pool:
        await events.create_event(pool, code=code, name=code, capacity=10, price_cents=2000)
        order = await reserve(pool, code, 2, email="cli@example.org")
        await payments.apply_payment_event(
            pool, paid_event(order, f"evt_{code}"), policy=policy(MASTER.encode())
        )
        if second_payment:
            await payments.apply_payment_event(
                pool, paid_event(order, f"evt_{code}_2"), policy=policy(MASTER.encode())
            )
        return order


def test_orders_refund_asks_stripe_first_with_an_idempotency_key_then_revokes_the_tickets(
    database_url: str,
) -> None:
    order = asyncio.run(_paid_order(database_url, "STRIPE1"))
    with fake_stripe() as stripe:
        env = _env(
            database_url, TICKETGATE_STRIPE_API_KEY="sk_test_fake", TICKETGATE_STRIPE_API_BASE=stripe.base
        )
        done = ticketgate("orders", "refund", str(order.id), env=env)
        assert done.returncode == 0, done.stderr
        assert "refunded 40.00 EUR of payment pi_evt_STRIPE1" in done.stdout and "now refunded" in done.stdout
        [sent] = stripe.requests
        assert sent["path"] == "/v1/refunds" and sent["content_type"] == "application/x-www-form-urlencoded"
        assert sent["authorization"] == "Bearer sk_test_fake" and sent["idempotency_key"]
        assert sent["form"] == {
            "payment_intent": "pi_evt_STRIPE1",
            "amount": "4000",
            "metadata[order_id]": str(order.id),
        }
        # Nothing more is due: a second run refuses, and asks Stripe nothing.
        again = ticketgate("orders", "refund", str(order.id), env=env)
        assert again.returncode == 2 and len(stripe.requests) == 1
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT status FROM orders").fetchall() == [("refunded",)]
        assert conn.execute("SELECT DISTINCT status FROM tickets").fetchall() == [("revoked",)]
        assert conn.execute("SELECT status, refunded_cents FROM payments").fetchall() == [("refunded", 4000)]
    assert_invariants(database_url)


def test_a_refund_stripe_refuses_changes_nothing(database_url: str) -> None:
    order = asyncio.run(_paid_order(database_url, "STRIPE2"))
    with fake_stripe() as stripe:
        stripe.refuse.add("pi_evt_STRIPE2")
        env = _env(
            database_url, TICKETGATE_STRIPE_API_KEY="sk_test_fake", TICKETGATE_STRIPE_API_BASE=stripe.base
        )
        refused = ticketgate("orders", "refund", str(order.id), env=env)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "Stripe did not refund payment pi_evt_STRIPE2" in refused.stderr
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT status FROM orders").fetchall() == [("paid",)]
    assert_invariants(database_url)


def test_cancel_a_paid_order_then_refund_its_second_payment_and_the_order(database_url: str) -> None:
    order = asyncio.run(_paid_order(database_url, "CANC2", second_payment=True))
    env = _env(database_url)
    flagged = json.loads(ticketgate("orders", "attention", "--json", env=env).stdout)
    assert [(f["id"], f["attention"]) for f in flagged] == [(str(order.id), "double_payment")]
    due = json.loads(ticketgate("orders", "refund-due", "--json", env=env).stdout)
    assert [(d["payment_reference"], d["due_cents"]) for d in due] == [("pi_evt_CANC2_2", 4000)]
    only_second = ticketgate("orders", "refund", str(order.id), "--payment", "pi_evt_CANC2_2", env=env)
    assert only_second.returncode == 0, only_second.stderr
    assert "now paid" in only_second.stdout
    cancelled = ticketgate("orders", "cancel", str(order.id), "--reason", "show moved", env=env)
    assert cancelled.returncode == 0 and "now refund_due" in cancelled.stdout
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT DISTINCT status, revoked_reason FROM tickets").fetchall() == [
            ("revoked", "order cancelled: show moved")
        ]
    assert_invariants(database_url)
    refunded = ticketgate("orders", "refund", str(order.id), env=env)
    assert refunded.returncode == 0 and "now refunded" in refunded.stdout
    assert json.loads(ticketgate("orders", "refund-due", "--json", env=env).stdout) == []
    cleared = ticketgate("orders", "attention", "--clear", str(order.id), "--note", "refunded twice", env=env)
    assert cleared.returncode == 0
    assert ticketgate("orders", "attention", env=env).stdout.strip() == "no orders need attention"
    bad = ticketgate("orders", "cancel", "not-an-id", env=env)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    assert_invariants(database_url)
