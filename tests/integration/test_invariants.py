"""``backend.invariants``: each named check holds on a consistent sale and names what broke otherwise."""

from __future__ import annotations

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from backend import events
from backend.invariants import NO_OVERSELL, PAID_HAVE_TICKETS, STOCK_ADDS_UP, check_invariants
from tests.integration.conftest import reserve

pytestmark = pytest.mark.anyio


def failing(database_url: str) -> dict[str, tuple[str, ...]]:
    return {c.name: c.problems for c in check_invariants(database_url) if not c.ok}


async def test_a_consistent_sale_passes_and_broken_stock_or_tickets_are_named(
    database_url: str, pool: AsyncConnectionPool
) -> None:
    await events.create_event(pool, code="INVAR", name="Checked", capacity=5)
    await reserve(pool, "INVAR", 2)
    checks = check_invariants(database_url)
    assert [c.name for c in checks][:3] == [NO_OVERSELL, STOCK_ADDS_UP, PAID_HAVE_TICKETS]
    assert all(c.ok for c in checks), checks
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "UPDATE event_stock SET available = available + 1"
            " WHERE shard = 0 AND event_id = (SELECT id FROM events WHERE code = 'INVAR')"
        )
    broken = failing(database_url)
    assert list(broken) == [STOCK_ADDS_UP], broken
    assert "event INVAR: available" in broken[STOCK_ADDS_UP][0]
    with psycopg.connect(database_url) as conn:
        conn.execute("UPDATE orders SET status = 'paid', paid_at = now()")  # paid, no ticket issued
    assert PAID_HAVE_TICKETS in failing(database_url)
