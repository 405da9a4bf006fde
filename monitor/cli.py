"""The ``ticketgate monitor`` subcommand: argument definitions only; the handler is imported when it runs."""

from __future__ import annotations

import argparse
from typing import Any

DEFAULT_INTERVAL_SECONDS = 5.0
MIN_INTERVAL_SECONDS = 1.0
MAX_INTERVAL_SECONDS = 3600.0


def interval(text: str) -> float:
    """``--interval``: seconds between refreshes, 1 to 3600."""
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not MIN_INTERVAL_SECONDS <= seconds <= MAX_INTERVAL_SECONDS:
        raise argparse.ArgumentTypeError(
            f"the interval must be {MIN_INTERVAL_SECONDS:g} to {MAX_INTERVAL_SECONDS:g} seconds"
        )
    return seconds


def register(commands: Any) -> None:
    """Add ``monitor`` to the ``ticketgate`` parser."""
    p = commands.add_parser(
        "monitor", help="the organiser's live dashboard of an event: sales, orders, gates, entries"
    )
    p.add_argument(
        "--database-url",
        help="PostgreSQL URL (default: $TICKETGATE_DATABASE_URL; else an embedded server in the data folder)",
    )
    p.add_argument("--event", required=True, help="the code of the event to watch")
    p.add_argument(
        "--interval",
        type=interval,
        default=DEFAULT_INTERVAL_SECONDS,
        help=f"seconds between refreshes, 1 to 3600 (default: {DEFAULT_INTERVAL_SECONDS:g})",
    )
    p.set_defaults(handler="monitor.command:run")
