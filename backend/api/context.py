"""What every router needs from the app that builds it: the database pool and the settings."""

from __future__ import annotations

from dataclasses import dataclass

from psycopg_pool import AsyncConnectionPool

from backend.settings import Settings


@dataclass(frozen=True)
class ApiContext:
    """Handed to each router factory by ``create_app``; routers never open pools of their own."""

    db: AsyncConnectionPool
    settings: Settings
