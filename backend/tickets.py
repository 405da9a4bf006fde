"""Tickets: serials from the event's counter and signed codes from the ticket-code format."""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection

from ticketcode import EventKey, SigningKey, derive_signing_key, derive_verify_key, issue_code, serial_width


@lru_cache(maxsize=256)
def signing_key(master_secret: bytes, event: str, version: int, scheme: str) -> SigningKey:
    """The key that issues the event's codes at ``version``: derived (HKDF), never stored; cached, as
    deriving an Ed25519 key pair for every payment would be waste."""
    return derive_signing_key(master_secret, event, version, scheme=scheme)


def gate_keys(
    master_secret: bytes, event_code: str, *, key_version: int, retired_below: int, scheme: str
) -> list[EventKey]:
    """Every key version of the event as gates hold it: the HMAC key or the Ed25519 public key (never
    a private key), versions below ``retired_below`` marked retired."""
    keys = []
    for version in range(1, key_version + 1):
        key = derive_verify_key(master_secret, event_code, version, scheme=scheme)
        keys.append(replace(key, retired=version < retired_below))
    return keys


async def issue_ticket_codes(
    conn: AsyncConnection[Any], *, order_id: UUID, event_id: int, quantity: int, master_secret: bytes
) -> list[str]:
    """Create ``quantity`` tickets for the order, inside the caller's transaction; return their codes.

    Serials come from the event's counter, which only grows (a rolled-back transaction gives its
    numbers back, a committed one never does), so a serial is never reused.
    """
    cur = await conn.execute(
        "UPDATE events SET next_serial = next_serial + %s WHERE id = %s"
        " RETURNING next_serial - %s, code, capacity, key_version, signing",
        (quantity, event_id, quantity),
    )
    row = await cur.fetchone()
    assert row is not None, "the order's event exists (foreign key)"
    first, code, capacity, key_version, scheme = row
    key = signing_key(master_secret, code, key_version, scheme)
    width = serial_width(capacity)
    serials = list(range(first, first + quantity))
    codes = [issue_code(key, serial, width=width) for serial in serials]
    await conn.execute(
        "INSERT INTO tickets (order_id, event_id, serial, code, key_version)"
        " SELECT %s, %s, serial, code, %s FROM unnest(%s::integer[], %s::text[]) AS t(serial, code)",
        (order_id, event_id, key_version, serials, codes),
    )
    return codes
