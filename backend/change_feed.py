"""The pull side of sync: pages of the change feed after a cursor, read so that no change is ever skipped.

Feed rows are written in the same transaction as the change they describe (the ticket triggers of
migration 003, scan ingestion) and stamped with that transaction's id (``xid8``) and a sequence
number. A page is read in (xid, seq) order, and only rows below the *horizon*: the oldest transaction
of this database still running when the page's snapshot was taken. Every transaction below it has
finished, so all it wrote is visible now; any transaction still to commit has an id at or above it,
so it can never write behind a cursor already handed out. See docs/sync-protocol.md.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from psycopg_pool import AsyncConnectionPool

from backend.db import database_errors, single_statements
from backend.devices import Device
from backend.errors import BadCursor
from backend.tickets import gate_keys
from ticketcode.keys import key_to_mapping
from ticketcode.sync_protocol import EventInfo, encode_event

_CURSOR_RE = re.compile(r"1\.([0-9a-f]{12})\.([0-9]{1,20})\.([0-9]{1,20})(?:\.([0-9]{1,20}))?")
# A page's rows held back behind a transaction still running are usually free within milliseconds
# (a payment, a scan upload): wait that long for them rather than end the round without them.
HORIZON_WAIT_SECONDS = 1.0


@dataclass(frozen=True, order=True)
class FeedPosition:
    """Where a device's pull stands: the last feed row it was given, (0, 0) before the first."""

    xid: int
    seq: int


START = FeedPosition(0, 0)


@dataclass(frozen=True)
class Cursor:
    """A position, and while a long pull runs, how many rows were left after it when last counted
    (so a progress bar costs one count per pull, not one per page)."""

    position: FeedPosition
    remaining: int | None = None


def encode_cursor(origin: str, cursor: Cursor) -> str:
    text = f"1.{origin}.{cursor.position.xid}.{cursor.position.seq}"
    return text if cursor.remaining is None else f"{text}.{cursor.remaining}"


def decode_cursor(text: str, origin: str) -> Cursor:
    """The cursor in ``text`` (empty: the start); BadCursor unless this database handed it out."""
    if text == "":
        return Cursor(START)
    match = _CURSOR_RE.fullmatch(text)
    if match is None or match.group(1) != origin:
        raise BadCursor("this sync cursor was not handed out by this server: pull again from the start")
    remaining = int(match.group(4)) if match.group(4) is not None else None
    return Cursor(FeedPosition(int(match.group(2)), int(match.group(3))), remaining)


@dataclass(frozen=True)
class Page:
    """A page ready to send: the changes as JSON texts, and the cursor after them."""

    changes: list[str]
    cursor: str
    more: bool
    remaining: int | None
    caught_up: bool  # nothing after this page is ready, and nothing is held back


@dataclass(frozen=True)
class _Read:
    # (xid, seq, device id of a movement, change JSON): plain tuples, 100,000 of them in a long pull
    rows: list[tuple[int, int, str | None, str]]
    horizon: int
    xmax: int


async def _read(pool: AsyncConnectionPool, device: Device, after: FeedPosition, fetch: int) -> _Read:
    # One statement, so the horizon and the rows come from one snapshot (sync_feed_page, migration
    # 003, says how the horizon is found and why the page is read in a function).
    async with database_errors(), single_statements(pool) as conn:
        cur = await conn.execute(
            "SELECT horizon::text, snapshot_xmax::text, xid::text, seq, device_id::text, change"
            " FROM sync_feed_page(%s, %s::xid8, %s, %s)",
            (device.event_id, str(after.xid), after.seq, fetch),
        )
        raw = await cur.fetchall()
    horizon, xmax = int(raw[0][0]), int(raw[0][1])
    rows = [(int(xid), seq, device_id, change) for _, _, xid, seq, device_id, change in raw if xid]
    rows.sort()  # (xid, seq) is unique: never compares further
    return _Read(rows=rows, horizon=horizon, xmax=xmax)


async def feed_origin(pool: AsyncConnectionPool) -> str:
    """This database's feed id, part of every cursor it hands out."""
    async with database_errors(), single_statements(pool) as conn:
        cur = await conn.execute("SELECT id FROM sync_origin")
        row = await cur.fetchone()
    assert row is not None, "migration 003 inserts the origin"
    origin: str = row[0]
    return origin


