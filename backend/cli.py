"""The backend's subcommands: argument definitions only; each names its handler as ``module:function``."""

from __future__ import annotations

import argparse
from typing import Any


def _db(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url",
        help="PostgreSQL URL (default: $TICKETGATE_DATABASE_URL; else an embedded server in the data folder)",
    )


def register(commands: Any, key_commands: Any, ticket_commands: Any) -> None:
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
    p.add_argument("--capacity", type=int, required=True, help="tickets for sale (1 to 10,000,000)")
    p.add_argument(
        "--price-cents",
        type=int,
        default=0,
        help="price of one ticket in the currency's smallest unit: cents for EUR, yen for JPY "
        "(default: 0, free)",
    )
    p.add_argument("--currency", default="EUR", help="three-letter ISO 4217 code (default: EUR)")
    p.add_argument(
        "--share-holders",
        action="store_true",
        help="send each ticket's holder (the order's email) to the event's gate devices",
    )
    p.add_argument(
        "--signing",
        choices=("hmac", "ed25519"),
        default="hmac",
        help="how ticket codes are signed: hmac (short typeable codes, default: hmac) or ed25519 (gates"
        " hold only a public key, so a stolen gate laptop cannot issue tickets; long codes, QR only)",
    )
    p.set_defaults(handler="backend.commands:event_create")

    p = event_commands.add_parser(
        "rotate-key", help="start a new key version of an event (after a gate laptop was lost)"
    )
    _db(p)
    p.add_argument("code", metavar="CODE", help="the event's code")
    p.add_argument(
        "--reissue",
        action="store_true",
        help="also re-sign every valid ticket with the new version and retire the old ones: their codes"
        " are then REVOKED at gates after sync (default: old codes stay valid)",
    )
    p.set_defaults(handler="backend.commands:event_rotate_key")

    device = commands.add_parser("device", help="gate devices: pair, list, revoke")
    device_commands = device.add_subparsers(dest="device_command", metavar="DEVICE_COMMAND", required=True)
    p = device_commands.add_parser(
        "add", help="a one-time pairing code for a gate device (valid 15 minutes), also as a QR code"
    )
    _db(p)
    p.add_argument("--event", required=True, help="the event the device will check tickets of")
    p.add_argument("--name", required=True, help="the gate's name, e.g. 'Gate A' (unique per event)")
    p.add_argument("--server-url", help="where gates reach this server (default: $TICKETGATE_PUBLIC_URL)")
    p.add_argument("--json", action="store_true", help='print {"pairing": ..., "expires_at": ...}')
    p.set_defaults(handler="backend.sync_commands:device_add")

    p = device_commands.add_parser("list", help="devices: paired, last seen, last sync, scans uploaded")
    _db(p)
    p.add_argument("--event", help="only this event's devices")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler="backend.sync_commands:device_list")

    p = device_commands.add_parser("revoke", help="revoke a device: its next sync is refused")
    _db(p)
    p.add_argument("device", metavar="NAME_OR_ID", help="the device's name or id (see device list)")
    p.add_argument("--event", help="the event, when several have a device of this name")
    p.set_defaults(handler="backend.sync_commands:device_revoke")

    scans = commands.add_parser("scans", help="scans uploaded by gate devices")
    scan_commands = scans.add_subparsers(dest="scans_command", metavar="SCANS_COMMAND", required=True)
    p = scan_commands.add_parser("summary", help="an event's scans, counted on the server")
    _db(p)
    p.add_argument("--event", required=True, help="the event code whose scans to count")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler="backend.sync_commands:scans_summary")

    p = commands.add_parser("conflicts", help="tickets two gates let in while inside")
    _db(p)
    p.add_argument("--event", required=True, help="the event code whose conflicts to list")
    p.add_argument("--all", action="store_true", help="also conflicts withdrawn by a later upload")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler="backend.sync_commands:conflicts")

    orders = commands.add_parser(
        "orders", help="the operator's money commands: refunds, cancellations, flags"
    )
    order_commands = orders.add_subparsers(dest="orders_command", metavar="ORDERS_COMMAND", required=True)
    p = order_commands.add_parser(
        "refund-due", help="payments whose money must go back (late, second, mismatched, surplus, cancelled)"
    )
    _db(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler="backend.order_commands:orders_refund_due")

    p = order_commands.add_parser(
        "attention", help="orders flagged for the operator (payment mismatch, dispute, ...)"
    )
    _db(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--clear", metavar="ORDER_ID", help="take an order you dealt with off the list")
    p.add_argument("--note", help="with --clear: what you did (kept in the audit log)")
    p.set_defaults(handler="backend.order_commands:orders_attention")

    p = order_commands.add_parser(
        "cancel",
        help="cancel an order: pending -> cancelled (stock back); paid -> refund_due (tickets revoked)",
    )
    _db(p)
    p.add_argument("order_id", metavar="ORDER_ID", help="the order's id (a UUID, as checkout returned it)")
    p.add_argument("--reason", help="why (kept in the audit log and shown at the gate)")
    p.set_defaults(handler="backend.order_commands:orders_cancel")

    p = order_commands.add_parser(
        "refund", help="give an order's money back (through Stripe if TICKETGATE_STRIPE_API_KEY is set)"
    )
    _db(p)
    p.add_argument("order_id", metavar="ORDER_ID", help="the order's id (a UUID, as checkout returned it)")
    p.add_argument(
        "--payment", metavar="REFERENCE", help="only this payment's due money (a second payment, a surplus)"
    )
    p.set_defaults(handler="backend.order_commands:orders_refund")

    p = ticket_commands.add_parser(
        "render", help="write a paid order's tickets as images: one QR code each, its code, the event's name"
    )
    _db(p)
    p.add_argument("order_id", metavar="ORDER_ID", help="the order's id (a UUID, as checkout returned it)")
    p.add_argument(
        "--output",
        "-o",
        metavar="DIR",
        default=".",
        help="folder to write into, made if missing (default: ., the current folder)",
    )
    p.add_argument(
        "--format",
        action="append",
        choices=["svg", "png", "pdf"],
        help="image format; repeat for several (default: all three: tickets-ORDER_ID.svg, .png, .pdf)",
    )
    p.set_defaults(handler="backend.ticket_commands:tickets_render")

    p = key_commands.add_parser("export", help="write an event's key file (for a gate laptop)")
    _db(p)
    p.add_argument("--event", required=True, help="the event code whose key to write")
    p.add_argument("--version", type=int, help="key version (default: the event's current one)")
    p.add_argument("--output", "-o", help="file to write (default: standard output)")
    p.set_defaults(handler="backend.commands:keys_export")
