-- Signing scheme per event and key rotation (docs/signing.md).
ALTER TABLE events
    -- hmac: short typeable codes, the gate's key could also issue them; ed25519: gates hold only the
    -- public key.
    ADD COLUMN signing       text NOT NULL DEFAULT 'hmac' CHECK (signing IN ('hmac', 'ed25519')),
    -- Key versions below this one are retired: every valid ticket was re-signed with a newer one, and
    -- a code of a retired version is REVOKED at the gates ("superseded: ask for the new ticket").
    ADD COLUMN retired_below integer NOT NULL DEFAULT 1,
    ADD CONSTRAINT events_retired_below_current CHECK (retired_below BETWEEN 1 AND key_version);

-- The key version that signed the ticket's current code; NULL for tickets issued before this migration
-- (then the event's only version, as nothing could rotate a key before it).
ALTER TABLE tickets
    ADD COLUMN key_version integer CHECK (key_version IS NULL OR key_version >= 1);
