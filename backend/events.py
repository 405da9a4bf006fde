"""Events and their stock: create an event, read its stock."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from psycopg import errors as pg_errors
from psycopg.rows import class_row
from psycopg_pool import AsyncConnectionPool

from backend.db import database_errors, storable_text
from backend.errors import EventExists, EventNotFound, InvalidInput
from backend.stock import shard_count, split_capacity
from ticketcode import SCHEMES

EVENT_CODE_RE = re.compile(r"[A-Z0-9]{4,12}")
CURRENCY_RE = re.compile(r"[A-Z]{3}")
# Serials are printed with at most 9 digits (ticketcode), and serials are never reused, so leave room.
MAX_CAPACITY = 10_000_000
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
MAX_PRICE_CENTS = 100_000_000_00
EVENT_COLUMNS = (
    "id, code, name, capacity, price_cents, currency, key_version, stock_shards, created_at,"
    " share_holders, signing, retired_below"
)


@dataclass(frozen=True)
class Event:
    id: int
    code: str
    name: str
    capacity: int
    price_cents: int
    currency: str
    key_version: int
    stock_shards: int
    created_at: datetime
    share_holders: bool = False
    signing: str = "hmac"
    retired_below: int = 1


@dataclass(frozen=True)
class EventStock:
    """An event's stock summed over its shards: capacity = available + held + sold + withdrawn
    (revoked seats the operator keeps off sale)."""

    code: str
    name: str
    capacity: int
    available: int
    held: int
    sold: int
    price_cents: int
    currency: str
    withdrawn: int = 0
    signing: str = "hmac"


def normalise_event_code(code: str) -> str:
    """The canonical (upper-case) event code; InvalidInput unless it is 4 to 12 of A-Z and 0-9."""
    if not isinstance(code, str):
        raise InvalidInput("the event code must be text")
    canonical = code.strip().upper()
    # ASCII first: upper() folds a ligature ("ﬀ") into letters the pattern would then accept.
    if not code.isascii() or not EVENT_CODE_RE.fullmatch(canonical):
        raise InvalidInput(f"event code {code!r} must be 4 to 12 characters of A-Z and 0-9")
    return canonical


def code_to_look_up(code: str) -> str:
    """The canonical code to find an event by; EventNotFound when no event could have this code."""
    try:
        return normalise_event_code(code)
    except InvalidInput:
        raise EventNotFound(f"no event has the code {code!r}") from None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class NewEvent:
    """An event's fields, checked and normalised, before anything is written."""

    code: str
    name: str
    capacity: int
    price_cents: int
    currency: str
    share_holders: bool
    signing: str


def check_new_event(
    *,
    code: str,
    name: str,
    capacity: int,
    price_cents: int = 0,
    currency: str = "EUR",
    share_holders: bool = False,
    signing: str = "hmac",
) -> NewEvent:
    """The event these fields describe, normalised (code and currency upper-case, name stripped);
    InvalidInput naming the first field that is wrong. Pure: the command line checks its arguments
    with it before it starts a database."""
    code = normalise_event_code(code)
    if (
        not isinstance(name, str)
        or not 1 <= len(name.strip()) <= 200
        or not storable_text(name)
        # Shown on operators' terminals and buyers' pages: no escape sequences, no line breaks, and
        # no bidirectional overrides, embeddings or isolates (they reorder the text around them).
        or any(unicodedata.category(ch) == "Cc" or ch in _BIDI_CONTROLS for ch in name)
    ):
        raise InvalidInput("the event name must be 1 to 200 characters of printable text")
    if not _is_int(capacity) or not 1 <= capacity <= MAX_CAPACITY:
        raise InvalidInput(f"capacity must be a whole number from 1 to {MAX_CAPACITY}")
    if not _is_int(price_cents) or not 0 <= price_cents <= MAX_PRICE_CENTS:
        raise InvalidInput(f"price_cents must be a whole number from 0 to {MAX_PRICE_CENTS}")
    currency = currency.strip().upper() if isinstance(currency, str) else ""
    if not CURRENCY_RE.fullmatch(currency):
        raise InvalidInput("currency must be a three-letter code such as EUR")
    if not isinstance(share_holders, bool):
        raise InvalidInput("share_holders must be true or false")
    if signing not in SCHEMES:
        raise InvalidInput(f"signing must be one of: {', '.join(SCHEMES)}")
    return NewEvent(code, name.strip(), capacity, price_cents, currency, share_holders, signing)


