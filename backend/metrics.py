"""What ``GET /metrics`` reports, in Prometheus' text format (``prometheus-client``).

Counted where it happens, in each server process (cheap: a lock and an add): checkouts by outcome,
tickets reserved, checkout latency, payment webhooks by type and outcome, sync requests and scans
received by device. Read from the database when scraped, by the process that serves the scrape:
pending and refund_due orders, tickets by state, reaper lag (through indexes and the small stock
table), and every other order status at most once a minute (a count over the whole orders table).
Refreshed every few seconds in each process: the database pool's use.

With ``ticketgate server --workers N`` the server points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh
folder before it starts the workers (prometheus-client's multi-process mode: each process writes its
values to files there), so any worker's answer adds up every worker; the folder is removed at exit.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import psycopg
import psycopg_pool
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector

log = logging.getLogger(__name__)

MULTIPROCESS_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
SCRAPE_TIMEOUT_SECONDS = 3.0

CHECKOUTS = Counter(
    "ticketgate_checkouts",
    "Checkout requests by outcome: reserved, sold_out, hold_limit, rate_limited, invalid_input, ...",
    ["outcome"],
)
TICKETS_RESERVED = Counter(
    "ticketgate_tickets_reserved",
    "Tickets in the orders checkouts answered (a retry with its Idempotency-Key again)",
)
CHECKOUT_SECONDS = Histogram(
    "ticketgate_checkout_seconds",
    "Time from a checkout request's start to its answer, whatever the outcome",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
WEBHOOKS = Counter(
    "ticketgate_webhooks",
    "Payment provider deliveries by event type and outcome (paid, duplicate, refund_due, bad_signature, ...)",
    ["type", "outcome"],
)
SYNC_REQUESTS = Counter(
    "ticketgate_sync_requests",
    "Gate sync requests by event, device and kind (pull, push)",
    ["event", "device", "kind"],
)
SCANS_INGESTED = Counter(
    "ticketgate_scans_ingested",
    "Scans received in gate uploads by event and device (stored once each; a re-sent scan counts again)",
    ["event", "device"],
)
POOL_CONNECTIONS = Gauge(
    "ticketgate_db_pool_connections",
    "Database connections of the server's pools (all processes) by state: in_use, idle, max",
    ["state"],
    multiprocess_mode="livesum",
)
POOL_WAITING = Gauge(
    "ticketgate_db_pool_waiting",
    "Requests waiting for a database connection (all processes)",
    multiprocess_mode="livesum",
)

# Read at every scrape, cheaply: the pending and refund_due orders through their partial indexes, the
# stock rows (16 per event), the reaper's lag through its index.
SCRAPE_QUERY = """
SELECT (SELECT count(*) FROM orders WHERE status = 'pending') AS pending,
       (SELECT count(*) FROM orders WHERE status = 'refund_due') AS refund_due,
       (SELECT jsonb_build_object('available', coalesce(sum(available), 0), 'held', coalesce(sum(held), 0),
                                  'sold', coalesce(sum(sold), 0), 'withdrawn', coalesce(sum(withdrawn), 0))
          FROM event_stock) AS tickets,
       (SELECT extract(epoch FROM now() - min(expires_at))::float8 FROM orders
         WHERE status = 'pending' AND expires_at < now()) AS reaper_lag
"""
# Every status: one scan of the whole orders table (bench/metrics_scrape.py: 0.1-0.3 s per million
# orders here), so at most once a minute per process; the other scrapes reuse its counts.
ALL_STATUSES_QUERY = "SELECT status, count(*) FROM orders GROUP BY status"
ALL_STATUSES_MAX_AGE_SECONDS = 60.0
ORDER_STATUSES = ("pending", "paid", "expired", "cancelled", "refunded", "refund_due", "disputed")


def record_pool(pool: psycopg_pool.AsyncConnectionPool) -> None:
    """This process's pool use, into the gauges (summed over live processes in multi-process mode)."""
    stats = pool.get_stats()
    size, idle = stats.get("pool_size", 0), stats.get("pool_available", 0)
    POOL_CONNECTIONS.labels("in_use").set(size - idle)
    POOL_CONNECTIONS.labels("idle").set(idle)
    POOL_CONNECTIONS.labels("max").set(stats.get("pool_max", 0))
    POOL_WAITING.set(stats.get("requests_waiting", 0))


