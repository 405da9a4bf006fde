"""What ``GET /metrics`` reports, in Prometheus' text format (``prometheus-client``).

Counted where it happens, in each server process (cheap: a lock and an add): checkouts by outcome,
tickets reserved, checkout latency, payment webhooks by type and outcome, sync requests and scans
received by device. Read from the database when scraped, by the process that serves the scrape:
orders by status, tickets by state, reaper lag. Refreshed every few seconds in each process: the
database pool's use.

With ``ticketgate server --workers N`` the server points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh
folder before it starts the workers (prometheus-client's multi-process mode: each process writes its
values to files there), so any worker's answer adds up every worker; the folder is removed at exit.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import psycopg
import psycopg_pool
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector

MULTIPROCESS_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
SCRAPE_TIMEOUT_SECONDS = 3.0

CHECKOUTS = Counter(
    "ticketgate_checkouts",
    "Checkout requests by outcome: reserved, sold_out, hold_limit, rate_limited, invalid_input, ...",
    ["outcome"],
)
TICKETS_RESERVED = Counter("ticketgate_tickets_reserved", "Tickets held by checkouts that reserved")
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

# Read when scraped: one statement. Orders by status is a count over the orders table (about 60 ms
# per million orders here); the rest use the reaper's partial index and the small stock table.
_SCRAPE = """
SELECT (SELECT coalesce(jsonb_object_agg(status, n), '{}')
          FROM (SELECT status, count(*) AS n FROM orders GROUP BY status) s) AS orders,
       (SELECT jsonb_build_object('available', coalesce(sum(available), 0), 'held', coalesce(sum(held), 0),
                                  'sold', coalesce(sum(sold), 0), 'withdrawn', coalesce(sum(withdrawn), 0))
          FROM event_stock) AS tickets,
       (SELECT extract(epoch FROM now() - min(expires_at))::float8 FROM orders
         WHERE status = 'pending' AND expires_at < now()) AS reaper_lag
"""
ORDER_STATUSES = ("pending", "paid", "expired", "cancelled", "refunded", "refund_due", "disputed")


def record_pool(pool: psycopg_pool.AsyncConnectionPool) -> None:
    """This process's pool use, into the gauges (summed over live processes in multi-process mode)."""
    stats = pool.get_stats()
    size, idle = stats.get("pool_size", 0), stats.get("pool_available", 0)
    POOL_CONNECTIONS.labels("in_use").set(size - idle)
    POOL_CONNECTIONS.labels("idle").set(idle)
    POOL_CONNECTIONS.labels("max").set(stats.get("pool_max", 0))
    POOL_WAITING.set(stats.get("requests_waiting", 0))


async def database_families(pool: psycopg_pool.AsyncConnectionPool) -> list[Metric]:
    """What the database says now: orders by status, tickets by state, reaper lag; and whether it
    answered within 3 s (``ticketgate_database_up``: without it, the rest is left out, and the
    processes' own counters are still served)."""
    up = GaugeMetricFamily("ticketgate_database_up", "1 if the database answered this scrape within 3 s")
    try:
        async with pool.connection(timeout=SCRAPE_TIMEOUT_SECONDS) as conn, conn.transaction():
            await conn.execute(
                "SELECT set_config('statement_timeout', %s, true)", (str(int(SCRAPE_TIMEOUT_SECONDS * 1000)),)
            )
            cur = await conn.execute(_SCRAPE)
            row = await cur.fetchone()
    except (psycopg.OperationalError, psycopg_pool.PoolTimeout):
        up.add_metric([], 0.0)
        return [up]
    assert row is not None
    up.add_metric([], 1.0)
    orders_by_status, tickets, lag = row
    orders = GaugeMetricFamily(
        "ticketgate_orders", "Orders by status, counted when scraped", labels=["status"]
    )
    for status in sorted(set(ORDER_STATUSES) | set(orders_by_status)):
        orders.add_metric([status], float(orders_by_status.get(status, 0)))
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
