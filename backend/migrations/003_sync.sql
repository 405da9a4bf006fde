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
    -- The device's event. No foreign key (nor on sync_feed): derived from the device, and a key
    -- check per row would cost every batch of 1,000 scans as many look-ups.
    event_id        bigint NOT NULL,
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
-- transaction still running, so a row can never appear behind a cursor already handed out. Derived
-- data written only by the triggers below and scan ingestion: no foreign keys to check per row.
CREATE SEQUENCE sync_feed_seq;
CREATE TABLE sync_feed (
    event_id    bigint NOT NULL,
    xid         xid8 NOT NULL DEFAULT pg_current_xact_id(),
    seq         bigint NOT NULL DEFAULT nextval('sync_feed_seq'),
    kind        text NOT NULL CHECK (kind IN ('ticket', 'movement', 'conflict')),
    -- Tickets and conflicts change, and each change is a new row; every row of one ticket or conflict
    -- says its latest state, so a row written by a transaction with a lower id than a later change
    -- (it took its id, then waited for a lock) never brings an older state back.
    ticket_id   bigint,
    conflict_id bigint,  -- rendered by the pull (conflicts are rare)
    -- A movement's device (a device is not sent its own movements back).
    device_id   uuid,
    -- The change's JSON, ready to send (tickets, kept up to date by the triggers below; movements,
    -- which never change). 100,000 tickets must go out in a couple of hundred milliseconds.
    payload     text,
    PRIMARY KEY (event_id, xid, seq),
    CONSTRAINT sync_feed_shape CHECK (CASE kind
        WHEN 'ticket' THEN ticket_id IS NOT NULL AND conflict_id IS NULL AND payload IS NOT NULL
        WHEN 'conflict' THEN conflict_id IS NOT NULL AND ticket_id IS NULL AND payload IS NULL
        ELSE payload IS NOT NULL AND ticket_id IS NULL AND conflict_id IS NULL END)
);
CREATE INDEX sync_feed_ticket ON sync_feed (ticket_id) WHERE ticket_id IS NOT NULL;

-- A page of an event's feed after (after_xid, after_seq): up to p_fetch rows in (xid, seq) order with
-- their change JSON, each with the *horizon*: the oldest transaction of this database still running
-- when the calling statement's snapshot was taken (STABLE: the function reads that same snapshot).
-- Only rows below it may be handed out; see docs/sync-protocol.md. The horizon is the oldest running
-- transaction id of the snapshot that pg_stat_activity does not show belonging to another database
-- (the snapshot is cluster-wide; an id whose backend is not found counts as ours, erring early).
-- Conflicts are rendered as they stand now; ticket and movement rows carry their JSON.
-- In a function for its settings: the page must come off the index in order, and before autovacuum
-- has analysed a freshly filled feed the planner guessed a few rows and sorted all 100,000 on disk.
CREATE FUNCTION sync_feed_page(p_event bigint, after_xid xid8, after_seq bigint, p_fetch integer)
RETURNS TABLE (horizon xid8, snapshot_xmax xid8, xid xid8, seq bigint, device_id uuid, change text)
LANGUAGE plpgsql STABLE
SET enable_sort = off
SET enable_bitmapscan = off
AS $$
DECLARE
    snap pg_snapshot := pg_current_snapshot();
    elsewhere xid[];
    oldest xid8;
