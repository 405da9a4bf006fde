"""The store's versioned schema (``PRAGMA user_version``), and how times are written in it."""

from __future__ import annotations

from datetime import UTC, datetime

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
    # 2: sync with the backend. Entries and exits other gates recorded, kept apart from this gate's
    # own scans (whose ids are what the gate uploads) and replayed with them into ``presence``;
    # conflicts the backend flagged; what a pulled ticket carries besides its revocation.
    """
    CREATE TABLE remote_movements (
        scan      TEXT    PRIMARY KEY,  -- the backend's global scan id, "<device id>/<gate scan id>"
        event     TEXT    NOT NULL,
        serial    INTEGER NOT NULL,
        gate      TEXT    NOT NULL,
        direction TEXT    NOT NULL CHECK (direction IN ('in', 'out')),
        at        TEXT    NOT NULL      -- the server's clock
    ) WITHOUT ROWID;
    CREATE INDEX remote_movements_by_ticket ON remote_movements (event, serial);

    CREATE TABLE conflicts (
        id          TEXT    PRIMARY KEY,
        event       TEXT    NOT NULL,
        serial      INTEGER NOT NULL,
        scan_a      TEXT    NOT NULL,
        gate_a      TEXT    NOT NULL,
        at_a        TEXT    NOT NULL,
        scan_b      TEXT    NOT NULL,
        gate_b      TEXT    NOT NULL,
        at_b        TEXT    NOT NULL,
        received_at TEXT    NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX conflicts_by_ticket ON conflicts (event, serial);

    ALTER TABLE tickets ADD COLUMN code TEXT;
    ALTER TABLE tickets ADD COLUMN order_ref TEXT;
    ALTER TABLE tickets ADD COLUMN status_changed_at TEXT
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


def ts(moment: datetime) -> str:
    """A moment as the store writes it: ISO 8601 in UTC, to the microsecond (sorts as text)."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def dt(text: str | None) -> datetime | None:
    """A stored time back as an aware datetime (None stays None)."""
    return None if text is None else datetime.fromisoformat(text)


def statements(script: str) -> list[str]:
    """Split a migration script on ``;`` (our scripts hold no semicolons in literals or comments).

    Not ``executescript``: it would commit the ``BEGIN IMMEDIATE`` the migration runs under."""
    return [s.strip() for s in script.split(";") if s.strip()]
