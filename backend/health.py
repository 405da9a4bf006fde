"""Is this server ready to take traffic? The database answers, every migration is applied, the reaper
keeps up. One cheap statement (the reaper's own index finds the oldest overdue order); the verdict is a
pure function of what it read."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import psycopg
import psycopg_pool
from psycopg import AsyncConnection

from backend.db import migration_files

# A /readyz that waits longer than this for a connection or an answer says "database unreachable":
# a load balancer's probe must not hang.
PROBE_TIMEOUT_SECONDS = 3.0

# The oldest pending order whose hold ended, and the migrations done: one round trip.
STATE_QUERY = """
SELECT (SELECT extract(epoch FROM now() - min(expires_at))::float8 FROM orders
         WHERE status = 'pending' AND expires_at < now()) AS reaper_lag,
       (SELECT coalesce(array_agg(version ORDER BY version), '{}') FROM schema_migrations) AS applied
"""


def reaper_lag_threshold(reaper_interval_seconds: float) -> float:
    """How overdue the oldest pending order may be before the reaper counts as behind: it may have
    expired just after a pass, so one interval is normal; twice the interval plus 30 s is not."""
    return 2 * reaper_interval_seconds + 30


@dataclass(frozen=True)
class Readiness:
    """The verdict of /readyz: ``ready`` only if every check passed; ``reasons`` say what failed."""

    ready: bool
    checks: dict[str, dict[str, Any]]
    reasons: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"ready": self.ready, "reasons": self.reasons, "checks": self.checks}


def judge(*, applied: list[str] | None, reaper_lag: float | None, lag_threshold: float) -> Readiness:
    """The verdict from what the database said (``applied`` None: it could not be asked)."""
    if applied is None:
        return Readiness(
            ready=False,
            checks={"database": {"ok": False}},
            reasons=["the database does not answer"],
        )
    expected = [version for version, _ in migration_files()]
    missing = [version for version in expected if version not in applied]
    lag = max(0.0, reaper_lag or 0.0)
    reasons = []
    if missing:
        reasons.append(f"migrations not applied: {', '.join(missing)} (run `ticketgate migrate`)")
    if lag > lag_threshold:
        reasons.append(
            f"the reaper is behind: the oldest overdue pending order expired {lag:.0f} s ago "
            f"(more than {lag_threshold:.0f} s)"
        )
    checks: dict[str, dict[str, Any]] = {
        "database": {"ok": True},
        "migrations": {
            "ok": not missing,
            "applied": len(applied),
            "expected": len(expected),
            "missing": missing,
        },
        "reaper": {
            "ok": lag <= lag_threshold,
            "lag_seconds": round(lag, 3),
            "threshold_seconds": lag_threshold,
        },
    }
    return Readiness(ready=not reasons, checks=checks, reasons=reasons)


async def read_state(conn: AsyncConnection[Any]) -> tuple[list[str], float | None]:
    """(migrations applied, reaper lag in seconds or None when nothing is overdue), read on ``conn``."""
    async with conn.transaction():
        await conn.execute(
            "SELECT set_config('statement_timeout', %s, true)", (str(int(PROBE_TIMEOUT_SECONDS * 1000)),)
        )
        try:
            cur = await conn.execute(STATE_QUERY)
        except psycopg.errors.UndefinedTable:
            return [], None  # a database never migrated: every migration is missing
        row = await cur.fetchone()
    assert row is not None
    return list(row[1]), row[0]


async def readiness(pool: psycopg_pool.AsyncConnectionPool, *, lag_threshold: float) -> Readiness:
    """Ask the database (through the server's own pool) and judge."""
    try:
        async with pool.connection(timeout=PROBE_TIMEOUT_SECONDS) as conn:
            applied, lag = await read_state(conn)
    except (psycopg.OperationalError, psycopg_pool.PoolTimeout):
        return judge(applied=None, reaper_lag=None, lag_threshold=lag_threshold)
    return judge(applied=applied, reaper_lag=lag, lag_threshold=lag_threshold)
