"""``GET /metrics``: the server's counters and the database's state in Prometheus' text format."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import Response

from backend import metrics
from backend.api.context import ApiContext


def metrics_routes(ctx: ApiContext) -> APIRouter:
    router = APIRouter(tags=["operations"])
    order_counts = metrics.OrderCounts()

    @router.get("/metrics", response_class=Response, responses={200: {"content": {metrics.CONTENT_TYPE: {}}}})
    async def scrape() -> Response:
        """Checkouts by outcome and their latency, tickets reserved, webhooks by type and outcome, gate
        sync requests and scans by device, database pool use (every server process), and, read now
        from the database, orders by status (pending and refund_due at each scrape, the others
        counted at most once a minute), tickets by state and the reaper's lag
        (``ticketgate_database_up`` 0 and those left out when it does not answer within 3 s)."""
        metrics.record_pool(ctx.db)
        database = await metrics.database_families(ctx.db, order_counts)
        # Reading every worker's files takes a few milliseconds: off the event loop.
        body = await asyncio.to_thread(metrics.exposition, database)
        return Response(body, media_type=metrics.CONTENT_TYPE, headers={"Cache-Control": "no-store"})

    return router
