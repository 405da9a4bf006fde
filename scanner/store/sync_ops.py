"""The Store's public operations for the sync with the backend, each one transaction over the
functions in ``sync_state`` (upload queue, cursor, clock, link) and ``remote`` (pulled changes)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime

from scanner.store import remote, sync_state
from scanner.store.remote import Applied, Conflict, RemoteMovement
from scanner.store.sync_state import Link, SyncState
from scanner.verdicts import ScanResult
from ticketcode.sync_protocol import Change

# Pulled changes are kept in transactions of at most this many: each holds the store's write lock,
# and a scan waiting behind it should wait some 10-20 ms, not the whole of a 20,000-change page; each
# also costs an fsync, so not many more of them than needed.
APPLY_CHUNK = 2_000


class SyncOperations:
    """Mixed into ``Store``, which provides the transactions."""

    def _read(self) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError

    def _write(self, *, replayable: bool = False) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError

    # -- push ----------------------------------------------------------------------------------

    def pending_upload_count(self) -> int:
        """Scans not yet pushed to the backend."""
        with self._read() as conn:
            return sync_state.pending_upload_count(conn)

    def unsynced_scans(self, limit: int = 500, *, after: int = 0) -> list[ScanResult]:
        """The oldest scans not yet pushed (with an id above ``after``), for the sync client."""
        with self._read() as conn:
            return sync_state.unsynced_scans(conn, limit, after=after)

    def mark_synced(self, scan_ids: Iterable[int]) -> None:
        """Mark scans the backend acknowledged as uploaded (a mark lost to a power cut means the
        scans go up again, which the server ignores: no fsync of its own)."""
        with self._write(replayable=True) as conn:
            sync_state.mark_synced(conn, scan_ids)

    # -- pull ----------------------------------------------------------------------------------

    def sync_cursor(self) -> str:
        """Where the next pull starts ("" from the beginning)."""
        with self._read() as conn:
            return sync_state.cursor(conn)

    def apply_pulled(
        self, event: str, changes: Sequence[Change], *, cursor: str, clock_offset_ms: int
    ) -> Applied:
        """Keep a pulled page of ``event``: its changes, then the cursor after them.

        The cursor is written with the page's last chunk, so a gate stopped half way through a page
        pulls that page again (harmless: applying a change twice changes nothing) and never skips it.
        """
        applied = Applied()
        chunks = [changes[i : i + APPLY_CHUNK] for i in range(0, len(changes), APPLY_CHUNK)] or [()]
        for number, chunk in enumerate(chunks, start=1):
            # Lost to a power cut, a chunk is pulled again with the cursor before it: no fsync of its own.
            with self._write(replayable=True) as conn:
                applied += remote.apply_changes(conn, event, chunk, clock_offset_ms=clock_offset_ms)
                if number == len(chunks):
                    sync_state.set_cursor(conn, cursor)
        return applied

    def reset_cursor(self) -> None:
        """Pull from the beginning next time (the server did not know the cursor)."""
        with self._write() as conn:
            sync_state.set_cursor(conn, "")

    def conflicts(self, event: str, *, serial: int | None = None) -> list[Conflict]:
        """Conflicts the backend flagged for ``event`` (or one ticket of it), newest first."""
        with self._read() as conn:
            return remote.conflicts(conn, event, serial=serial)

    def remote_movements(self, event: str, serial: int) -> list[RemoteMovement]:
        """Other gates' entries and exits of one ticket, oldest first."""
        with self._read() as conn:
            return remote.remote_movements(conn, event.upper(), serial)

    # -- how sync stands -----------------------------------------------------------------------

    def sync_state(self, event: str) -> SyncState:
        """Link, last sync, cursor, clock offset, scans to upload and conflicts, read at once."""
        with self._read() as conn:
            return sync_state.sync_state(conn, event)

    def clock_offset_ms(self) -> int | None:
        """Server clock minus this laptop's clock (ms), as last measured; None before pairing."""
        with self._read() as conn:
            return sync_state.clock_offset_ms(conn)

    def record_sync(
        self, link: Link, *, at: datetime, problem: str | None = None, clock_offset_ms: int | None = None
    ) -> None:
        """How a round or a pairing went (``online`` also sets the last sync time)."""
        with self._write() as conn:
            if clock_offset_ms is not None:
                sync_state.set_clock_offset_ms(conn, clock_offset_ms)
            sync_state.record_link(conn, link, at=at, problem=problem)

    def set_clock_offset_ms(self, offset_ms: int) -> None:
        with self._write() as conn:
            sync_state.set_clock_offset_ms(conn, offset_ms)

    def reset_for_pairing(self) -> None:
        """A new pairing pulls from the beginning; scans not yet uploaded stay queued."""
        with self._write() as conn:
            sync_state.reset_for_pairing(conn)

    def last_sync_at(self) -> datetime | None:
        """When the last successful sync ended; None means never."""
        with self._read() as conn:
            return sync_state.last_sync_at(conn)

    def set_last_sync_at(self, moment: datetime) -> None:
        with self._write() as conn:
            sync_state.set_last_sync_at(conn, moment)
