"""Re-signing every ticket while refunds, cancellations and payments of the same orders race it (real
threads on the real database), then the invariants: no revocation undone, no ticket lost or doubled,
every valid ticket on the current key version and verifying with it, the old versions retired."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from backend import cancellations, events, key_rotation, orders, payments
from backend.webhooks import PaymentEvent
from tests.integration.conftest import assert_invariants, reserve, run_in_threads
from ticketcode import derive_verify_key, find_signing_key, parse_code

pytestmark = pytest.mark.anyio

MASTER = b"rotation-race-master-secret-0123"
POLICY = payments.PaymentPolicy(master_secret=MASTER)


async def _pay(pool: AsyncConnectionPool, order: orders.Order) -> payments.PaymentOutcome:
    event = PaymentEvent(
        id=f"evt_{uuid.uuid4().hex}",
        type="payment_intent.succeeded",
        order_id=order.id,
        payment_reference=f"pi_{order.id}",
        amount_cents=order.amount_cents,
        currency=order.currency,
        event_code=order.event_code,
    )
    return await payments.apply_payment_event(pool, event, policy=POLICY)


@pytest.mark.parametrize("scheme", ["hmac", "ed25519"])
async def test_reissue_racing_refunds_cancellations_and_payments_keeps_every_invariant(
    database_url: str, pool: AsyncConnectionPool, monkeypatch: pytest.MonkeyPatch, scheme: str
) -> None:
    # Small batches: many transactions, so the refunds land between, inside and after them.
    monkeypatch.setattr(key_rotation, "REISSUE_BATCH_ORDERS", 3)
    code = f"RACE{scheme[:2].upper()}"
    await events.create_event(
        pool, code=code, name="Rotation race", capacity=200, price_cents=1000, signing=scheme
    )
    paid = []
    for n in range(30):
        order = await reserve(pool, code, 1 + n % 3)
        outcome = await _pay(pool, order)
        assert outcome.outcome == "paid"
        paid.append(outcome.order)
    pending = [await reserve(pool, code, 2) for _ in range(6)]
    before = _tickets(database_url, code)

    refunded, cancelled = paid[::3], paid[1::3]
    jobs: list[Callable[[AsyncConnectionPool], Awaitable[Any]]] = [
        lambda p: key_rotation.rotate_key(p, code, master_secret=MASTER, reissue=True)
    ]
    jobs += [lambda p, o=o: cancellations.refund_order(p, o.id, actor="race") for o in refunded]
    jobs += [
        lambda p, o=o: cancellations.cancel_order(p, o.id, actor="race", allow_paid=True) for o in cancelled
    ]
    jobs += [lambda p, o=o: _pay(p, o) for o in pending]
    results = run_in_threads(database_url, jobs, threads=4, connections_per_thread=3)
    failures = [r for r in results if isinstance(r, Exception)]
    assert not failures, failures
    rotation = results[0]
    assert isinstance(rotation, key_rotation.Rotation)

    assert_invariants(database_url)
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT key_version, retired_below FROM events WHERE code = %s", (code,)
        ).fetchone()
    assert row == (2, 2)  # every older version retired, and only after nothing valid was left on it
    current = derive_verify_key(MASTER, code, 2, scheme=scheme)
    after = _tickets(database_url, code)
    # No ticket lost, none added but the racing payments', serials and orders unchanged.
    assert {k: v[:2] for k, v in before.items()} == {k: after[k][:2] for k in before}
    assert len(after) == len(before) + 2 * len(pending)
    assert len({t[3] for t in after.values()}) == len(after)  # codes unique
    for order in refunded + cancelled:
        assert all(t[2] == "revoked" for t in after.values() if t[0] == str(order.id)), order.id
    for serial, (order_id, _, status, ticket_code, version) in after.items():
        if status == "valid":
            # On the current version and verifying with it; its number is still its number.
            assert version == 2, (serial, order_id)
            parsed = parse_code(ticket_code)
            assert parsed.serial == serial and find_signing_key(parsed, [current]) == current
    revoked_before = {s for s, t in before.items() if t[2] == "revoked"}
    assert all(after[s][2] == "revoked" for s in revoked_before)


def _tickets(database_url: str, code: str) -> dict[int, tuple[str, int, str, str, int | None]]:
    """serial -> (order id, serial, status, code, key version) of the event's tickets."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT t.serial, t.order_id::text, t.serial, t.status, t.code, t.key_version FROM tickets t"
            " JOIN events e ON e.id = t.event_id WHERE e.code = %s",
            (code,),
        ).fetchall()
    return {r[0]: (r[1], r[2], r[3], r[4], r[5]) for r in rows}
