"""The backend through a real PgBouncer in transaction mode (``tests/integration/pgbouncer.py``): the
migrations, a checkout race, duplicated payment webhooks, two gates pushing and pulling — everything
through few shared server connections — and then the invariants, read directly from PostgreSQL.

With ``TICKETGATE_DATABASE_POOLER`` off the backend cannot even connect (PgBouncer refuses the
``options`` start-up parameter), and psycopg's automatic prepared statements collide on a shared
server connection: the two tests at the end show both, so the setting is needed, not decorative.
"""

from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import httpx
import psycopg
import pytest

from backend.db import connection_options, migrate
from backend.errors import DatabaseUnavailable
from monitor.source import DatabaseSource
from tests.integration.conftest import assert_invariants
from tests.integration.live_server import live_server, settings_for, signed_webhook
from tests.integration.pgbouncer import pgbouncer
from tests.integration.synckit import T0, create_event, paired_gate
from ticketcode.sync_protocol import MovementChange, TicketChange

CAPACITY = 30
BUYERS = 60


def test_migrations_apply_once_through_pgbouncer_even_when_run_at_once(empty_database_url: str) -> None:
    with pgbouncer(empty_database_url) as url:

        async def three_at_once() -> list[list[str]]:
            return await asyncio.gather(*(migrate(url, pooler=True) for _ in range(3)))

        runs = asyncio.run(three_at_once())
        applied = sorted(version for run in runs for version in run)
        assert applied == sorted(set(applied)) and len(applied) >= 4, runs
        assert asyncio.run(migrate(url, pooler=True)) == []


def test_sale_payments_and_sync_through_pgbouncer_keep_every_invariant(
    database_url: str, tmp_path: Path
) -> None:
    with (
        pgbouncer(database_url, pool_size=3) as through,
        live_server(settings_for(through, tmp_path, database_pooler=True), pool_max_size=12) as base,
    ):
        create_event(base, "BOUNCE1", capacity=CAPACITY)

        def buy(n: int) -> httpx.Response:
            return httpx.post(
                f"{base}/api/events/BOUNCE1/orders",
                json={"quantity": 1, "email": f"buyer{n}@example.org"},
                timeout=30,
            )

        with ThreadPoolExecutor(max_workers=20) as threads:
            answers = list(threads.map(buy, range(BUYERS)))
        statuses = sorted(answer.status_code for answer in answers)
        assert statuses == [201] * CAPACITY + [409] * (BUYERS - CAPACITY), statuses
        orders = [answer.json() for answer in answers if answer.status_code == 201]

        # Ten orders paid, each webhook delivered three times at once.
        def pay(delivery: tuple[int, dict[str, object]]) -> str:
            n, order = delivery
            body, headers = signed_webhook(f"evt_bounce_{n}", order)
            paid = httpx.post(f"{base}/api/payments/webhook", content=body, headers=headers, timeout=30)
            assert paid.status_code == 200, paid.text
            outcome: str = paid.json()["outcome"]
            return outcome

        with ThreadPoolExecutor(max_workers=12) as threads:
            outcomes = list(
                threads.map(pay, [(n, order) for n, order in enumerate(orders[:10]) for _ in range(3)])
            )
        assert outcomes.count("paid") == 10 and outcomes.count("duplicate") == 20, outcomes

        gate_a = paired_gate(base, database_url, "BOUNCE1", "Gate A")
        gate_b = paired_gate(base, database_url, "BOUNCE1", "Gate B")
        tickets = {c.serial: c for c in gate_a.pull() if isinstance(c, TicketChange)}
        assert len(tickets) == 10 and all(t.status == "valid" for t in tickets.values())
        codes = [t.code for t in tickets.values()][:4]
        gate_a.push([gate_a.scan(code) for code in codes])
        movements = [c for c in gate_b.pull() if isinstance(c, MovementChange)]
        assert len(movements) == 4
        # More rounds than psycopg's prepare threshold, on shared server connections.
        for code in codes[:3]:
            gate_b.push([gate_b.scan(code, direction="out", at=T0 + timedelta(minutes=5))])
            (moved,) = gate_a.pull()
            assert isinstance(moved, MovementChange) and (moved.gate, moved.direction) == ("Gate B", "out")

        # The organiser's dashboard reads through it too, refresh after refresh.
        async def watch() -> list[tuple[int, int, int]]:
            source = DatabaseSource(through, "BOUNCE1", pooler=True)
            try:
                return [
                    (snap.stock.sold, snap.stock.held, snap.inside)
                    for snap in [await source.fetch() for _ in range(7)]
                ]
            finally:
                await source.close()

        assert asyncio.run(watch()) == [(10, CAPACITY - 10, 1)] * 7

    assert_invariants(database_url)
    with psycopg.connect(database_url) as conn:
        scans = conn.execute("SELECT count(*) FROM scans").fetchone()
    assert scans == (7,)


def test_without_the_pooler_setting_the_backend_cannot_connect_through_pgbouncer(database_url: str) -> None:
    with pgbouncer(database_url) as through:
        with pytest.raises(psycopg.OperationalError, match="unsupported startup parameter: options"):
            psycopg.connect(through, **connection_options(pooler=False)).close()
        with pytest.raises(DatabaseUnavailable, match="unsupported startup parameter"):
            asyncio.run(migrate(through))


def test_prepared_statements_collide_on_a_shared_server_connection(database_url: str) -> None:
    """Why ``prepare_threshold=None`` through a pooler: two clients on one server connection both
    prepare their 6th query under psycopg's first statement name."""
    with pgbouncer(database_url, pool_size=1) as through:
        query = f"SELECT %s::text AS tag_{uuid.uuid4().hex}"
        with (
            psycopg.connect(through) as first,
            psycopg.connect(through) as second,
            pytest.raises(psycopg.errors.DuplicatePreparedStatement),
        ):
            for n in range(6):
                first.execute(query, (str(n),))
                first.commit()
                second.execute(query, (str(n),))
                second.commit()
        pooled = connection_options(pooler=True)
        with psycopg.connect(through, **pooled) as first, psycopg.connect(through, **pooled) as second:
            for n in range(10):
                for conn in (first, second):
                    assert conn.execute(query, (str(n),)).fetchone() == (str(n),)
                    conn.commit()
