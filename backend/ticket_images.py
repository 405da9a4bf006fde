"""A paid order's tickets as images a buyer shows at the gate (SVG, PNG, PDF: drawn by ``ticketqr``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

from psycopg_pool import AsyncConnectionPool

from backend.db import database_errors
from backend.errors import InvalidInput, NoTickets
from backend.lifecycle import OrderStatus
from backend.orders import Order
from ticketqr import TicketFace, tickets_pdf, tickets_png, tickets_svg


@dataclass(frozen=True)
class ImageFormat:
    """One way to draw an order's tickets."""

    suffix: str
    media_type: str
    draw: Callable[[list[TicketFace]], bytes]


FORMATS: dict[str, ImageFormat] = {
    "svg": ImageFormat("svg", "image/svg+xml", tickets_svg),
    "png": ImageFormat("png", "image/png", tickets_png),
    "pdf": ImageFormat("pdf", "application/pdf", tickets_pdf),
}

# A PDF page is 2 MB of pixels while it is drawn, a PNG tile 0.15 MB: an order of more tickets than
# this (only if TICKETGATE_MAX_TICKETS_PER_ORDER was raised past it) is refused, not drawn.
MAX_TICKETS_PER_IMAGE = 50

_WHY_NONE = {
    OrderStatus.PENDING: "is pending: its tickets are issued once it is paid",
    OrderStatus.EXPIRED: "expired unpaid: it has no tickets",
    OrderStatus.CANCELLED: "was cancelled: it has no tickets",
    OrderStatus.REFUNDED: "was refunded: its tickets were revoked",
    OrderStatus.REFUND_DUE: "is due a refund: it has no valid tickets",
    OrderStatus.DISPUTED: "is disputed: its tickets were revoked",
}


def image_format(name: str) -> ImageFormat:
    """The format called ``name`` (svg, png, pdf); InvalidInput for any other."""
    found = FORMATS.get(name.strip().lower())
    if found is None:
        raise InvalidInput(f"no ticket image format {name!r}: choose from {', '.join(FORMATS)}")
    return found


def ticket_faces(order: Order, event_name: str) -> list[TicketFace]:
    """What each of the order's valid tickets shows; NoTickets (saying why) when it has none."""
    if not order.tickets:
        why = _WHY_NONE.get(order.status, "has no valid tickets")
        raise NoTickets(f"order {order.id} {why}")
    if len(order.tickets) > MAX_TICKETS_PER_IMAGE:
        raise InvalidInput(
            f"order {order.id} has {len(order.tickets)} tickets; at most {MAX_TICKETS_PER_IMAGE} are drawn "
            "in one image (its codes are in GET /api/orders/{id})"
        )
    return [TicketFace(event_name=event_name, code=code) for code in order.tickets]


async def event_name_of(pool: AsyncConnectionPool, order_id: UUID) -> str:
    """The name of the order's event, as buyers see it."""
    async with database_errors(), pool.connection() as conn:
        cur = await conn.execute(
            "SELECT e.name FROM orders o JOIN events e ON e.id = o.event_id WHERE o.id = %s", (order_id,)
        )
        row = await cur.fetchone()
    return str(row[0]) if row else ""
