"""The backend's subcommands: argument definitions only; each names its handler as ``module:function``."""

from __future__ import annotations

import argparse
from typing import Any


def _db(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url",
        help="PostgreSQL URL (default: $TICKETGATE_DATABASE_URL; else an embedded server in the data folder)",
    )


def register(commands: Any, key_commands: Any) -> None:
    """Add the backend's subcommands to the ``ticketgate`` parser."""
    p = commands.add_parser("server", help="run the HTTP API and the reaper in one process")
    _db(p)
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on; 0.0.0.0 for every interface (default: 127.0.0.1)",
    )
    p.add_argument("--port", type=int, default=8000, help="TCP port to listen on (default: 8000)")
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="HTTP worker processes, each with its own socket and reaper (default: 1)",
    )
    p.add_argument("--no-reaper", action="store_true", help="do not run the reaper in this process")
    p.set_defaults(handler="backend.server:run")

    p = commands.add_parser("migrate", help="apply database migrations (idempotent)")
    _db(p)
    p.set_defaults(handler="backend.commands:migrate")

    p = commands.add_parser("reaper", help="expire abandoned orders and return their stock")
    _db(p)
    p.add_argument("--once", action="store_true", help="one pass, then exit")
    p.set_defaults(handler="backend.commands:reaper")

    event = commands.add_parser("event", help="manage events")
    event_commands = event.add_subparsers(dest="event_command", metavar="EVENT_COMMAND", required=True)
    p = event_commands.add_parser("create", help="create an event")
    _db(p)
    p.add_argument("--code", required=True, help="event code, 4 to 12 of A-Z and 0-9")
    p.add_argument("--name", required=True, help="the event's name as buyers see it (1 to 200 characters)")
    p.add_argument("--capacity", type=int, required=True, help="tickets for sale (1 to 1,000,000)")
    p.add_argument(
        "--price-cents", type=int, default=0, help="price of one ticket in cents (default: 0, free)"
    )
    p.add_argument("--currency", default="EUR", help="three-letter ISO 4217 code (default: EUR)")
    p.set_defaults(handler="backend.commands:event_create")

    device = commands.add_parser("device", help="gate devices")
    device_commands = device.add_subparsers(dest="device_command", metavar="DEVICE_COMMAND", required=True)
    p = device_commands.add_parser(
        "add", help="a one-time pairing token for a gate device (not yet available)"
    )
    _db(p)
    p.add_argument("--event", required=True, help="the event code the device will check")
    p.add_argument("--name", required=True, help="the device's name, e.g. 'Gate B'")
    p.set_defaults(unavailable="pairing gate devices (device add)")

    orders = commands.add_parser("orders", help="orders needing an operator")
    order_commands = orders.add_subparsers(dest="orders_command", metavar="ORDERS_COMMAND", required=True)
    p = order_commands.add_parser("refund-due", help="list paid-but-unfulfillable orders to refund")
    _db(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler="backend.commands:orders_refund_due")

    p = key_commands.add_parser("export", help="write an event's key file (for a gate laptop)")
    _db(p)
    p.add_argument("--event", required=True, help="the event code whose key to write")
    p.add_argument("--version", type=int, help="key version (default: the event's current one)")
    p.add_argument("--output", "-o", help="file to write (default: standard output)")
    p.set_defaults(handler="backend.commands:keys_export")