async def read_page(
    pool: AsyncConnectionPool, device: Device, *, cursor: str, limit: int, origin: str
) -> Page:
    """Up to ``limit`` changes of the device's event after ``cursor``; BadCursor for a foreign cursor.

    The device's own movements are skipped (it recorded them), but the cursor moves past them.
    """
    given = decode_cursor(cursor, origin)
    after = given.position
    deadline = time.monotonic() + HORIZON_WAIT_SECONDS
    pause = 0.005
    waiting_for: int | None = None  # the newest transaction id held back at the first read
    while True:
        read = await _read(pool, device, after, limit + 1)
        if after.xid >= read.xmax and after != START:
            # A position no transaction has reached yet: the database was re-created or restored
            # elsewhere, and positions from before mean nothing here.
            raise BadCursor("this sync cursor is ahead of this database: pull again from the start")
        ready = [row for row in read.rows if row[0] < read.horizon]
        held_back = len(ready) < len(read.rows)
        if waiting_for is None and held_back:
            waiting_for = read.rows[-1][0]
        # Wait for what was held back when the pull came, not for rows written since: under a
        # steady stream of writes there is always a newer one.
        done_waiting = waiting_for is None or read.horizon > waiting_for
        if len(ready) >= limit or done_waiting or time.monotonic() >= deadline:
            break
        await asyncio.sleep(pause)
        pause = min(pause * 2, 0.1)
    page = ready[:limit]
    # A full page with rows held back behind it: ask again (the next request waits for them).
    more = len(ready) > limit or (len(page) == limit and held_back)
    last = FeedPosition(page[-1][0], page[-1][1]) if page else after
    own = str(device.id)
    changes = [change for _, _, device_id, change in page if device_id != own]
    remaining = 0
    if more:
        # Counted once per pull; later pages count down (rows added meanwhile are not in the
        # estimate, which is only for a progress bar: ``more`` is what says whether to ask again).
        estimate = given.remaining - len(page) if given.remaining is not None else 0
        remaining = estimate if estimate > 0 else await _count_after(pool, device, last, read.horizon)
    return Page(
        changes=changes,
        cursor=encode_cursor(origin, Cursor(last, remaining if more else None)),
        more=more,
        remaining=remaining,
        caught_up=not more and not held_back,
    )


async def _count_after(pool: AsyncConnectionPool, device: Device, after: FeedPosition, horizon: int) -> int:
    async with database_errors(), single_statements(pool) as conn:
        cur = await conn.execute(
            "SELECT count(*) FROM sync_feed"
            " WHERE event_id = %s AND (xid, seq) > (%s::xid8, %s) AND xid < %s::xid8",
            (device.event_id, str(after.xid), after.seq, str(horizon)),
        )
        row = await cur.fetchone()
    return int(row[0]) if row else 0


def event_info(device: Device) -> EventInfo:
    return EventInfo(
        code=device.event_code, name=device.event_name, capacity=device.capacity, signing=device.signing
    )


@lru_cache(maxsize=1024)
def _keys_json(
    master_secret: bytes, event_code: str, key_version: int, retired_below: int, scheme: str
) -> str:
    keys = gate_keys(
        master_secret, event_code, key_version=key_version, retired_below=retired_below, scheme=scheme
    )
    return json.dumps([key_to_mapping(k) for k in keys])


def page_json(device: Device, page: Page, *, master_secret: bytes, server_time: datetime) -> bytes:
    """The ``PullPage`` on the wire, spliced from ready JSON texts (100,000 tickets must be quick)."""
    head: dict[str, Any] = {"event": encode_event(event_info(device))}
    parts = [
        json.dumps(head)[:-1],
        ',"keys":',
        _keys_json(
            master_secret, device.event_code, device.key_version, device.retired_below, device.signing
        ),
        ',"changes":[',
        ",".join(page.changes),
        '],"cursor":',
        json.dumps(page.cursor),
        ',"more":',
        "true" if page.more else "false",
        ',"remaining":',
        "null" if page.remaining is None else str(page.remaining),
        ',"server_time":',
        json.dumps(server_time.astimezone(UTC).isoformat(timespec="microseconds")),
        "}",
    ]
    return "".join(parts).encode("utf-8")
