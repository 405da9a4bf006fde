"""The ``demo`` subcommand's arguments only: ``ticketgate --help`` must not load what the demo runs."""

from __future__ import annotations

from typing import Any

DEFAULT_HOLD_SECONDS = 8


def register(commands: Any) -> None:
    """Add ``demo`` to the ``ticketgate`` parser."""
    p = commands.add_parser(
        "demo", help="the whole system end to end on this machine: a sale, two gates, the gate app"
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--headless",
        action="store_true",
        help="no gate app: print the story, check the invariants, exit 0 only if all held",
    )
    mode.add_argument(
        "--gate-only",
        action="store_true",
        help="only the quick gate demo: throwaway key, ticket images, the gate app (no server)",
    )
    p.add_argument("--home", help="keep the demo's data here (default: a new temporary folder)")
    p.add_argument("--buyers", type=int, default=200, help="buyers racing for the tickets (default: 200)")
    p.add_argument("--capacity", type=int, default=150, help="tickets on sale (default: 150)")
    p.add_argument(
        "--hold-seconds",
        type=int,
        default=DEFAULT_HOLD_SECONDS,
        help=f"how long the abandoned orders hold their tickets once the rush is over, before the "
        f"reaper expires them (default: {DEFAULT_HOLD_SECONDS}); every other checkout holds the "
        f"server's default 900 s, so no hold runs out during a rush",
    )
    p.add_argument(
        "--database-url",
        help="PostgreSQL to run in (default: $TICKETGATE_DATABASE_URL; else an embedded server in the "
        "demo's folder)",
    )
    p.set_defaults(handler="ticketgate.demo.command:demo")
