"""A busy evening as the organiser's dashboard sees it: a fixed ``Snapshot`` for pilot and snapshot
tests (the queries that make one are tested against PostgreSQL in tests/integration), and the README's
screenshots: ``.venv/bin/python -m tests.tui.monitor_kit`` rewrites docs/screenshots/monitor-*.svg.
"""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

from backend.dashboard import (
    AttentionOrder,
    ConflictRow,
    ExpiringOrder,
    GateDevice,
    GateEntries,
    Snapshot,
    Stock,
)
from backend.errors import DatabaseUnavailable
from monitor.app import MonitorApp

T0 = datetime(2026, 11, 30, 19, 42, 7, tzinfo=UTC)


def _curve(peak: int, centre: int, width: float, minutes: int = 30) -> tuple[int, ...]:
    return tuple(round(peak * math.exp(-(((m - centre) / width) ** 2))) for m in range(minutes))


def _order(n: int) -> UUID:
    return UUID(f"{0x5EED0000 + n * 0x1F3A7:08x}-5eed-4000-8000-00000000{n:04x}")


BUSY = Snapshot(
    event_code="VL9IHU",
    event_name="Vienna Live",
    taken_at=T0,
    stock=Stock(capacity=2000, available=218, held=48, sold=1734, withdrawn=0),
    sales_per_minute=_curve(60, 8, 6.0),
    pending_orders=21,
    expiring_count=5,
    expiring=tuple(
        ExpiringOrder(
            id=_order(i),
            quantity=q,
            email=f"buyer{i}@example.org",
            expires_at=T0 + timedelta(seconds=s),
        )
        for i, (q, s) in enumerate([(2, 14), (1, 75), (4, 190), (1, 261)], start=1)
    ),
    attention=(
        AttentionOrder(
            id=_order(11),
            status="pending",
            attention="payment_mismatch",
            email="short@example.org",
            due_cents=2900,
            currency="EUR",
            since=T0 - timedelta(minutes=12),
        ),
        AttentionOrder(
            id=_order(12),
            status="refund_due",
            attention=None,
            email="late@example.org",
            due_cents=6000,
            currency="EUR",
            since=T0 - timedelta(minutes=3),
        ),
    ),
    devices=(
        GateDevice("Gate A", "paired", T0 - timedelta(seconds=4), T0 - timedelta(seconds=4), 812, True),
        GateDevice("Gate B", "paired", T0 - timedelta(seconds=9), T0 - timedelta(seconds=9), 598, True),
        GateDevice("Gate C", "paired", T0 - timedelta(minutes=6), T0 - timedelta(minutes=7), 41, False),
        GateDevice("Gate D", "waiting", None, None, 0, False),
    ),
    entries=(
        GateEntries("Gate A", _curve(38, 22, 7.0), 790),
        GateEntries("Gate B", _curve(30, 24, 6.0), 557),
        GateEntries("Gate C", _curve(9, 12, 3.0)[:24] + (0,) * 6, 41),
    ),
    admitted=1388,
    inside=1203,
    conflict_count=2,
    conflicts=(
        ConflictRow(
            41,
            "VL9IHU-041-3c9e07d2",
            "Gate A",
            T0 - timedelta(minutes=9),
            "Gate C",
            T0 - timedelta(minutes=7),
        ),
        ConflictRow(
            7,
            "VL9IHU-007-f3a2b1c0",
            "Gate B",
            T0 - timedelta(minutes=21),
            "Gate A",
            T0 - timedelta(minutes=20),
        ),
    ),
)

EMPTY = Snapshot(
    event_code="VL9IHU",
    event_name="Vienna Live",
    taken_at=T0,
    stock=Stock(capacity=2000, available=2000, held=0, sold=0, withdrawn=0),
    sales_per_minute=(0,) * 30,
    pending_orders=0,
    expiring_count=0,
    expiring=(),
    attention=(),
    devices=(),
    entries=(),
    admitted=0,
    inside=0,
    conflict_count=0,
    conflicts=(),
)


def steady(snapshot: Snapshot) -> MonitorApp:
    """The dashboard showing ``snapshot``, refreshed with the same (a database that does not change)."""

    async def fetch() -> Snapshot:
        return snapshot

    return MonitorApp(fetch, interval=5, tz=UTC, first=snapshot)


def cut_off(snapshot: Snapshot) -> MonitorApp:
    """The dashboard showing ``snapshot``, whose database then stops answering (press r to see it)."""

    async def fetch() -> Snapshot:
        raise DatabaseUnavailable("the database is unavailable: connection refused")

    return MonitorApp(fetch, interval=5, tz=UTC, first=snapshot)


async def _save(app: MonitorApp, name: str, out: Path, *, press: str | None = None) -> Path:
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        if press:
            await pilot.press(press)
            while app.problem is None:
                await asyncio.sleep(0.02)
        await pilot.pause()
        return Path(app.save_screenshot(f"monitor-{name}.svg", str(out)))


async def _save_all(out: Path) -> list[Path]:
    return [
        await _save(steady(BUSY), "busy", out),
        await _save(cut_off(BUSY), "outage", out, press="r"),
    ]


if __name__ == "__main__":
    folder = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
    for written in asyncio.run(_save_all(folder)):
        print(f"wrote {written}")
