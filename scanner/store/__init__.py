"""The gate's local store (SQLite): known tickets, revocations, presence, and every scan, durably.

- ``database``: the ``Store`` (opening, durability, transactions, the public operations)
- ``schema``: the versioned schema and the stored time format
- ``scans``: deciding and recording a scan (presence, tallies) and reading scans back
- ``tickets``: known tickets and revocations; the look-up
- ``ticket_list``: parsing ticket lists imported by hand (JSON / CSV)
- ``sync_state``: what the sync with the backend needs (scans to upload, last sync)
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
