"""A known day for the organiser's dashboard, built with the backend's own functions on a real database:
orders in each state, two paired gates and one waiting, entries from both gates and a conflict.

``build(pool)`` returns what the dashboard should show of it (``Expected``). Times are relative to
now, so the per-minute plots have something to show; tests compare minute ages against the snapshot's
own ``taken_at`` (the database's clock).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from psycopg_pool import AsyncConnectionPool

from backend import cancellations, devices, events, orders, payments, reaper, scan_ingest
from tests.integration.conftest import paid_event
from ticketcode.sync_protocol import ScanUpload

EVENT = "MONDAY1"
CAPACITY = 20
PRICE_CENTS = 1500
POLICY = payments.PaymentPolicy(master_secret=b"test-master-secret-0123456789abcdef")


@dataclass(frozen=True)
class Expected:
    sold: int
    held: int
    pending_orders: int
    expiring: UUID  # the one order whose hold ends within 5 minutes
    mismatched: UUID  # flagged payment_mismatch
    refund_due: UUID  # paid, then cancelled by the operator
    first_entry_at: datetime  # Gate A's entry of serial 1, the conflict's first scan
    entries: dict[str, list[datetime]]  # gate -> entry times
    inside: int
    conflict_code: str


async def _reserve(pool: AsyncConnectionPool, quantity: int, *, hold_seconds: int = 900) -> orders.Order:
    return await orders.reserve(
        pool,
        event_code=EVENT,
        quantity=quantity,
        email=f"buyer{quantity}-{hold_seconds}@example.org",
        idempotency_key=None,
        hold_seconds=hold_seconds,
        max_per_order=10,
        max_pending_per_email=10,
    )


async def _paired(pool: AsyncConnectionPool, name: str) -> devices.Device:
    pairing = await devices.add_device(pool, event_code=EVENT, name=name)
    return (await devices.pair_device(pool, pairing.code)).device


def _entry(
    gate: devices.Device, scan_id: int, code: str, at: datetime, *, direction: str = "in"
) -> ScanUpload:
    event, serial, _ = code.split("-")
    return ScanUpload(
        id=scan_id,
        scanned_at=at,
        gate=gate.name,
        direction="out" if direction == "out" else "in",
        verdict="ADMIT",
        reason="first entry",
        source="camera",
        clock_offset_ms=0,
        code=code,
        event=event,
        serial=int(serial),
    )


async def build(pool: AsyncConnectionPool) -> Expected:
    await events.create_event(
        pool, code=EVENT, name="Monday Live", capacity=CAPACITY, price_cents=PRICE_CENTS
    )
    paid = await _reserve(pool, 2)
    await payments.apply_payment_event(pool, paid_event(paid, "evt_paid"), policy=POLICY)
    await _reserve(pool, 1)  # pending, hold 15 minutes
    expiring = await _reserve(pool, 1, hold_seconds=120)
    mismatched = await _reserve(pool, 3)
    await payments.apply_payment_event(
        pool, paid_event(mismatched, "evt_short", amount=mismatched.amount_cents - 100), policy=POLICY
    )
    refunded = await _reserve(pool, 4)
    await payments.apply_payment_event(pool, paid_event(refunded, "evt_refunded"), policy=POLICY)
    await cancellations.cancel_order(pool, refunded.id, actor="test", allow_paid=True, return_stock=True)
    abandoned = await _reserve(pool, 5, hold_seconds=1)
    await asyncio.sleep(1.2)
    assert await reaper.reap_all(pool) == 1, "the abandoned order expires"
    assert abandoned.status.value == "pending"

    async with pool.connection() as conn:
        cur = await conn.execute("SELECT code FROM tickets WHERE order_id = %s ORDER BY serial", (paid.id,))
        first, second = [row[0] for row in await cur.fetchall()]

    gate_a = await _paired(pool, "Gate A")
    gate_b = await _paired(pool, "Gate B")
    await devices.add_device(pool, event_code=EVENT, name="Gate C")  # never pairs
    now = datetime.now(UTC)
    a_first, a_second = now - timedelta(minutes=3), now - timedelta(minutes=1)
    b_first, b_out = now - timedelta(seconds=30), now - timedelta(seconds=20)
    await scan_ingest.ingest_scans(
        pool, gate_a, [_entry(gate_a, 1, first, a_first), _entry(gate_a, 2, second, a_second)]
    )
    # Gate B lets serial 1 in again while it is inside (a conflict), and lets serial 2 out.
    await scan_ingest.ingest_scans(
        pool,
        gate_b,
        [
            _entry(gate_b, 1, first, b_first),
            _entry(gate_b, 2, second, b_out, direction="out"),
            ScanUpload(
                id=3,
                scanned_at=b_out,
                gate=gate_b.name,
                direction="in",
                verdict="INVALID",
                reason="forged",
                source="camera",
                clock_offset_ms=0,
            ),
        ],
    )
    await devices.record_pull(pool, gate_a.id, caught_up=True)
    return Expected(
        sold=2,
        held=1 + 1 + 3,
        pending_orders=3,
        expiring=expiring.id,
        mismatched=mismatched.id,
        refund_due=refunded.id,
        first_entry_at=a_first,
        entries={"Gate A": [a_first, a_second], "Gate B": [b_first]},
        inside=1,
        conflict_code=first,
    )
