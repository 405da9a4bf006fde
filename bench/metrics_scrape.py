"""What a /metrics scrape and a /readyz probe cost the database with many orders.

Makes its own database, migrates it, creates 64 events and inserts ``--orders`` orders straight in SQL
(2 % pending, a tenth of them overdue; 70 % paid; 20 % expired; the rest cancelled or refunded), then
times, median of ``--rounds``: the statement of every /metrics scrape (pending and refund_due orders,
tickets by state, reaper lag), the count of every status (at most once a minute), the /readyz one,
and as the baseline a plain ``SELECT count(*) FROM orders`` (the least any exact count of all orders
must do).

    .venv/bin/python bench/metrics_scrape.py [--orders 1000000] [--rounds 15]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shlex
import statistics
import sys
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backend.db import make_pool, migrate
from backend.events import create_event
from backend.health import STATE_QUERY as READY_STATEMENT
from backend.metrics import ALL_STATUSES_QUERY, SCRAPE_QUERY

DEFAULT_BASE_URL = "postgresql://postgres@127.0.0.1:5432/test"

_FILL = """
INSERT INTO orders (event_id, status, quantity, amount_cents, currency, email, expires_at, paid_at,
                    alloc_shards, alloc_quantities)
SELECT e.id,
       CASE WHEN mod(g, 50) = 0 THEN 'pending' WHEN mod(g, 10) < 7 THEN 'paid'
            WHEN mod(g, 10) < 9 THEN 'expired' WHEN mod(g, 2) = 0 THEN 'cancelled' ELSE 'refunded' END,
       1, 0, 'EUR', 'b' || g || '@example.com',
       -- a tenth of the pending orders are overdue (the reaper is off): the lag has work to do
       CASE WHEN mod(g, 500) = 0 THEN now() - interval '1 hour' ELSE now() + interval '1 hour' END,
       now(), ARRAY[0]::smallint[], ARRAY[1]
  FROM generate_series(1, %s) AS g
  JOIN events e ON e.code = 'SCRAPE' || lpad(mod(g, 64)::text, 2, '0')
"""


def with_database(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


def timed(conn: psycopg.Connection, statement: str, rounds: int) -> float:
    """Median milliseconds of ``statement`` over ``rounds`` runs (after one warm-up run)."""
    conn.execute(statement).fetchall()
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        conn.execute(statement).fetchall()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


async def prepare(url: str) -> None:
    await migrate(url)
    async with make_pool(url, min_size=1, max_size=2) as pool:
        for i in range(64):
            await create_event(pool, code=f"SCRAPE{i:02d}", name=f"Scrape {i}", capacity=1_000_000)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--orders", type=int, default=1_000_000, help="orders to insert (default: 1,000,000)")
    parser.add_argument("--rounds", type=int, default=15, help="timed runs of each statement (default: 15)")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("TICKETGATE_TEST_DATABASE_URL", DEFAULT_BASE_URL),
        help="a PostgreSQL database to create the benchmark's own database from",
    )
    args = parser.parse_args()
    where = shlex.quote(str(Path(__file__).resolve().parents[1]))
    reproduce = f"cd {where} && .venv/bin/python bench/metrics_scrape.py {shlex.join(sys.argv[1:])}".rstrip()
    name = f"tg_scrape_{secrets.token_hex(4)}"
    with psycopg.connect(args.database_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')  # a generated identifier, not user input
    url = with_database(args.database_url, name)
    try:
        asyncio.run(prepare(url))
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(_FILL, (args.orders,))
            conn.execute("VACUUM ANALYZE orders")
            conn.execute("VACUUM ANALYZE event_stock")
            baseline = timed(conn, "SELECT count(*) FROM orders", args.rounds)
            scrape = timed(conn, SCRAPE_QUERY, args.rounds)
            all_statuses = timed(conn, ALL_STATUSES_QUERY, args.rounds)
            ready = timed(conn, READY_STATEMENT, args.rounds)
    finally:
        with psycopg.connect(args.database_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    load = os.getloadavg()
    print(f"database statements of /metrics and /readyz with {args.orders:,} orders, median of {args.rounds}")
    print(f"  /metrics, every scrape: pending, refund_due, tickets, lag   {scrape:8.2f} ms")
    print(
        f"  /metrics, once a minute: every status   {all_statuses:8.1f} ms"
        f"   (x{all_statuses / baseline:.2f} of the baseline)"
    )
    print(f"  /readyz statement    {ready:8.2f} ms")
    print(f"  baseline: SELECT count(*) FROM orders   {baseline:8.1f} ms")
    print(f"  load average (1, 5, 15 min): {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    print(f"  reproduce: {reproduce}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