BEGIN
    IF EXISTS (SELECT FROM pg_snapshot_xip(snap)) THEN
        -- The backends' view read once (pg_stat_activity's joins, per running id, cost more than
        -- the page itself), with this backend's own database to tell the others by.
        SELECT array_agg(s.backend_xid) INTO elsewhere
          FROM pg_stat_get_activity(NULL) AS s
         WHERE s.backend_xid IS NOT NULL AND s.datid IS NOT NULL
           AND s.datid <> (SELECT me.datid FROM pg_stat_get_activity(pg_backend_pid()) AS me);
        SELECT min(x) INTO oldest FROM pg_snapshot_xip(snap) AS x
         WHERE xid(x) <> ALL (coalesce(elsewhere, '{}'));
    END IF;
    horizon := least(pg_snapshot_xmax(snap), oldest);
    snapshot_xmax := pg_snapshot_xmax(snap);
    RETURN QUERY
    SELECT horizon, snapshot_xmax, f.xid, f.seq, f.device_id,
           CASE WHEN f.kind = 'conflict' THEN (
               SELECT json_build_object(
                   'type', 'conflict', 'id', c.id::text, 'serial', c.serial,
                   'scans', json_build_array(a.device_id::text || '/' || a.scan_id,
                                             b.device_id::text || '/' || b.scan_id),
                   'gates', json_build_array(a.gate, b.gate),
                   'at', json_build_array(
                       to_char(a.corrected_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"'),
                       to_char(b.corrected_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')),
                   'withdrawn', c.withdrawn_at IS NOT NULL)::text
                 FROM conflicts c JOIN scans a ON a.id = c.first_scan JOIN scans b ON b.id = c.second_scan
                WHERE c.id = f.conflict_id)
           ELSE f.payload END
      FROM sync_feed f
     WHERE f.event_id = p_event AND (f.xid, f.seq) > (after_xid, after_seq)
     ORDER BY f.xid, f.seq
     LIMIT p_fetch;
    IF NOT FOUND THEN
        -- No rows: still say where the horizon and the snapshot stand (the cursor check needs them).
        xid := NULL; seq := NULL; device_id := NULL; change := NULL;
        RETURN NEXT;
    END IF;
END
$$;

-- Which database a cursor belongs to: a cursor from another (or a re-created) database is refused.
CREATE TABLE sync_origin (
    id text NOT NULL DEFAULT substr(md5(gen_random_uuid()::text), 1, 12)
);
INSERT INTO sync_origin DEFAULT VALUES;

-- A ticket as a gate is sent it: ticketcode.sync_protocol's TicketChange, times as its encoder writes them.
CREATE FUNCTION sync_ticket_json(serial integer, code text, status text, changed_at timestamptz,
                                 reason text, order_id uuid, holder text) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'type', 'ticket', 'serial', serial, 'code', code, 'status', status,
        'changed_at', to_char(changed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"'),
        'reason', reason, 'order', order_id::text, 'holder', left(holder, 200))::text
$$;

-- Tickets reach the feed whoever writes them: payment confirmation issues them, refunds and
-- cancellations revoke them (UPDATE tickets SET status = 'revoked', ...). Statement-level triggers with
-- transition tables: one INSERT into the feed per statement, however many tickets it touched. The
-- holder (the order's email) only for events that share holders with their gates.
CREATE FUNCTION sync_feed_tickets_issued() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO sync_feed (event_id, kind, ticket_id, payload)
    SELECT i.event_id, 'ticket', i.id,
           sync_ticket_json(i.serial, i.code, i.status, i.status_changed_at, i.revoked_reason, i.order_id,
                            CASE WHEN e.share_holders
                                 THEN (SELECT o.email FROM orders o WHERE o.id = i.order_id) END)
      FROM issued i JOIN events e ON e.id = i.event_id
     ORDER BY i.id;
    RETURN NULL;
END
$$;

-- A change also rewrites the ticket's earlier rows to its new state (see sync_feed.ticket_id). Writers
-- of one ticket's rows are serialised by the ticket's row lock, so this sees every earlier row. One
-- UPDATE per ticket, an index probe each: a joined UPDATE could be planned as a scan of the whole feed.
CREATE FUNCTION sync_feed_tickets_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    t record;
BEGIN
    FOR t IN
        SELECT n.id, n.event_id,
               sync_ticket_json(n.serial, n.code, n.status, n.status_changed_at, n.revoked_reason,
                                n.order_id,
                                CASE WHEN e.share_holders
                                     THEN (SELECT o.email FROM orders o WHERE o.id = n.order_id) END) AS payload
          FROM changed n JOIN before_change b ON b.id = n.id JOIN events e ON e.id = n.event_id
         WHERE (n.status, n.revoked_reason, n.status_changed_at, n.code, n.serial, n.order_id)
               IS DISTINCT FROM (b.status, b.revoked_reason, b.status_changed_at, b.code, b.serial, b.order_id)
         ORDER BY n.id
    LOOP
        UPDATE sync_feed SET payload = t.payload WHERE ticket_id = t.id;
        INSERT INTO sync_feed (event_id, kind, ticket_id, payload) VALUES (t.event_id, 'ticket', t.id, t.payload);
    END LOOP;
    RETURN NULL;
END
$$;

CREATE TRIGGER tickets_feed_issued AFTER INSERT ON tickets
    REFERENCING NEW TABLE AS issued
    FOR EACH STATEMENT EXECUTE FUNCTION sync_feed_tickets_issued();

CREATE TRIGGER tickets_feed_changed AFTER UPDATE ON tickets
    REFERENCING OLD TABLE AS before_change NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION sync_feed_tickets_changed();