async def create_event(
    pool: AsyncConnectionPool,
    *,
    code: str,
    name: str,
    capacity: int,
    price_cents: int = 0,
    currency: str = "EUR",
    share_holders: bool = False,
    signing: str = "hmac",
    actor: str = "admin",
) -> Event:
    """Create an event with all its capacity available; InvalidInput for a wrong field (see
    ``check_new_event``), EventExists if the code is taken.

    ``share_holders``: gates of the event are sent each ticket's holder (the order's email).
    ``signing``: ``hmac`` (short codes) or ``ed25519`` (gates hold only a public key).
    ``actor`` is recorded in the audit log (e.g. ``admin`` for the HTTP API, ``cli`` for the command).
    """
    new = check_new_event(
        code=code,
        name=name,
        capacity=capacity,
        price_cents=price_cents,
        currency=currency,
        share_holders=share_holders,
        signing=signing,
    )
    return await insert_event(pool, new, actor=actor)


async def insert_event(pool: AsyncConnectionPool, new: NewEvent, *, actor: str) -> Event:
    """Write an event ``check_new_event`` made, with all its capacity available; EventExists if
    the code is taken."""
    shards = shard_count(new.capacity)
    async with database_errors(), pool.connection() as conn, conn.transaction():
        try:
            cur = conn.cursor(row_factory=class_row(Event))
            await cur.execute(
                "INSERT INTO events"
                " (code, name, capacity, price_cents, currency, stock_shards, share_holders, signing)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
                f" RETURNING {EVENT_COLUMNS}",
                (
                    new.code, new.name, new.capacity, new.price_cents, new.currency, shards,
                    new.share_holders, new.signing,
                ),
            )  # fmt: skip
        except pg_errors.UniqueViolation:
            raise EventExists(f"an event with code {new.code} already exists") from None
        event = await cur.fetchone()
        assert event is not None
        await conn.execute(
            "INSERT INTO event_stock (event_id, shard, available)"
            " SELECT %s, shard - 1, available"
            " FROM unnest(%s::integer[]) WITH ORDINALITY AS s(available, shard)",
            (event.id, split_capacity(new.capacity, shards)),
        )
        await conn.execute(
            "INSERT INTO audit_log (event_id, to_status, actor, detail)"
            " VALUES (%s, 'created', %s, jsonb_build_object('capacity', %s::integer, 'signing', %s::text))",
            (event.id, actor, new.capacity, new.signing),
        )
    return event


async def get_event_stock(pool: AsyncConnectionPool, code: str) -> EventStock:
    """The event's stock right now (one consistent snapshot over all its shards)."""
    code = code_to_look_up(code)
    async with database_errors(), pool.connection() as conn:
        cur = conn.cursor(row_factory=class_row(EventStock))
        await cur.execute(
            "SELECT e.code, e.name, e.capacity,"
            " sum(s.available)::integer AS available, sum(s.held)::integer AS held,"
            " sum(s.sold)::integer AS sold, e.price_cents, e.currency,"
            " sum(s.withdrawn)::integer AS withdrawn, e.signing"
            " FROM events e JOIN event_stock s ON s.event_id = e.id"
            " WHERE e.code = %s GROUP BY e.id",
            (code,),
        )
        stock = await cur.fetchone()
    if stock is None:
        raise EventNotFound(f"no event has the code {code}")
    return stock


async def get_event(pool: AsyncConnectionPool, code: str) -> Event:
    """The event with this code; EventNotFound otherwise."""
    code = code_to_look_up(code)
    async with database_errors(), pool.connection() as conn:
        cur = conn.cursor(row_factory=class_row(Event))
        await cur.execute(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE code = %s",
            (code,),
        )
        event = await cur.fetchone()
    if event is None:
        raise EventNotFound(f"no event has the code {code}")
    return event
