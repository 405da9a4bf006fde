"""What gate staff read when SQLite fails under the store: one sentence per cause, the scan it
interrupted not recorded. Built from the messages SQLite 3 gives (``sqlite3.Error`` as raised)."""

from __future__ import annotations

import sqlite3

import pytest

from scanner.errors import StoreBusyError
from scanner.store.database import _store_error


@pytest.mark.parametrize(
    ("sqlite_says", "staff_read"),
    [
        ("database is locked", "the local store is busy (locked by another process); could not write"),
        ("database or disk is full", "the local store's disk is full; could not write — free some space"),
        (
            "attempt to write a readonly database",
            "the local store is read-only; could not write — check the data folder",
        ),
        (
            "file is not a database",
            "the local store is damaged or not a ticketgate store; could not write (file is not a database)",
        ),
        (
            "database disk image is malformed",
            "the local store is damaged or not a ticketgate store; could not write "
            "(database disk image is malformed)",
        ),
        (
            "unable to open database file",
            "cannot open the local store; could not write (unable to open database file)",
        ),
        ("no such table: scans", "local store failure; could not write (no such table: scans)"),
    ],
)  # fmt: skip
def test_each_sqlite_failure_reads_as_its_cause(sqlite_says: str, staff_read: str) -> None:
    error = _store_error(sqlite3.OperationalError(sqlite_says), "write")
    assert str(error) == staff_read
    assert isinstance(error, StoreBusyError) == (sqlite_says == "database is locked")  # busy: try again
