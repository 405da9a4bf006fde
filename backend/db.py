"""The database edge: connection pools, migrations, and turning driver failures into backend errors."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any
from urllib.parse import unquote, urlsplit

import psycopg
from psycopg import errors as pg_errors
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from backend.errors import Busy, ConfigError, DatabaseUnavailable
from backend.settings import Settings

log = logging.getLogger(__name__)

# Any constant works; it only has to be the same for every process migrating the same database.
_MIGRATION_LOCK_ID = 7_301_442_001
_MIGRATION_NAME_RE = re.compile(r"(\d{3})_[a-z0-9_]+\.sql")
# A statement waiting longer than this for a row lock gives up and the caller gets Busy (HTTP 503),
# rather than piling up requests behind a stuck transaction.
DEFAULT_LOCK_TIMEOUT_MS = 5000


def connection_options(
    *, pooler: bool = False, lock_timeout_ms: int = DEFAULT_LOCK_TIMEOUT_MS
) -> dict[str, Any]:
    """Keyword arguments for every connection ticketgate opens to ``TICKETGATE_DATABASE_URL``.

    Direct to PostgreSQL: the lock timeout is set at connection start-up, so it costs no round trip
    per transaction, and psycopg prepares statements it runs often. Through a pooler in transaction
    mode (``pooler``), each transaction may run on another server connection: a statement prepared
    on one is unknown on the next (PgBouncer before 1.21 does not track them), and PgBouncer refuses
    the ``options`` start-up parameter; so neither is used, and the lock timeout must come from the
    pooler (``connect_query``) or the role (``ALTER ROLE ... SET lock_timeout``): docs/scaling.md.
    """
    if pooler:
        return {"prepare_threshold": None}
    return {"options": f"-c lock_timeout={int(lock_timeout_ms)}"}


def make_pool(
    url: str,
    *,
    min_size: int = 2,
    max_size: int = 20,
    timeout: float = 10.0,
    lock_timeout_ms: int = DEFAULT_LOCK_TIMEOUT_MS,
    pooler: bool = False,
) -> AsyncConnectionPool:
    """A pool for ``url``, not yet open: the caller opens it (ASGI lifespan, ``async with``).
    ``pooler``: ``url`` is a pooler in transaction mode (see ``connection_options``)."""
    return AsyncConnectionPool(
        url,
        min_size=min_size,
        max_size=max_size,
        timeout=timeout,
        open=False,
        kwargs=connection_options(pooler=pooler, lock_timeout_ms=lock_timeout_ms),
        name="ticketgate",
    )


@asynccontextmanager
async def database_errors() -> AsyncIterator[None]:
    """Translate driver failures inside the block into Busy / DatabaseUnavailable (both retryable), or
    ConfigError for a database that is set up wrong (no tables yet, missing privileges)."""
    try:
        yield
    except psycopg.OperationalError as exc:
        # SQLSTATE class 40 (deadlock, serialization failure) and 55P03 (lock timeout): the work was
        # rolled back whole and may simply be retried.
        sqlstate = getattr(exc, "sqlstate", None) or ""
        if sqlstate.startswith("40") or sqlstate == "55P03":
            raise Busy(f"the database is busy ({type(exc).__name__}); retry in a moment") from exc
        if isinstance(exc, PoolTimeout):
            raise DatabaseUnavailable(f"no database connection became free in time: {exc}") from exc
        raise DatabaseUnavailable(f"the database is unavailable: {_first_line(exc)}") from exc
    except pg_errors.InsufficientPrivilege as exc:
        # E.g. PostgreSQL 15+ gives ordinary users no CREATE on schema public: an operator's set-up
        # to fix, to be told in one line, not a driver traceback.
        raise ConfigError(
            f"the database user lacks a privilege ticketgate needs ({_first_line(exc)}): "
            "connect as the database's owner or grant it"
        ) from exc
    except pg_errors.UndefinedTable as exc:
        raise ConfigError(
            f"the database has no ticketgate tables ({_first_line(exc)}): run `ticketgate migrate` first"
        ) from exc


@asynccontextmanager
async def single_statements(pool: AsyncConnectionPool) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    """A pooled connection in autocommit, for work whose every statement stands alone (a look-up, one
    UPDATE): psycopg's implicit transaction would add a BEGIN and a COMMIT round trip to each use,
    which on the sync's hot paths (a device call every few seconds per gate) was a third of them."""
    async with pool.connection() as conn:
        await conn.set_autocommit(True)
        try:
            yield conn
        finally:
            if not conn.closed:
                await conn.set_autocommit(False)


