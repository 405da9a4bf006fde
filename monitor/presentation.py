"""How the dashboard words times, money and counts. Pure."""

from __future__ import annotations

from datetime import datetime, tzinfo

from backend.money import amount


def clock(moment: datetime, tz: tzinfo | None) -> str:
    """``moment`` as HH:MM:SS in ``tz`` (None: this machine's zone)."""
    return moment.astimezone(tz).strftime("%H:%M:%S")


def ago(moment: datetime | None, now: datetime) -> str:
    """How long before ``now``: "12 s ago", "3 min ago", "2 h ago", "4 d ago"; "never" for None."""
    if moment is None:
        return "never"
    seconds = int((now - moment).total_seconds())
    if seconds < 0:
        return "just now"
    if seconds < 60:
        return f"{seconds} s ago"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86400:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} d ago"


def since(moment: datetime | None, now: datetime) -> str:
    """``ago`` without the word, for a column headed "seen": "12 s", "3 min"; "never"."""
    return ago(moment, now).removesuffix(" ago")


def countdown(moment: datetime, now: datetime) -> str:
    """Time left until ``moment`` as M:SS ("4:05"), or "due" once it has passed (the reaper's turn)."""
    seconds = int((moment - now).total_seconds())
    if seconds <= 0:
        return "due"
    return f"{seconds // 60}:{seconds % 60:02d}"


def money(smallest_units: int, currency: str) -> str:
    """An amount with thousands separated, in the currency's own decimals ("1,234.56 EUR", "1,200 JPY")."""
    return amount(smallest_units, currency, grouped=True)


def count(n: int) -> str:
    """Thousands separated, so 12000 and 1200 are told apart at a glance."""
    return f"{n:,}"


def short_id(order_id: object) -> str:
    """The first 8 characters of an order's id: enough to find it in `orders attention`."""
    return str(order_id)[:8]
