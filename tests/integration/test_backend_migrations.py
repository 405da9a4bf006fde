"""Migrations: numbered, applied once, safe when several processes migrate the same database at once."""

from __future__ import annotations

import asyncio

import psycopg

from backend.db import migrate, migration_files


def test_migrations_are_numbered_in_order() -> None:
    versions = [version for version, _ in migration_files()]
    assert versions, "the package ships its migrations"
    assert versions == sorted(versions)
    numbers = [int(v[:3]) for v in versions]
    # 001, 002, ... with no gap: a gap is a migration lost in a merge.
    assert numbers == list(range(1, len(numbers) + 1))


def test_four_processes_migrating_at_once_apply_each_migration_once(empty_database_url: str) -> None:
    async def four_at_once() -> list[list[str]]:
        return await asyncio.gather(*(migrate(empty_database_url) for _ in range(4)))

    results = asyncio.run(four_at_once())
    applied = [version for result in results for version in result]
    assert sorted(applied) == [version for version, _ in migration_files()]
    with psycopg.connect(empty_database_url) as conn:
        recorded = conn.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
            " AND table_name IN ('events', 'event_stock', 'orders', 'tickets', 'processed_payment_events',"
            " 'audit_log')"
        ).fetchone()
    assert [v for (v,) in recorded] == [version for version, _ in migration_files()]
    assert tables == (6,)
    assert asyncio.run(migrate(empty_database_url)) == []
