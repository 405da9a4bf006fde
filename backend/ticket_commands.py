"""``ticketgate tickets render ORDER_ID -o DIR``: an order's tickets as images, straight from the database."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from psycopg_pool import AsyncConnectionPool

from backend import orders
from backend.commands import _settings, _with_pool, _write_private_file
from backend.errors import ConfigError
from backend.order_commands import _order_id
from backend.ticket_images import FORMATS, event_name_of, image_format, ticket_faces
from ticketqr import TicketFace


def tickets_render(args: argparse.Namespace) -> int:
    """Write ``tickets-ORDER_ID.<format>`` for each format asked (all three by default) into the folder;
    an order without valid tickets is one clear error (exit 2), nothing written."""
    order_id = _order_id(args.order_id)
    formats = [image_format(name) for name in dict.fromkeys(args.format or FORMATS)]

    async def faces(pool: AsyncConnectionPool) -> list[TicketFace]:
        order = await orders.get_order(pool, order_id)
        return ticket_faces(order, await event_name_of(pool, order.id))

    drawn = _with_pool(_settings(args), faces)
    folder = Path(args.output)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot make the folder {folder}: {exc.strerror or exc}") from None
    for image in formats:
        path = folder / f"tickets-{order_id}.{image.suffix}"
        try:
            # Mode 0600: whoever holds the image holds the tickets.
            _write_private_file(path, image.draw(drawn))
        except OSError as exc:
            raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None
        print(f"wrote {len(drawn)} ticket(s) to {os.fspath(path)}")
    return 0