@dataclass
class OrderCounts:
    """Orders by status from the last whole-table count, and when it is due again (per process)."""

    max_age: float = ALL_STATUSES_MAX_AGE_SECONDS
    counts: dict[str, int] = field(default_factory=dict)
    next_at: float = 0.0

    def due(self, now: float) -> bool:
        return now >= self.next_at


async def _count_all_statuses(conn: psycopg.AsyncConnection[Any], cache: OrderCounts) -> None:
    now = time.monotonic()
    if not cache.due(now):
        return
    cache.next_at = now + cache.max_age
    try:
        async with conn.transaction():  # a savepoint: a count cut short leaves the scrape intact
            cur = await conn.execute(ALL_STATUSES_QUERY)
            cache.counts = {str(status): int(n) for status, n in await cur.fetchall()}
    except psycopg.errors.QueryCanceled:
        log.warning(
            "counting orders by status took over %.0f s; /metrics shows pending and refund_due only "
            "until a count succeeds (tried again in %.0f s)",
            SCRAPE_TIMEOUT_SECONDS,
            cache.max_age,
        )


async def database_families(pool: psycopg_pool.AsyncConnectionPool, cache: OrderCounts) -> list[Metric]:
    """What the database says now: orders by status (pending and refund_due now, the others from a
    count at most ``cache.max_age`` old), tickets by state, reaper lag; and whether it answered within
    3 s (``ticketgate_database_up``: without it, the rest is left out, and the processes' own counters
    are still served)."""
    up = GaugeMetricFamily("ticketgate_database_up", "1 if the database answered this scrape within 3 s")
    try:
        async with pool.connection(timeout=SCRAPE_TIMEOUT_SECONDS) as conn, conn.transaction():
            await conn.execute(
                "SELECT set_config('statement_timeout', %s, true)", (str(int(SCRAPE_TIMEOUT_SECONDS * 1000)),)
            )
            cur = await conn.execute(SCRAPE_QUERY)
            row = await cur.fetchone()
            await _count_all_statuses(conn, cache)
    except (psycopg.OperationalError, psycopg_pool.PoolTimeout):
        up.add_metric([], 0.0)
        return [up]
    assert row is not None
    up.add_metric([], 1.0)
    pending, refund_due, tickets, lag = row
    by_status = {**cache.counts, "pending": pending, "refund_due": refund_due}
    orders = GaugeMetricFamily(
        "ticketgate_orders",
        "Orders by status: pending and refund_due counted at this scrape, the others at most a minute ago",
        labels=["status"],
    )
    shown = set(ORDER_STATUSES) | set(by_status) if cache.counts else {"pending", "refund_due"}
    for status in sorted(shown):
        orders.add_metric([status], float(by_status.get(status, 0)))
    stock = GaugeMetricFamily(
        "ticketgate_tickets", "Tickets of all events by state, counted when scraped", labels=["state"]
    )
    for state in ("available", "held", "sold", "withdrawn"):
        stock.add_metric([state], float(tickets[state]))
    reaper = GaugeMetricFamily(
        "ticketgate_reaper_lag_seconds",
        "How long ago the oldest pending order past its hold expired (0: none waits for the reaper)",
        value=max(0.0, lag or 0.0),
    )
    return [up, orders, stock, reaper]


class _Fixed:
    """A collector of families already read (the database's, read asynchronously before rendering)."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self._families = list(families)

    def collect(self) -> Iterable[Metric]:
        return self._families


def exposition(database: list[Metric]) -> bytes:
    """The whole /metrics text: every process's counters (one process, or all of them in multi-process
    mode) and the database's families."""
    if os.environ.get(MULTIPROCESS_VARIABLE):
        registry: Any = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry = REGISTRY
    return generate_latest(registry) + generate_latest(_Fixed(database))
