"""The abandoned orders' short hold. Every checkout holds its ticket the server's long hold, so no hold
runs out while a slow machine is still serving the rush; once the rush is over, the story gives the
orders it abandoned a hold of a few seconds, counted from then, and the real reaper expires them."""

from __future__ import annotations

import psycopg


async def give_short_hold(database_url: str, order_ids: list[str], seconds: int) -> int:
    """The pending orders among ``order_ids`` now expire ``seconds`` from now; how many there were."""
    async with await psycopg.AsyncConnection.connect(database_url) as conn, conn.transaction():
        cursor = await conn.execute(
            "UPDATE orders SET expires_at = now() + make_interval(secs => %s)"
            " WHERE id = ANY(%s::uuid[]) AND status = 'pending'",
            (seconds, order_ids),
        )
        return cursor.rowcount
