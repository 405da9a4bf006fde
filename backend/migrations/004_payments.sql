-- Money handled like a payment system: every provider payment recorded against the one order it pays,
-- orders flagged for the operator, revoked seats kept off sale if the operator wants, buyer-scoped
-- Idempotency-Keys, order access tokens, and the index behind the per-email hold limit.

ALTER TABLE orders DROP CONSTRAINT orders_status_check;
ALTER TABLE orders ADD CONSTRAINT orders_status_check CHECK (
    status IN ('pending', 'paid', 'expired', 'cancelled', 'refunded', 'refund_due', 'disputed'));

ALTER TABLE orders
    -- SHA-256 of the buyer's access token (shown once, at checkout); NULL for orders made before.
    ADD COLUMN access_token_hash bytea,
    -- Why an operator must look at this order (payment_mismatch, payment_reused, double_payment,
    -- partial_refund, disputed), and since when; NULL when nothing is wrong or it was cleared.
    ADD COLUMN attention    text,
    ADD COLUMN attention_at timestamptz,
    -- The order's seats were revoked and kept off sale: they count in event_stock.withdrawn.
    ADD COLUMN stock_withdrawn boolean NOT NULL DEFAULT false;

-- An Idempotency-Key belongs to its buyer: the same key sent with another email is another request,
-- never an answer about someone else's order.
ALTER TABLE orders DROP CONSTRAINT orders_idempotency_key;
ALTER TABLE orders ADD CONSTRAINT orders_idempotency_key UNIQUE (event_id, email, idempotency_key);

-- The per-email hold limit counts a buyer's pending tickets per event with this, inside checkout.
CREATE INDEX orders_pending_email ON orders (event_id, lower(email)) WHERE status = 'pending';
CREATE INDEX orders_attention ON orders (attention_at) WHERE attention IS NOT NULL;

-- Per event, capacity = sum(available + held + sold + withdrawn) over its shards.
ALTER TABLE event_stock ADD COLUMN withdrawn integer NOT NULL DEFAULT 0 CHECK (withdrawn >= 0);

-- Every payment the provider reported, once per provider reference (a Stripe payment intent):
-- the reference pays at most one order. status: paid (it paid its order), refund_due (its money
-- must go back: a second payment, a late one with no stock left, one that did not match its
-- order), refunded (it went back). due_cents is what is owed back: all of a refund_due payment,
-- the surplus of an overpaid one; refunded_cents what went back so far.
CREATE TABLE payments (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    reference        text NOT NULL UNIQUE CHECK (length(reference) BETWEEN 1 AND 255),
    order_id         uuid NOT NULL REFERENCES orders (id),
    amount_cents     bigint NOT NULL CHECK (amount_cents >= 0),
    currency         text NOT NULL,
    status           text NOT NULL CHECK (status IN ('paid', 'refund_due', 'refunded')),
    due_cents        bigint NOT NULL DEFAULT 0 CHECK (due_cents >= 0),
    refunded_cents   bigint NOT NULL DEFAULT 0 CHECK (refunded_cents >= 0),
    reason           text,
    received_at      timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payments_order ON payments (order_id);
CREATE INDEX payments_due ON payments (received_at) WHERE due_cents > 0;
