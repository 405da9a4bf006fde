"""Where the dashboard's snapshots come from: one PostgreSQL connection, opened again after a failure.

One connection, not a pool: the dashboard reads one snapshot at a time, and after an outage the next
refresh simply connects anew, at once, instead of waiting on a pool's background reconnection.
"""

from __future__ import annotations

from typing import Any

import psycopg

from backend.dashboard import Snapshot
from backend.dashboard_queries import take_snapshot
from backend.db import database_errors

CONNECT_TIMEOUT_SECONDS = 5
# A refresh that takes longer than this is cancelled by the server: the dashboard then says the
# database is unreachable instead of freezing on a stuck query.
STATEMENT_TIMEOUT_MS = 10_000


class DatabaseSource:
    """``fetch()`` reads the event's snapshot; DatabaseUnavailable when the database cannot answer,
    after which the next ``fetch()`` connects again."""

    def __init__(self, url: str, event_code: str, *, pooler: bool = False) -> None:
        self.url = url
        self.event_code = event_code
        self.pooler = pooler
        self._conn: psycopg.AsyncConnection[Any] | None = None

    async def fetch(self) -> Snapshot:
        async with database_errors():
            if self._conn is None or self._conn.closed or self._conn.broken:
                options: dict[str, Any] = {"prepare_threshold": None}
                if not self.pooler:
                    # A pooler refuses start-up options: through one, the keepalives alone catch a
                    # dead link.
                    options = {"options": f"-c statement_timeout={STATEMENT_TIMEOUT_MS}"}
                self._conn = await psycopg.AsyncConnection.connect(
                    self.url,
                    connect_timeout=CONNECT_TIMEOUT_SECONDS,
                    **options,
                    # A network that silently drops packets is noticed in seconds, not hours.
                    keepalives=1,
                    keepalives_idle=5,
                    keepalives_interval=2,
                    keepalives_count=3,
                    application_name="ticketgate monitor",
                )
        try:
            return await take_snapshot(self._conn, self.event_code)
        except BaseException:
            # Whatever failed, start the next refresh on a fresh connection.
            await self.close()
            raise

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.closed:
            await conn.close()
