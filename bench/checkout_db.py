"""Checkout at the database level: ``orders.reserve`` on one hot event vs spread over 64, vs a raw UPDATE.

No HTTP here (bench/flash_sale.py measures that): this isolates what the schema and the checkout
statements cost. In one run, against a fresh database: (1) the baseline, a raw single-statement
``UPDATE ... SET available = available - 1 WHERE available >= 1`` on one hot row, each in its own
transaction; (2) ``orders.reserve`` on one hot event until sold out; (3) the same on 64 events.
Prints reservations/s, p50/p99 latency, the ratios, and the tickets oversold (must be 0). The default
16 buyers (2 processes x 8) match the pgbench reference in issue 2 (16 clients).

    .venv/bin/python bench/checkout_db.py [--capacity 20000] [--concurrency 8] [--processes 2]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import multiprocessing
import os
import random
import shlex
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from backend import events, orders
from backend.db import make_pool, migrate
from backend.errors import SoldOut

BASE_URL = os.environ.get("TICKETGATE_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
SPREAD_EVENTS = 64


BUYERS = itertools.count()


def _url(name: str) -> str:
    base, _, _ = BASE_URL.rpartition("/")
    return f"{base}/{name}"


async def _buyers(
    url: str, codes: list[str], concurrency: int, mode: str, seed: int
) -> tuple[int, list[float]]:
    """Buy one ticket at a time from random events of ``codes`` until all are sold out."""
    rng = random.Random(seed)
    latencies: list[float] = []
    sold_out: set[str] = set()
    async with make_pool(url, min_size=concurrency, max_size=concurrency) as pool:
        await pool.wait()

        async def buyer() -> None:
            while len(sold_out) < len(codes):
                code = rng.choice([c for c in codes if c not in sold_out])
                started = time.perf_counter()
                try:
                    if mode == "raw":
                        async with pool.connection() as conn:
                            cur = await conn.execute(
                                "UPDATE raw_stock SET available = available - 1"
                                " WHERE code = %s AND available >= 1 RETURNING available",
                                (code,),
                            )
                            if await cur.fetchone() is None:
                                raise SoldOut(code)
                    else:
                        await orders.reserve(
                            pool,
                            event_code=code,
                            quantity=1,
                            email=f"bench{next(BUYERS)}@example.org",  # one hold each: under the hold limit
                            idempotency_key=None,
                            hold_seconds=900,
                            max_per_order=10,
                            max_pending_per_email=10,
                        )
                except SoldOut:
                    sold_out.add(code)
                    continue
                latencies.append(time.perf_counter() - started)

        await asyncio.gather(*(buyer() for _ in range(concurrency)))
    return len(latencies), latencies


def _process(args: tuple[str, list[str], int, str, int, Any]) -> tuple[int, list[float]]:
    url, codes, concurrency, mode, seed, barrier = args
    barrier.wait()
    return asyncio.run(_buyers(url, codes, concurrency, mode, seed))


def _phase(url: str, codes: list[str], *, concurrency: int, processes: int, mode: str) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager:
        barrier = manager.Barrier(processes + 1)
        with ctx.Pool(processes) as workers:
            pending = workers.map_async(
                _process, [(url, codes, concurrency, mode, n, barrier) for n in range(processes)]
            )
            barrier.wait()
            started = time.perf_counter()
            results = pending.get()
            elapsed = time.perf_counter() - started
    latencies = sorted(lat for _, lats in results for lat in lats)
    count = len(latencies)
    return {
        "count": count,
        "seconds": elapsed,
        "rate": count / elapsed,
        "p50": statistics.median(latencies) * 1000,
        "p99": latencies[int(0.99 * (count - 1))] * 1000,
    }


async def _setup(url: str, capacity: int) -> None:
    await migrate(url)
    async with make_pool(url, min_size=1, max_size=2) as pool:
        await events.create_event(pool, code="HOT1", name="Hot", capacity=capacity)
        per_event = capacity // SPREAD_EVENTS
        for n in range(SPREAD_EVENTS):
            await events.create_event(pool, code=f"SPR{n:03d}", name="Spread", capacity=per_event)
    with psycopg.connect(url) as conn:
        conn.execute("CREATE TABLE raw_stock (code text PRIMARY KEY, available integer NOT NULL)")
        conn.execute("INSERT INTO raw_stock VALUES ('RAW1', %s)", (capacity,))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--capacity", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent buyers per process")
    parser.add_argument("--processes", type=int, default=2, help="buyer processes (each with its own pool)")
    args = parser.parse_args()
    name = f"tg_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(BASE_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = _url(name)
    try:
        asyncio.run(_setup(url, args.capacity))
        opts = {"concurrency": args.concurrency, "processes": args.processes}
        raw = _phase(url, ["RAW1"], mode="raw", **opts)
        hot = _phase(url, ["HOT1"], mode="reserve", **opts)
        spread = _phase(url, [f"SPR{n:03d}" for n in range(SPREAD_EVENTS)], mode="reserve", **opts)
        with psycopg.connect(url) as conn:
            oversold = conn.execute(
                "SELECT coalesce(sum(greatest(o.q - e.capacity, 0)), 0) FROM events e JOIN"
                " (SELECT event_id, sum(quantity) AS q FROM orders GROUP BY event_id) o ON o.event_id = e.id"
            ).fetchone()[0]  # type: ignore[index]
            sold = conn.execute("SELECT coalesce(sum(quantity), 0) FROM orders").fetchone()[0]  # type: ignore[index]
    finally:
        with psycopg.connect(BASE_URL, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    buyers = args.concurrency * args.processes
    print(
        f"checkout at the database level: {buyers} concurrent buyers ({args.processes} processes), quantity 1"
    )
    for label, r in (
        ("raw UPDATE, 1 hot row", raw),
        ("reserve, 1 hot event", hot),
        ("reserve, 64 events", spread),
    ):
        print(
            f"  {label:<24} {r['count']:>6} in {r['seconds']:5.1f} s: {r['rate']:7.0f}/s,"
            f" p50 {r['p50']:6.1f} ms, p99 {r['p99']:6.1f} ms"
        )
    print(f"  hot/spread ratio         {hot['rate'] / spread['rate']:.2f}")
    print(f"  hot reserve / raw UPDATE {hot['rate'] / raw['rate']:.2f}")
    on_sale = args.capacity + (args.capacity // SPREAD_EVENTS) * SPREAD_EVENTS
    print(f"  sold {sold} of {on_sale}; oversold {oversold}")
    print(f"  load average (1, 5, 15 min): {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    python = sys.executable.replace(str(Path.cwd()) + "/", "")
    print(f"  reproduce: cd {Path.cwd()} && {shlex.join([python, *sys.argv])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
