"""The dashboard's snapshot query against a real PostgreSQL holding a known day
(``dashboard_scenario``): every figure the organiser sees, from one read-only transaction."""

from __future__ import annotations

from datetime import datetime

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from backend.dashboard import SERIES_MINUTES
from backend.dashboard_queries import take_snapshot
from backend.errors import EventNotFound
from tests.integration import dashboard_scenario
from tests.integration.conftest import assert_invariants

pytestmark = pytest.mark.anyio


def _minute_age(moment: datetime, now: datetime) -> int:
    return int(
        (now.replace(second=0, microsecond=0) - moment.replace(second=0, microsecond=0)).total_seconds() // 60
    )


async def test_snapshot_shows_stock_orders_gates_and_conflicts_of_a_known_day(
    pool: AsyncConnectionPool, database_url: str
) -> None:
    expected = await dashboard_scenario.build(pool)
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        snap = await take_snapshot(conn, dashboard_scenario.EVENT.lower())

    assert (snap.event_code, snap.event_name) == (dashboard_scenario.EVENT, "Monday Live")
    stock = snap.stock
    assert (stock.capacity, stock.sold, stock.held) == (
        dashboard_scenario.CAPACITY,
        expected.sold,
        expected.held,
    )
    assert stock.capacity == stock.available + stock.held + stock.sold + stock.withdrawn
    # Tickets issued this minute or the one before (the paid order's 2, the refunded order's 4).
    assert len(snap.sales_per_minute) == SERIES_MINUTES
    assert sum(snap.sales_per_minute) == 6 == sum(snap.sales_per_minute[-2:])

    assert snap.pending_orders == expected.pending_orders
    assert snap.expiring_count == 1
    assert [order.id for order in snap.expiring] == [expected.expiring]

    why = {order.id: order.why for order in snap.attention}
    assert why == {expected.mismatched: "payment_mismatch", expected.refund_due: "refund_due"}
    due = {order.id: order.due_cents for order in snap.attention}
    assert due[expected.refund_due] == 4 * dashboard_scenario.PRICE_CENTS

    devices = {device.name: device for device in snap.devices}
    assert set(devices) == {"Gate A", "Gate B", "Gate C"}
    assert devices["Gate A"].online and devices["Gate A"].last_sync_at is not None
    assert devices["Gate B"].online and devices["Gate B"].last_sync_at is None
    assert devices["Gate C"].state == "waiting" and not devices["Gate C"].online
    assert (devices["Gate A"].scans, devices["Gate B"].scans, devices["Gate C"].scans) == (2, 3, 0)

    entries = {gate.gate: gate for gate in snap.entries}
    assert set(entries) == set(expected.entries)
    for gate, times in expected.entries.items():
        assert entries[gate].total == len(times)
        want = [0] * SERIES_MINUTES
        for at in times:
            want[SERIES_MINUTES - 1 - _minute_age(at, snap.taken_at)] += 1
        assert list(entries[gate].per_minute) == want, gate
    assert snap.admitted == 3
    assert snap.inside == expected.inside

    assert snap.conflict_count == 1
    (conflict,) = snap.conflicts
    assert (conflict.code, conflict.first_gate, conflict.second_gate) == (
        expected.conflict_code,
        "Gate A",
        "Gate B",
    )
    assert abs((conflict.first_at - expected.first_entry_at).total_seconds()) < 0.001
    assert_invariants(database_url)


async def test_snapshot_of_an_event_with_nothing_yet_is_all_zeros(
    pool: AsyncConnectionPool, database_url: str
) -> None:
    from backend import events

    await events.create_event(pool, code="EMPTY1", name="Nothing yet", capacity=5)
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        snap = await take_snapshot(conn, "EMPTY1")
    assert snap.stock.available == 5 and snap.stock.sold == snap.stock.held == 0
    assert snap.sales_per_minute == (0,) * SERIES_MINUTES
    assert (snap.pending_orders, snap.expiring, snap.attention, snap.devices, snap.entries) == (
        0,
        (),
        (),
        (),
        (),
    )
    assert (snap.admitted, snap.inside, snap.conflict_count, snap.conflicts) == (0, 0, 0, ())


async def test_snapshot_is_read_only_and_refuses_an_unknown_event(database_url: str) -> None:
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        with pytest.raises(EventNotFound):
            await take_snapshot(conn, "NOSUCH1")
        # The connection is usable afterwards: the failed snapshot's transaction was rolled back.
        cur = await conn.execute("SHOW transaction_read_only")
        assert (await cur.fetchone()) == ("off",)