def storable_text(text: str) -> bool:
    """Whether a PostgreSQL text column can hold ``text``: no NUL character and valid UTF-8 (no lone
    surrogates, which Python's JSON parser lets through). Input failing this is the sender's error,
    to be refused before it reaches (and fails) a statement other requests may share."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def without_password(message: str, url: str) -> str:
    """``message`` with any password ``url`` holds replaced by ``***``: libpq's parse errors quote the
    part of the URL they stumbled on, which may be the password, and the error goes to a terminal
    or a log."""
    secrets = set()
    try:
        parts = urlsplit(url)
        if parts.password:
            secrets |= {parts.password, unquote(parts.password)}
    except ValueError:
        pass
    secrets |= set(re.findall(r"password\s*=\s*'?([^'\s]+)", url))
    secrets |= set(re.findall(r"[?&]password=([^&#]+)", url))
    # Longest first, so a password containing another is replaced whole.
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        message = message.replace(secret, "***")
    return message


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def migration_files() -> list[tuple[str, str]]:
    """The numbered migrations shipped with the package, in order, as (version, SQL text)."""
    folder = resources.files("backend") / "migrations"
    found = []
    for entry in folder.iterdir():
        match = _MIGRATION_NAME_RE.fullmatch(entry.name)
        if match:
            found.append((entry.name.removesuffix(".sql"), entry.read_text(encoding="utf-8")))
    return sorted(found)


async def migrate(url: str, *, pooler: bool = False) -> list[str]:
    """Apply the migrations ``url`` lacks, each in its own transaction; return the ones applied.

    Safe to run twice and from several processes at once: each migration's transaction first takes a
    transaction-level advisory lock, then checks ``schema_migrations`` again. A transaction-level lock
    (not a session one taken before the loop) also holds through a pooler in transaction mode, where
    a session lock and its unlock could land on two server connections and the lock stay held.
    """
    applied: list[str] = []
    options = connection_options(pooler=pooler)
    async with database_errors(), await psycopg.AsyncConnection.connect(url, **options) as conn:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK_ID,))
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
        for version, text in migration_files():
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK_ID,))
                cur = await conn.execute("SELECT 1 FROM schema_migrations WHERE version = %s", (version,))
                if await cur.fetchone() is not None:
                    continue
                # The file is our own shipped SQL, run as one multi-statement script.
                await conn.execute(text.encode("utf-8"))
                await conn.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (version,))
            log.info("applied migration %s", version)
            applied.append(version)
    return applied


def resolve_database_url(settings: Settings) -> str:
    """The configured database URL, or, when there is none, an embedded PostgreSQL's (started now)."""
    if settings.database_url:
        if not storable_text(settings.database_url):
            raise ConfigError(
                "TICKETGATE_DATABASE_URL (or --database-url) is not a PostgreSQL URL: it holds bytes "
                "that are not UTF-8 text"
            )
        try:
            # Only parses (no connection): a malformed URL is the operator's typo, not a crash later.
            conninfo_to_dict(settings.database_url)
        except psycopg.ProgrammingError as exc:
            why = without_password(_first_line(exc), settings.database_url)
            raise ConfigError(
                f"TICKETGATE_DATABASE_URL (or --database-url) is not a PostgreSQL URL: {why}"
            ) from None
        return settings.database_url
    from backend.embedded import start_embedded_postgres

    return start_embedded_postgres(settings.data_dir)
