-- A ticket's status change carries when and why: gates learn revocations (refunds, cancellations,
-- superseded codes) by sync and show the reason, and the change feed orders them by time.
ALTER TABLE tickets
    ADD COLUMN status_changed_at timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN revoked_reason    text CHECK (revoked_reason IS NULL OR length(revoked_reason) <= 200),
    ADD CONSTRAINT tickets_revoked_has_reason CHECK (status <> 'revoked' OR revoked_reason IS NOT NULL);
