"""Tickets: serials from the event's counter and signed codes from the ticket-code format."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from psycopg import AsyncConnection

from ticketcode import derive_event_key, issue_code, serial_width


async def issue_ticket_codes(
    conn: AsyncConnection[Any], *, order_id: UUID, event_id: int, quantity: int, master_secret: bytes
) -> list[str]:
    """Create ``quantity`` tickets for the order, inside the caller's transaction; return their codes.

    Serials come from the event's counter, which only grows (a rolled-back transaction gives its
    numbers back, a committed one never does), so a serial is never reused.
    """
    cur = await conn.execute(
        "UPDATE events SET next_serial = next_serial + %s WHERE id = %s"
        " RETURNING next_serial - %s, code, capacity, key_version",
        (quantity, event_id, quantity),
    )
    row = await cur.fetchone()
    assert row is not None, "the order's event exists (foreign key)"
    first, code, capacity, key_version = row
    key = derive_event_key(master_secret, code, key_version)
    width = serial_width(capacity)
    serials = list(range(first, first + quantity))
    codes = [issue_code(key, serial, width=width) for serial in serials]
    await conn.execute(
        "INSERT INTO tickets (order_id, event_id, serial, code)"
        " SELECT %s, %s, serial, code FROM unnest(%s::integer[], %s::text[]) AS t(serial, code)",
        (order_id, event_id, serials, codes),
    )
    return codes
