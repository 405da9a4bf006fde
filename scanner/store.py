"""The gate's local store (SQLite): known tickets, revocations, presence, and every scan, durably.

WAL journal with ``synchronous=FULL``: a scan's transaction is on disk (fsync'd) before its verdict
is returned. The decision of a scan — read the ticket's state, decide, insert the scan, update the
state — is one ``BEGIN IMMEDIATE`` transaction, so two threads or two processes on one store never
admit the same ticket twice; a unique index on (ticket, entry number) backs that promise up.
The schema is versioned with ``PRAGMA user_version`` and migrated forward on open.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from scanner.errors import StoreBusyError, StoreError, TicketListError
from scanner.verdicts import (
    Authentic,
    Counters,
    Decision,
    Direction,
    KnownTicket,
    Movement,
    Rejected,
    ScanResult,
    TicketState,
    Verdict,
    decide,
)
from ticketcode import MalformedCode, parse_code
from ticketcode.keys import EVENT_CODE_RE

__all__ = ["Counters", "KnownTicket", "Store"]

log = logging.getLogger(__name__)

Synchronous = Literal["FULL", "NORMAL", "OFF"]

# Index i holds the script that takes the schema from version i to i + 1.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE tickets (
        event          TEXT    NOT NULL,
        serial         INTEGER NOT NULL,
        holder         TEXT,
        revoked        INTEGER NOT NULL DEFAULT 0,
        revoked_reason TEXT,
        updated_at     TEXT    NOT NULL,
        PRIMARY KEY (event, serial)
    ) WITHOUT ROWID;
    CREATE INDEX tickets_by_holder ON tickets (holder COLLATE NOCASE);
    CREATE INDEX tickets_by_serial ON tickets (serial);

    -- One row per ticket ever admitted: read and updated in the scan's transaction, so the decision
    -- never has to scan the history.
    CREATE TABLE presence (
        event               TEXT    NOT NULL,
        serial              INTEGER NOT NULL,
        first_admitted_at   TEXT    NOT NULL,
        first_admitted_gate TEXT    NOT NULL,
        inside              INTEGER NOT NULL,
        last_moved_at       TEXT    NOT NULL,
        last_moved_gate     TEXT    NOT NULL,
        entries             INTEGER NOT NULL,
        PRIMARY KEY (event, serial)
    ) WITHOUT ROWID;

    CREATE TABLE scans (
        id                  INTEGER PRIMARY KEY,
        scanned_at          TEXT    NOT NULL,
        gate                TEXT    NOT NULL,
        gate_event          TEXT    NOT NULL,
        source              TEXT    NOT NULL,
        direction           TEXT    NOT NULL CHECK (direction IN ('in', 'out')),
        verdict             TEXT    NOT NULL,
        reason              TEXT    NOT NULL,
        raw                 TEXT    NOT NULL,
        code                TEXT,
        event               TEXT,
        serial              INTEGER,
        entry_no            INTEGER,  -- the n-th entry of this ticket, set on admitted entries only
        first_admitted_at   TEXT,
        first_admitted_gate TEXT,
        synced              INTEGER NOT NULL DEFAULT 0
    );
    -- The last line of defence against a double admission: entry n of a ticket exists once. NULLs
    -- are distinct in a unique index, so rejected scans (entry_no NULL) are not constrained, and
    -- the same index serves a ticket's history: one index page less to write per scan.
    CREATE UNIQUE INDEX scans_by_ticket_entry ON scans (event, serial, entry_no);
    CREATE INDEX scans_unsynced ON scans (id) WHERE synced = 0;

    -- Running counts per gate event, kept in the scan's transaction: the TUI reads them after every
    -- scan, and counting 200,000 scans each time would hold the store for tens of milliseconds.
    CREATE TABLE tallies (
        gate_event TEXT    NOT NULL,
        name       TEXT    NOT NULL CHECK (name IN ('admitted', 'rejected', 'exits', 'inside')),
        n          INTEGER NOT NULL,
        PRIMARY KEY (gate_event, name)
    ) WITHOUT ROWID;

    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) WITHOUT ROWID;
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)

_CHECKPOINT_EVERY_S = 0.5
# About 40 MB of WAL: reached only if the background checkpoints cannot keep up or keep failing.
_INLINE_CHECKPOINT_PAGES = 10_000

# A code's serial has at most 9 digits (ticketcode's format): a larger number names no ticket, and
# past 2**63 SQLite cannot even bind it.
_MAX_SERIAL = 999_999_999

_SCAN_COLUMNS = (
    "id, verdict, direction, raw, code, event, serial, reason, scanned_at, gate, source, "
    "first_admitted_at, first_admitted_gate"
)


def _ts(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _dt(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _scan(row: Sequence[Any]) -> ScanResult:
    return ScanResult(
        scan_id=row[0],
        verdict=Verdict(row[1]),
        direction=Direction(row[2]),
        raw=row[3],
        code=row[4],
        event=row[5],
        serial=row[6],
        reason=row[7],
        scanned_at=datetime.fromisoformat(row[8]),
        gate=row[9],
        source=row[10],
        first_admitted_at=_dt(row[11]),
        first_admitted_gate=row[12],
    )


class Store:
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
        self.path = path

    # -- opening -------------------------------------------------------------------------------

    @classmethod
    def open(cls, path: Path, *, synchronous: Synchronous = "FULL", busy_timeout_s: float = 10.0) -> Store:
        """Open (creating and migrating as needed) the store at ``path``.

        ``synchronous`` other than FULL exists for the benchmark's baseline only: the gate's promise
        that an ADMIT is on disk before it is shown needs FULL.
        """
        path = Path(path)
        if synchronous not in ("FULL", "NORMAL", "OFF"):
            raise ValueError(f"synchronous must be FULL, NORMAL or OFF, not {synchronous!r}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot create the store's folder {path.parent}: {exc.strerror or exc}"
            ) from None
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

    def _configure(self, synchronous: Synchronous, *, busy_timeout_s: float) -> None:
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
        # PRAGMA takes no parameters; the value was checked against a fixed set above.
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        conn.execute("PRAGMA foreign_keys = ON")

    def _migrate(self) -> None:
        conn = self._conn
        version = conn.execute("PRAGMA user_version").fetchone()[0]
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
                for statement in _statements(MIGRATIONS[step]):
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
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction: the write lock is taken before anything is read."""
        with self._lock:
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
            if isinstance(screened, Rejected):
                decision = Decision(screened.verdict, screened.reason, screened.code)
            else:
                code = screened.code
                state = self._state(conn, code.event, code.serial)
                decision = decide(code, state, direction=direction, now=scanned_at)
            entry_no = self._apply(conn, decision, gate=gate, at=scanned_at)
            conn.executemany(
                "INSERT INTO tallies (gate_event, name, n) VALUES (?, ?, ?)"
                " ON CONFLICT (gate_event, name) DO UPDATE SET n = n + excluded.n",
                [(gate_event, name, delta) for name, delta in _tally_deltas(decision)],
            )
            code_obj = decision.code
            cur = conn.execute(
                "INSERT INTO scans (scanned_at, gate, gate_event, source, direction, verdict, reason, raw,"
                " code, event, serial, entry_no, first_admitted_at, first_admitted_gate)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    _ts(scanned_at),
                    gate,
                    gate_event,
                    source,
                    direction.value,
                    decision.verdict.value,
                    decision.reason,
                    raw,
                    str(code_obj) if code_obj else None,
                    code_obj.event if code_obj else None,
                    code_obj.serial if code_obj else None,
                    entry_no,
                    _ts(decision.first_admitted_at) if decision.first_admitted_at else None,
                    decision.first_admitted_gate,
                ),
            )
            scan_id = cur.lastrowid
        assert scan_id is not None
        return ScanResult(
            scan_id=scan_id,
            verdict=decision.verdict,
            direction=direction,
            raw=raw,
            code=str(decision.code) if decision.code else None,
            event=decision.code.event if decision.code else None,
            serial=decision.code.serial if decision.code else None,
            reason=decision.reason,
            scanned_at=scanned_at,
            gate=gate,
            source=source,
            first_admitted_at=decision.first_admitted_at,
            first_admitted_gate=decision.first_admitted_gate,
        )

    @staticmethod
    def _state(conn: sqlite3.Connection, event: str, serial: int) -> TicketState:
        ticket = conn.execute(
            "SELECT revoked, revoked_reason FROM tickets WHERE event = ? AND serial = ?", (event, serial)
        ).fetchone()
        presence = conn.execute(
            "SELECT first_admitted_at, first_admitted_gate, inside, last_moved_at, last_moved_gate, entries"
            " FROM presence WHERE event = ? AND serial = ?",
            (event, serial),
        ).fetchone()
        revoked = bool(ticket and ticket[0])
        reason = ticket[1] if ticket else None
        if presence is None:
            return TicketState(revoked=revoked, revoked_reason=reason)
        return TicketState(
            revoked=revoked,
            revoked_reason=reason,
            first_admitted_at=_dt(presence[0]),
            first_admitted_gate=presence[1],
            inside=bool(presence[2]),
            last_moved_at=_dt(presence[3]),
            last_moved_gate=presence[4],
            entries=presence[5],
        )

    @staticmethod
    def _apply(conn: sqlite3.Connection, decision: Decision, *, gate: str, at: datetime) -> int | None:
        """Update the ticket's presence for an entry or exit; return the entry number of an entry."""
        code = decision.code
        if decision.movement is Movement.NONE or code is None:
            return None
        when = _ts(at)
        if decision.movement is Movement.EXIT:
            conn.execute(
                "UPDATE presence SET inside = 0, last_moved_at = ?, last_moved_gate = ?"
                " WHERE event = ? AND serial = ? AND inside = 1",
                (when, gate, code.event, code.serial),
            )
            return None
        row = conn.execute(
            "INSERT INTO presence (event, serial, first_admitted_at, first_admitted_gate, inside,"
            " last_moved_at, last_moved_gate, entries) VALUES (?, ?, ?, ?, 1, ?, ?, 1)"
            " ON CONFLICT (event, serial) DO UPDATE SET inside = 1, last_moved_at = excluded.last_moved_at,"
            " last_moved_gate = excluded.last_moved_gate, entries = entries + 1"
            " RETURNING entries",
            (code.event, code.serial, when, gate, when, gate),
        ).fetchone()
        entries: int = row[0]
        return entries

    def recent_scans(self, limit: int = 20) -> list[ScanResult]:
        """The latest scans, newest first."""
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT {_SCAN_COLUMNS} FROM scans ORDER BY id DESC LIMIT ?", (limit,)
            ).fetchall()
        return [_scan(r) for r in rows]

    def ticket_history(self, event: str, serial: int) -> list[ScanResult]:
        """Every scan of one ticket (of a well-formed code for it, whatever the verdict), oldest first."""
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT {_SCAN_COLUMNS} FROM scans WHERE event = ? AND serial = ? ORDER BY id",
                (event.upper(), serial),
            ).fetchall()
        return [_scan(r) for r in rows]

    def counters(self, *, event: str | None = None) -> Counters:
        """Admitted entries, rejected scans, exits and people inside now — of the gate event ``event``
        (scans recorded by gates checking that event) or of the whole store."""
        with self._read() as conn:
            if event:
                rows = conn.execute(
                    "SELECT name, n FROM tallies WHERE gate_event = ?", (event.upper(),)
                ).fetchall()
            else:
                rows = conn.execute("SELECT name, sum(n) FROM tallies GROUP BY name").fetchall()
        got = dict(rows)
        return Counters(
            admitted=got.get("admitted", 0),
            rejected=got.get("rejected", 0),
            inside=got.get("inside", 0),
            exits=got.get("exits", 0),
        )

    def pending_upload_count(self) -> int:
        """Scans not yet pushed to the backend."""
        with self._read() as conn:
            count: int = conn.execute("SELECT count(*) FROM scans WHERE synced = 0").fetchone()[0]
            return count

    def unsynced_scans(self, limit: int = 500) -> list[ScanResult]:
        """The oldest scans not yet pushed, for the sync client."""
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT {_SCAN_COLUMNS} FROM scans WHERE synced = 0 ORDER BY id LIMIT ?", (limit,)
            ).fetchall()
        return [_scan(r) for r in rows]

    def mark_synced(self, scan_ids: Iterable[int]) -> None:
        with self._write() as conn:
            conn.executemany("UPDATE scans SET synced = 1 WHERE id = ?", ((i,) for i in scan_ids))

    def last_sync_at(self) -> datetime | None:
        """When the last successful sync ended; None means never."""
        with self._read() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = 'last_sync_at'").fetchone()
        return _dt(row[0]) if row else None

    def set_last_sync_at(self, moment: datetime) -> None:
        with self._write() as conn:
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('last_sync_at', ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (_ts(moment),),
            )

    # -- known tickets and revocations ---------------------------------------------------------

    def upsert_tickets(self, tickets: Iterable[KnownTicket]) -> int:
        """Add or update known tickets in one transaction; return how many rows were given.

        Revocations are sticky: a refund is final, so a later list that still shows the ticket as
        valid (an older export, a sync race) does not un-revoke it.
        """
        now = _ts(datetime.now(UTC))
        rows = [
            (t.event, t.serial, t.holder, int(t.revoked), t.revoked_reason if t.revoked else None, now)
            for t in tickets
        ]
        with self._write() as conn:
            conn.executemany(
                "INSERT INTO tickets (event, serial, holder, revoked, revoked_reason, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (event, serial) DO UPDATE SET"
                " holder = coalesce(excluded.holder, holder),"
                " revoked_reason = CASE WHEN excluded.revoked = 1 THEN excluded.revoked_reason"
                "   ELSE revoked_reason END,"
                " revoked = max(revoked, excluded.revoked),"
                " updated_at = excluded.updated_at",
                rows,
            )
        return len(rows)

    def revoke(self, event: str, serial: int, *, reason: str) -> None:
        """Mark a ticket revoked (refunded or cancelled); its next scan is REVOKED with ``reason``."""
        self.upsert_tickets(
            [KnownTicket(event=event.upper(), serial=serial, revoked=True, revoked_reason=reason)]
        )

    def import_tickets(self, path: Path) -> int:
        """Import known tickets and revocations from a JSON or CSV file (see ``parse_ticket_list``)."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise TicketListError(f"{path}: no such file") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise TicketListError(f"{path}: cannot read: {exc}") from None
        return self.upsert_tickets(parse_ticket_list(text, name=str(path)))

    def find_tickets(self, query: str, *, limit: int = 50) -> list[KnownTicket]:
        """Known tickets matching a serial (``42``), a code or ``EVENT-SERIAL``, or part of a holder name."""
        query = query.strip()
        if not query:
            return []
        select = "SELECT event, serial, holder, revoked, revoked_reason FROM tickets"
        with self._read() as conn:
            if query.isascii() and query.isdigit():
                if int(query) > _MAX_SERIAL:
                    return []
                rows = conn.execute(
                    f"{select} WHERE serial = ? ORDER BY event LIMIT ?", (int(query), limit)
                ).fetchall()
            elif (ident := _ticket_ident(query)) is not None:
                rows = conn.execute(
                    f"{select} WHERE event = ? AND serial = ? LIMIT ?", (*ident, limit)
                ).fetchall()
            else:
                pattern = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
                rows = conn.execute(
                    f"{select} WHERE holder LIKE ? ESCAPE '\\' ORDER BY holder, event, serial LIMIT ?",
                    (pattern, limit),
                ).fetchall()
        return [
            KnownTicket(event=r[0], serial=r[1], holder=r[2], revoked=bool(r[3]), revoked_reason=r[4])
            for r in rows
        ]


def _tally_deltas(decision: Decision) -> list[tuple[str, int]]:
    if decision.verdict is not Verdict.ADMIT:
        return [("rejected", 1)]
    if decision.movement is Movement.EXIT:
        return [("exits", 1), ("inside", -1)]
    if decision.movement is Movement.ENTRY:
        return [("admitted", 1), ("inside", 1)]
    return []


def _ticket_ident(text: str) -> tuple[str, int] | None:
    """``(EVENT, serial)`` from a full code or an ``EVENT-SERIAL`` prefix, else None."""
    try:
        code = parse_code(text)
        return code.event, code.serial
    except MalformedCode:
        pass
    parts = text.split("-")
    if (
        len(parts) == 2
        and EVENT_CODE_RE.fullmatch(parts[0].upper())
        and parts[1].isascii()
        and parts[1].isdigit()
        and int(parts[1]) <= _MAX_SERIAL
    ):
        return parts[0].upper(), int(parts[1])
    return None


def parse_ticket_list(text: str, *, name: str = "ticket list") -> list[KnownTicket]:
    """Known tickets from JSON or CSV text; raises TicketListError naming the entry at fault.

    JSON: a list of tickets, or ``{"tickets": [...], "revocations": [...]}``. A ticket is
    ``{"event": "VL9IHU", "serial": 1, "holder": "Ada", "revoked": false, "reason": "..."}`` or
    ``{"code": "VL9IHU-001-f3a2b1c0", ...}``; a revocation is the same, revoked implied.
    CSV: a header row with ``event,serial`` or ``code``, and optionally ``holder``, ``revoked``, ``reason``.
    """
    stripped = text.lstrip("\ufeff").lstrip()
    if stripped.startswith(("[", "{")):
        try:
            data = json.loads(stripped)
        except ValueError as exc:
            raise TicketListError(f"{name}: not valid JSON: {exc}") from None
        except RecursionError:  # json's answer to brackets nested thousands deep
            raise TicketListError(f"{name}: not valid JSON: nested too deeply") from None
        if isinstance(data, list):
            entries = [(e, False) for e in data]
        elif isinstance(data, dict) and set(data) <= {"tickets", "revocations"} and data:
            tickets, revocations = data.get("tickets", []), data.get("revocations", [])
            if not isinstance(tickets, list) or not isinstance(revocations, list):
                raise TicketListError(f"{name}: 'tickets' and 'revocations' must be lists")
            entries = [(e, False) for e in tickets] + [(e, True) for e in revocations]
        else:
            raise TicketListError(f"{name}: expected a list or an object with 'tickets' / 'revocations'")
        return [_ticket_from(e, revoked=r, where=f"{name} entry {i + 1}") for i, (e, r) in enumerate(entries)]
    reader = csv.DictReader(io.StringIO(stripped))
    fields = {f.strip().lower() for f in reader.fieldnames or []}
    if not ({"event", "serial"} <= fields or "code" in fields):
        raise TicketListError(f"{name}: not JSON, and not CSV with a header naming 'event,serial' or 'code'")
    found = []
    for row in reader:
        entry = {k.strip().lower(): (v.strip() if isinstance(v, str) else v) for k, v in row.items() if k}
        found.append(_ticket_from(entry, revoked=False, where=f"{name} line {reader.line_num}"))
    return found


_TRUE = {"1", "true", "yes", "y", "revoked"}
_FALSE = {"", "0", "false", "no", "n", "valid", "paid"}


def _ticket_from(entry: object, *, revoked: bool, where: str) -> KnownTicket:
    if not isinstance(entry, dict):
        raise TicketListError(f"{where}: expected an object")
    if entry.get("code"):
        try:
            code = parse_code(str(entry["code"]))
        except MalformedCode as exc:
            raise TicketListError(f"{where}: code {entry['code']!r}: {exc}") from None
        event, serial = code.event, code.serial
    else:
        event = str(entry.get("event") or "").strip().upper()
        if not EVENT_CODE_RE.fullmatch(event):
            raise TicketListError(f"{where}: event {entry.get('event')!r} is not 4 to 12 of A-Z and 0-9")
        raw_serial = entry.get("serial")
        try:
            if isinstance(raw_serial, bool | float):
                raise ValueError
            serial = int(str(raw_serial).strip())
        except (TypeError, ValueError):
            raise TicketListError(f"{where}: serial {raw_serial!r} is not a whole number") from None
        if not 1 <= serial <= _MAX_SERIAL:
            raise TicketListError(f"{where}: serial {serial} does not exist (serials are 1 to {_MAX_SERIAL})")
    flag = entry.get("revoked", entry.get("status", False))
    if isinstance(flag, str):
        lowered = flag.strip().lower()
        if lowered in _TRUE or lowered in ("refunded", "cancelled", "canceled"):
            flag = True
        elif lowered in _FALSE:
            flag = False
        else:
            raise TicketListError(f"{where}: revoked/status {flag!r} is neither yes nor no")
    if not isinstance(flag, bool):
        raise TicketListError(f"{where}: revoked must be true or false, not {flag!r}")
    is_revoked = revoked or flag
    reason = entry.get("reason") or entry.get("revoked_reason")
    if is_revoked and not reason:
        status = entry.get("status")
        reason = status if isinstance(status, str) and status.strip() else "refunded or cancelled"
    holder = entry.get("holder")
    return KnownTicket(
        event=event,
        serial=serial,
        holder=str(holder).strip() or None if holder is not None else None,
        revoked=is_revoked,
        revoked_reason=str(reason).strip() if is_revoked and reason else None,
    )


def _statements(script: str) -> list[str]:
    """Split a migration script on ``;`` (our scripts hold no semicolons in literals or comments).

    Not ``executescript``: it would commit the ``BEGIN IMMEDIATE`` the migration runs under."""
    return [s.strip() for s in script.split(";") if s.strip()]


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
