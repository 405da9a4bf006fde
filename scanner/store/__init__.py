"""The gate's local store (SQLite): known tickets, revocations, presence, every scan durably, and
what the sync with the backend brought (other gates' movements, conflicts).

- ``database``: the ``Store`` (opening, durability, transactions, the public operations)
- ``schema``: the versioned schema and the stored time format
- ``scans``: deciding and recording a scan (presence, tallies) and reading scans back
- ``tickets``: known tickets and revocations; the look-up
- ``ticket_list``: parsing ticket lists imported by hand (JSON / CSV)
- ``sync_state``: what the sync with the backend needs (scans to upload, cursor, clock, link)
- ``remote``: what the backend tells about other gates (pulled tickets, movements, conflicts)
- ``sync_ops``: the Store's public operations for the sync
"""

from __future__ import annotations

from scanner.store.database import Store, Synchronous
from scanner.store.schema import MIGRATIONS, SCHEMA_VERSION
from scanner.store.ticket_list import parse_ticket_list
from scanner.verdicts import Counters, KnownTicket

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "Counters",
    "KnownTicket",
    "Store",
    "Synchronous",
    "parse_ticket_list",
]
