-- Gate sync: devices and their pairing, the scans gates upload, conflicts, and the change feed gates
-- pull (see docs/sync-protocol.md).

-- Whether gates of the event are sent the holder (the order's email) with each ticket.
ALTER TABLE events ADD COLUMN share_holders boolean NOT NULL DEFAULT false;

-- A gate device of one event. Only hashes of secrets are kept: the one-time pairing code until it is
-- used or replaced, then the device token.
CREATE TABLE devices (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    event_id           bigint NOT NULL REFERENCES events (id),
    name               text NOT NULL CHECK (length(name) BETWEEN 1 AND 40 AND name = btrim(name)),
    created_at         timestamptz NOT NULL DEFAULT now(),
    pairing_code_hash  bytea UNIQUE,
    pairing_expires_at timestamptz,
    token_hash         bytea UNIQUE,
    paired_at          timestamptz,
    revoked_at         timestamptz,
    last_seen_at       timestamptz,
    last_sync_at       timestamptz,
    clock_offset_ms    bigint,
    CONSTRAINT devices_pairing_shape CHECK ((pairing_code_hash IS NULL) = (pairing_expires_at IS NULL)),
    CONSTRAINT devices_paired_has_token CHECK ((paired_at IS NULL) = (token_hash IS NULL))
);
-- A name is unique among an event's devices still in service: a revoked "Gate A" (a lost laptop) can
-- be replaced by a new "Gate A".
CREATE UNIQUE INDEX devices_name_per_event ON devices (event_id, name) WHERE revoked_at IS NULL;

-- Every scan a gate uploaded, exactly once per (device, the gate's own scan id).
CREATE TABLE scans (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    device_id       uuid NOT NULL REFERENCES devices (id),
    scan_id         bigint NOT NULL CHECK (scan_id >= 1),
    event_id        bigint NOT NULL REFERENCES events (id),  -- the device's event
    gate            text NOT NULL,
    scanned_at      timestamptz NOT NULL,  -- the device's clock
    clock_offset_ms bigint,                -- server minus device, as the device last measured it
    corrected_at    timestamptz NOT NULL,  -- scanned_at + offset: the server's timeline
    direction       text NOT NULL CHECK (direction IN ('in', 'out')),
    verdict         text NOT NULL,
    reason          text NOT NULL,
    source          text NOT NULL,
    code            text,
    scan_event      text,                  -- the event the scanned code named (WRONG_EVENT differs)
    serial          integer,
    -- An ADMIT of a ticket of the device's event: an entry ('in') or exit ('out') of that ticket.
    movement        boolean NOT NULL,
    received_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT scans_once_per_device UNIQUE (device_id, scan_id),
    CONSTRAINT scans_movement_has_serial CHECK (NOT movement OR serial IS NOT NULL)
);
-- A ticket's merged record: its movements from every device in corrected-time order.
CREATE INDEX scans_movements ON scans (event_id, serial, corrected_at) WHERE movement;
CREATE INDEX scans_event ON scans (event_id);

-- One row per ticket that has moved: what concurrent ingestions of the same ticket lock (row locks,
-- not advisory locks: a batch of 1,000 scans would need 1,000 entries in the shared lock table).
CREATE TABLE ticket_movement_locks (
    event_id bigint NOT NULL REFERENCES events (id),
    serial   integer NOT NULL,
    PRIMARY KEY (event_id, serial)
);

-- An entry made while the ticket was already inside by another device's entry (no exit between), in
-- the merged timeline. Both scans stand; each redundant entry is flagged once. Rebuilt whenever the
-- ticket's record grows: a late upload can change the entry it is flagged against, or show the ticket
-- had left in between (withdrawn).
CREATE TABLE conflicts (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id     bigint NOT NULL REFERENCES events (id),
    serial       integer NOT NULL,
    first_scan   bigint NOT NULL REFERENCES scans (id),  -- the entry that had it inside
    second_scan  bigint NOT NULL UNIQUE REFERENCES scans (id),  -- the entry while inside
    detected_at  timestamptz NOT NULL DEFAULT now(),
    withdrawn_at timestamptz
);
CREATE INDEX conflicts_event ON conflicts (event_id, serial);

-- The change feed: one row per change a gate must learn, written in the same transaction as the change
-- it describes and stamped with that transaction's id. Read in (xid, seq) order, only below the oldest
-- transaction still running, so a row can never appear behind a cursor already handed out.
CREATE SEQUENCE sync_feed_seq;
CREATE TABLE sync_feed (
    event_id    bigint NOT NULL REFERENCES events (id),
    xid         xid8 NOT NULL DEFAULT pg_current_xact_id(),
    seq         bigint NOT NULL DEFAULT nextval('sync_feed_seq'),
    kind        text NOT NULL CHECK (kind IN ('ticket', 'movement', 'conflict')),
    -- Tickets and conflicts change: their rows name them, and the pull sends them as they are when
    -- read (a row written by a transaction with a lower id than an earlier change's still says the
    -- latest).
    ticket_id   bigint REFERENCES tickets (id),
    conflict_id bigint REFERENCES conflicts (id),
    -- A movement's device (a device is not sent its own movements back).
    device_id   uuid REFERENCES devices (id),
    -- Movements never change: their JSON, ready to send.
    payload     text,
    PRIMARY KEY (event_id, xid, seq),
    CONSTRAINT sync_feed_shape CHECK (CASE kind
        WHEN 'ticket' THEN ticket_id IS NOT NULL AND conflict_id IS NULL AND payload IS NULL
        WHEN 'conflict' THEN conflict_id IS NOT NULL AND ticket_id IS NULL AND payload IS NULL
        ELSE payload IS NOT NULL AND ticket_id IS NULL AND conflict_id IS NULL END)
);

-- Which database a cursor belongs to: a cursor from another (or a re-created) database is refused.
CREATE TABLE sync_origin (
    id text NOT NULL DEFAULT substr(md5(gen_random_uuid()::text), 1, 12)
);
INSERT INTO sync_origin DEFAULT VALUES;

-- Tickets reach the feed whoever writes them: payment confirmation issues them, refunds and
-- cancellations revoke them (UPDATE tickets SET status = 'revoked', ...). Statement-level triggers with
-- transition tables: one INSERT into the feed per statement, however many tickets it touched.
CREATE FUNCTION sync_feed_tickets_issued() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO sync_feed (event_id, kind, ticket_id)
    SELECT event_id, 'ticket', id FROM issued ORDER BY id;
    RETURN NULL;
END
$$;

CREATE FUNCTION sync_feed_tickets_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO sync_feed (event_id, kind, ticket_id)
    SELECT n.event_id, 'ticket', n.id
      FROM changed n JOIN before_change o ON o.id = n.id
     WHERE (n.status, n.revoked_reason, n.status_changed_at, n.code, n.serial, n.order_id)
           IS DISTINCT FROM (o.status, o.revoked_reason, o.status_changed_at, o.code, o.serial, o.order_id)
     ORDER BY n.id;
    RETURN NULL;
END
$$;

CREATE TRIGGER tickets_feed_issued AFTER INSERT ON tickets
    REFERENCING NEW TABLE AS issued
    FOR EACH STATEMENT EXECUTE FUNCTION sync_feed_tickets_issued();

CREATE TRIGGER tickets_feed_changed AFTER UPDATE ON tickets
    REFERENCING OLD TABLE AS before_change NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION sync_feed_tickets_changed();
