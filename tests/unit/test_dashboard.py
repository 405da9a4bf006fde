"""The dashboard's pure rules: per-minute series, online, and how times and sums are worded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from backend.dashboard import ONLINE_SECONDS, is_online, per_minute
from monitor.presentation import ago, countdown, money, since

NOW = datetime(2026, 11, 30, 19, 42, 7, tzinfo=UTC)


def test_per_minute_puts_the_current_minute_last_and_fills_gaps_with_zero() -> None:
    assert per_minute([(0, 4), (2, 1), (2, 2)], minutes=4) == (0, 3, 0, 4)


def test_per_minute_leaves_out_ages_outside_the_window() -> None:
    # A gate whose clock runs ahead gives a negative age; an old entry an age past the window.
    assert per_minute([(-1, 9), (4, 9), (3, 1)], minutes=4) == (1, 0, 0, 0)


def test_online_means_seen_within_the_window() -> None:
    assert is_online(NOW - timedelta(seconds=ONLINE_SECONDS), NOW)
    assert not is_online(NOW - timedelta(seconds=ONLINE_SECONDS + 1), NOW)
    assert not is_online(None, NOW)


def test_times_are_worded_for_a_glance() -> None:
    assert ago(None, NOW) == "never"
    assert ago(NOW - timedelta(seconds=59), NOW) == "59 s ago"
    assert ago(NOW - timedelta(minutes=3, seconds=5), NOW) == "3 min ago"
    assert ago(NOW - timedelta(hours=2), NOW) == "2 h ago"
    assert ago(NOW - timedelta(days=3), NOW) == "3 d ago"
    assert ago(NOW + timedelta(seconds=2), NOW) == "just now"
    assert since(NOW - timedelta(seconds=4), NOW) == "4 s"
    assert countdown(NOW + timedelta(seconds=245), NOW) == "4:05"
    assert countdown(NOW - timedelta(seconds=1), NOW) == "due"
    assert money(123456, "EUR") == "1,234.56 EUR"
