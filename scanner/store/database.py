"""The ``Store``: opening the SQLite file (WAL, ``synchronous=FULL``, migrations), its transactions, and
the public operations, each one transaction over the functions in ``scans`` and ``tickets`` (those of
the sync with the backend come from ``sync_ops``).

WAL journal with ``synchronous=FULL``: a scan's transaction is on disk (fsync'd) before its verdict
is returned. The decision of a scan — read the ticket's state, decide, insert the scan, update the
state — is one ``BEGIN IMMEDIATE`` transaction, so two threads or two processes on one store never
admit the same ticket twice; a unique index on (ticket, entry number) backs that promise up.
The schema is versioned with ``PRAGMA user_version`` and migrated forward on open.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Literal, get_args

from scanner.durable import fsync_directory
from scanner.errors import StoreBusyError, StoreError
from scanner.store import scans, tickets
from scanner.store.integrity import check_store_file
from scanner.store.schema import MIGRATIONS, SCHEMA_VERSION, statements
from scanner.store.sync_ops import SyncOperations
from scanner.store.ticket_list import parse_ticket_list, read_ticket_list
from scanner.verdicts import Authentic, Counters, Direction, KnownTicket, Rejected, ScanResult

log = logging.getLogger("scanner.store")

Synchronous = Literal["FULL", "NORMAL", "OFF"]
SYNCHRONOUS_LEVELS: tuple[Synchronous, ...] = get_args(Synchronous)

_CHECKPOINT_EVERY_S = 0.5
# About 40 MB of WAL: reached only if the background checkpoints cannot keep up or keep failing.
_INLINE_CHECKPOINT_PAGES = 10_000


class Store(SyncOperations):
    """The local store of one gate laptop. Thread-safe.

    Two connections: scans are written through one (under a lock, so decisions are serialised in this
    process too); reads for the screens (counters, look-ups, history) go through the other, so a slow
    look-up of a holder's name among a million tickets never delays a scan (WAL lets them overlap).
    """

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self._lock = threading.RLock()
        self._reader: sqlite3.Connection | None = None
        self._reader_lock = threading.Lock()
        self._stopping = threading.Event()
        self._checkpointer: threading.Thread | None = None
        self._synchronous: Synchronous = "FULL"
        self.path = path

    # -- opening -------------------------------------------------------------------------------

    @classmethod
    def open(cls, path: Path, *, synchronous: Synchronous = "FULL", busy_timeout_s: float = 10.0) -> Store:
        """Open (creating and migrating as needed) the store at ``path``.

        ``synchronous`` other than FULL exists for the benchmark's baseline only: the gate's promise
        that an ADMIT is on disk before it is shown needs FULL.
        """
        path = Path(path)
        _check_synchronous(synchronous)  # before anything is made
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot create the store's folder {path.parent}: {exc.strerror or exc}"
            ) from None
        if not path.exists():
            cls._create_file(path, busy_timeout_s=busy_timeout_s)
        check_store_file(path)
        try:
            conn = sqlite3.connect(
                path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the store {path}: {exc}") from None
        store = cls(conn, path)
        try:
            store._configure(synchronous, busy_timeout_s=busy_timeout_s)
            store._migrate()
            reader = sqlite3.connect(
                path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
            )
            reader.execute("PRAGMA query_only = 1")
            store._reader = reader
            store._start_checkpointer(synchronous)
        except sqlite3.DatabaseError as exc:
            store.close()
            raise _store_error(exc, f"open the store {path}") from None
        except StoreError:
            store.close()
            raise
        return store

    @classmethod
    def _create_file(cls, path: Path, *, busy_timeout_s: float) -> None:
        """Make a new, migrated store at ``path`` that appears there only whole.

        It is built under a temporary name (mode 0600: it will hold holder names) and hard-linked into
        place, so an existing store file without a schema was emptied or truncated, never half-made,
        and opening one is refused rather than silently starting afresh. Several processes may race
        here: the first link wins and the others open it.
        """
        temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.new")
        try:
            os.close(os.open(temporary, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            conn = sqlite3.connect(temporary, timeout=busy_timeout_s, isolation_level=None)
            try:
                fresh = cls(conn, temporary)
                fresh._configure("FULL", busy_timeout_s=busy_timeout_s)
                fresh._migrate(new=True)
            finally:
                conn.close()  # the last connection: the WAL is checkpointed into the file and removed
            try:
                os.link(temporary, path)
            except FileExistsError:
                return  # another process's new store came first
            fsync_directory(path.parent)
        except (OSError, sqlite3.Error) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            raise StoreError(f"cannot create the store {path}: {why}") from None
        finally:
            for leftover in (temporary, Path(f"{temporary}-wal"), Path(f"{temporary}-shm")):
                leftover.unlink(missing_ok=True)

    def _configure(self, synchronous: Synchronous, *, busy_timeout_s: float) -> None:
        _check_synchronous(synchronous)  # it is spelled into a PRAGMA below
        conn = self._conn
        deadline = time.monotonic() + busy_timeout_s
        while True:
            try:
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                break
            except sqlite3.OperationalError as exc:
                # Two connections turning a new file to WAL at once can deadlock on its locks; SQLite
                # then answers "locked" at once instead of waiting, so wait here and try again.
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        if str(mode).lower() != "wal":
            raise StoreError(f"the store {self.path} cannot use WAL journaling (got {mode})")
        # PRAGMA takes no parameters; the value was checked against a fixed set at the top.
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        self._synchronous = synchronous
        conn.execute("PRAGMA foreign_keys = ON")

    def _migrate(self, *, new: bool = False) -> None:
        conn = self._conn
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version == 0 and not new:
            # Stores are only ever created whole (_create_file): this one lost its contents.
            raise StoreError(
                f"the store {self.path} is empty: it was emptied or truncated, or is not a ticketgate "
                "store. Refusing to start a fresh one in its place, which would admit every ticket "
                "again; move it aside to start a new store"
            )
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"the store {self.path} has schema version {version}, newer than this ticketgate "
                f"understands ({SCHEMA_VERSION}); upgrade ticketgate"
            )
        if version == SCHEMA_VERSION:
            return
        with self._write():
            # Another process may have migrated while we waited for the write lock: read again.
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            for step in range(version, SCHEMA_VERSION):
                for statement in statements(MIGRATIONS[step]):
                    conn.execute(statement)
                # user_version takes no parameters; the value is an int we computed.
                conn.execute(f"PRAGMA user_version = {step + 1}")
                log.debug("store %s migrated to schema %d", self.path, step + 1)

    def _start_checkpointer(self, synchronous: Synchronous) -> None:
        """Copy the WAL back into the database from a thread of its own.

        Left to SQLite, the commit that crosses the WAL threshold does the checkpoint itself, and the
        scan behind it waits for a few hundred page writes and an fsync of the database (tens of
        milliseconds). The scan connection keeps a high threshold only as a safety net.
        """
        conn = sqlite3.connect(self.path, timeout=1.0, isolation_level=None, check_same_thread=False)
        # PRAGMA takes no parameters; the value was checked against a fixed set in open().
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        with self._lock:
            self._conn.execute(f"PRAGMA wal_autocheckpoint = {_INLINE_CHECKPOINT_PAGES}")
        self._checkpointer = threading.Thread(
            target=self._checkpoint_loop, args=(conn,), name=f"checkpoint {self.path.name}", daemon=True
        )
        self._checkpointer.start()

    def _checkpoint_loop(self, conn: sqlite3.Connection) -> None:
        try:
            while not self._stopping.wait(_CHECKPOINT_EVERY_S):
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as exc:
                    # Busy or failing now: the next round (or the inline safety net) will do it.
                    log.debug("background checkpoint of %s skipped: %s", self.path, exc)
        finally:
            conn.close()

    def close(self) -> None:
        self._stopping.set()
        if self._checkpointer is not None and self._checkpointer is not threading.current_thread():
            self._checkpointer.join(timeout=5)
        with self._reader_lock:
            if self._reader is not None:
                self._reader.close()
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        with self._read() as conn:
            version: int = conn.execute("PRAGMA user_version").fetchone()[0]
            return version

    @property
    def durability(self) -> tuple[str, str]:
        """The scan connection's journal mode and synchronous level, e.g. ``("wal", "FULL")``."""
        with self._lock:
            try:
                mode = str(self._conn.execute("PRAGMA journal_mode").fetchone()[0]).lower()
                level = self._conn.execute("PRAGMA synchronous").fetchone()[0]
            except sqlite3.Error as exc:
                raise _store_error(exc, "read") from None
        return mode, {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}.get(level, str(level))

    # -- transactions --------------------------------------------------------------------------

    @contextmanager
    def _write(self, *, replayable: bool = False) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction: the write lock is taken before anything is read.

        ``replayable``: what it writes can be had again should a power cut lose it (pulled changes
        with their cursor, "uploaded" marks), so it is committed without an fsync of its own (WAL with
        ``synchronous=NORMAL``: still atomic; durable with the next scan's fsync or the checkpoint).
        A scan never is: its verdict is shown only once it is on disk.
        """
        with self._lock:
            if not (replayable and self._synchronous == "FULL"):
                yield from self._transaction()
                return
            try:
                self._conn.execute("PRAGMA synchronous = NORMAL")
                yield from self._transaction()
            finally:
                try:
                    self._conn.execute("PRAGMA synchronous = FULL")
                except sqlite3.Error as exc:
                    raise _store_error(exc, "restore durable writes") from None

    def _transaction(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise _store_error(exc, "start a transaction") from None
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException as exc:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass  # SQLite may already have rolled back (e.g. on SQLITE_FULL)
            if isinstance(exc, sqlite3.Error):
                raise _store_error(exc, "write") from None
            raise

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """The read connection; each statement sees the last committed state (autocommit)."""
        with self._reader_lock:
            if self._reader is None:
                raise StoreError("the local store is not open")
            try:
                yield self._reader
            except sqlite3.Error as exc:
                raise _store_error(exc, "read") from None

    # -- scans ---------------------------------------------------------------------------------

    def record_scan(
        self,
        screened: Rejected | Authentic,
        *,
        direction: Direction,
        gate: str,
        gate_event: str,
        source: str,
        raw: str,
        scanned_at: datetime,
    ) -> ScanResult:
        """Decide an authentic code against the stored state and record the scan, in one transaction.

        Returns only after the transaction is committed (and, with synchronous=FULL, fsync'd).
        Raises StoreError when the scan could not be recorded; the verdict must then not be shown.
        """
        with self._write() as conn:
            return scans.record_scan(
                conn,
                screened,
                direction=direction,
                gate=gate,
                gate_event=gate_event,
                source=source,
                raw=raw,
                scanned_at=scanned_at,
            )

    def recent_scans(self, limit: int = 20) -> list[ScanResult]:
        """The latest scans, newest first."""
        with self._read() as conn:
            return scans.recent_scans(conn, limit)

    def ticket_history(self, event: str, serial: int) -> list[ScanResult]:
        """Every scan of one ticket (of a well-formed code for it, whatever the verdict), oldest first."""
        with self._read() as conn:
            return scans.ticket_history(conn, event, serial)

    def counters(self, *, event: str | None = None) -> Counters:
        """Admitted entries, rejected scans, exits and people inside now — of the gate event ``event``
        (scans recorded by gates checking that event) or of the whole store."""
        with self._read() as conn:
            return scans.counters(conn, event)

    # -- known tickets and revocations ---------------------------------------------------------

    def upsert_tickets(self, known: Iterable[KnownTicket]) -> int:
        """Add or update known tickets in one transaction; return how many rows were given.
        Revocations are sticky (see ``tickets.upsert_tickets``)."""
        with self._write() as conn:
            return tickets.upsert_tickets(conn, known)

    def revoke(self, event: str, serial: int, *, reason: str) -> None:
        """Mark a ticket revoked (refunded or cancelled); its next scan is REVOKED with ``reason``."""
        self.upsert_tickets(
            [KnownTicket(event=event.upper(), serial=serial, revoked=True, revoked_reason=reason)]
        )

    def import_tickets(self, path: Path) -> int:
        """Import known tickets and revocations from a JSON or CSV file (see ``parse_ticket_list``)."""
        return self.upsert_tickets(parse_ticket_list(read_ticket_list(Path(path)), name=str(path)))

    def find_tickets(self, query: str, *, limit: int = 50) -> list[KnownTicket]:
        """Known tickets matching a serial (``42``), a code or ``EVENT-SERIAL``, or part of a holder name."""
        with self._read() as conn:
            return tickets.find_tickets(conn, query, limit=limit)


def _store_error(exc: sqlite3.Error, doing: str) -> StoreError:
    """A clear message for the staff from an SQLite failure; the scan it interrupted is not recorded."""
    text = str(exc)
    lowered = text.lower()
    if "database is locked" in lowered or "database is busy" in lowered:
        return StoreBusyError(f"the local store is busy (locked by another process); could not {doing}")
    if "disk is full" in lowered or "database or disk is full" in lowered:
        return StoreError(f"the local store's disk is full; could not {doing} — free some space")
    if "readonly" in lowered or "read-only" in lowered:
        return StoreError(f"the local store is read-only; could not {doing} — check the data folder")
    if "not a database" in lowered or "malformed" in lowered:
        return StoreError(f"the local store is damaged or not a ticketgate store; could not {doing} ({text})")
    if "unable to open" in lowered:
        return StoreError(f"cannot open the local store; could not {doing} ({text})")
    return StoreError(f"local store failure; could not {doing} ({text})")


def _check_synchronous(value: str) -> None:
    """SQLite reads an unknown ``PRAGMA synchronous`` value silently as another level; refuse it."""
    if value not in SYNCHRONOUS_LEVELS:
        raise ValueError(f"synchronous must be FULL, NORMAL or OFF, not {value!r}")
