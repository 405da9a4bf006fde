"""What the organiser's dashboard shows of one event at one moment: plain data, and the pure rules that
derive it (per-minute series, which gate is online). No I/O: ``dashboard_queries`` reads it from the
database, the ``monitor`` package draws it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

# Gates sync every 10 s while they reach the server; six missed rounds is "offline", not a blip.
ONLINE_SECONDS = 60
# How far back the per-minute plots reach.
SERIES_MINUTES = 30
# A pending order whose hold ends within this many seconds is "expiring soon".
EXPIRING_SECONDS = 5 * 60
# Rows the dashboard lists at most per table (the counts above them are always complete).
LIST_LIMIT = 10


@dataclass(frozen=True)
class Stock:
    """The event's stock summed over its shards: capacity = available + held + sold + withdrawn."""

    capacity: int
    available: int
    held: int
    sold: int
    withdrawn: int


@dataclass(frozen=True)
class ExpiringOrder:
    """A pending order whose hold ends soon: its stock goes back on sale unless it is paid."""

    id: UUID
    quantity: int
    email: str
    expires_at: datetime


@dataclass(frozen=True)
class AttentionOrder:
    """An order the operator must act on: flagged (``attention``: payment_mismatch, double_payment, ...),
    ``refund_due``, or with a payment whose money is due back (``due_cents``)."""

    id: UUID
    status: str
    attention: str | None
    email: str
    due_cents: int
    currency: str
    since: datetime

    @property
    def why(self) -> str:
        if self.attention:
            return self.attention
        return "refund_due" if self.status == "refund_due" else "money due back"


@dataclass(frozen=True)
class GateDevice:
    """A gate device of the event as the server last heard from it. ``scans`` counts what it uploaded:
    the server cannot know what a gate has not sent yet."""

    name: str
    state: str  # paired, waiting (for its pairing code to be used)
    last_seen_at: datetime | None
    last_sync_at: datetime | None
    scans: int
    online: bool


@dataclass(frozen=True)
class GateEntries:
    """Entries (admitted, direction in) through one gate: per minute, oldest first, and in all."""

    gate: str
    per_minute: tuple[int, ...]
    total: int


@dataclass(frozen=True)
class ConflictRow:
    """A ticket two gates let in while it was inside."""

    serial: int
    code: str | None
    first_gate: str
    first_at: datetime
    second_gate: str
    second_at: datetime


@dataclass(frozen=True)
class Snapshot:
    """Everything the dashboard shows, read in one transaction, so the figures agree with each other.
    ``taken_at`` is the database's clock; every "ago" and "in" is measured from it."""

    event_code: str
    event_name: str
    taken_at: datetime
    stock: Stock
    sales_per_minute: tuple[int, ...]  # tickets issued per minute, oldest first, the current minute last
    pending_orders: int
    expiring_count: int
    expiring: tuple[ExpiringOrder, ...]  # soonest first, at most LIST_LIMIT
    attention: tuple[AttentionOrder, ...]
    devices: tuple[GateDevice, ...]
    entries: tuple[GateEntries, ...]
    admitted: int  # entries ever admitted by the event's gates
    inside: int  # tickets whose last movement, on the merged timeline, is an entry
    conflict_count: int
    conflicts: tuple[ConflictRow, ...]  # latest first, at most LIST_LIMIT


def per_minute(ages: Iterable[tuple[int, int]], *, minutes: int = SERIES_MINUTES) -> tuple[int, ...]:
    """A series of ``minutes`` counts, oldest first, from ``(age in whole minutes, count)`` pairs where
    age 0 is the current minute. Minutes with nothing are 0; ages outside the window (a gate clock
    ahead of the server's, or older than the window) are left out."""
    counts = [0] * minutes
    for age, count in ages:
        if 0 <= age < minutes:
            counts[minutes - 1 - age] += count
    return tuple(counts)


def is_online(last_seen_at: datetime | None, now: datetime, *, window_seconds: int = ONLINE_SECONDS) -> bool:
    """Whether the device called the server within the window (a gate syncs every 10 s when it can)."""
    return last_seen_at is not None and now - last_seen_at <= timedelta(seconds=window_seconds)
