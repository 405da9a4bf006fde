-- Events, sharded stock, orders, tickets, processed payment events and the audit log.

CREATE TABLE events (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code         text NOT NULL UNIQUE CHECK (code ~ '^[A-Z0-9]{4,12}$'),
    name         text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    capacity     integer NOT NULL CHECK (capacity >= 1),
    price_cents  bigint NOT NULL DEFAULT 0 CHECK (price_cents >= 0),
    currency     text NOT NULL DEFAULT 'EUR' CHECK (currency ~ '^[A-Z]{3}$'),
    key_version  integer NOT NULL DEFAULT 1 CHECK (key_version >= 1),
    -- The next ticket serial; only ever grows, so a serial is never reused.
    next_serial  integer NOT NULL DEFAULT 1 CHECK (next_serial >= 1),
    stock_shards smallint NOT NULL CHECK (stock_shards BETWEEN 1 AND 64),
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- An event's stock is split over shard rows so that a flash sale does not queue on one row lock.
-- Per event, capacity = sum(available + held + sold) over its shards.
CREATE TABLE event_stock (
    event_id  bigint NOT NULL REFERENCES events (id),
    shard     smallint NOT NULL CHECK (shard >= 0),
    available integer NOT NULL CHECK (available >= 0),
    held      integer NOT NULL DEFAULT 0 CHECK (held >= 0),
    sold      integer NOT NULL DEFAULT 0 CHECK (sold >= 0),
    PRIMARY KEY (event_id, shard)
);

CREATE TABLE orders (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    event_id         bigint NOT NULL REFERENCES events (id),
    status           text NOT NULL CHECK (
        status IN ('pending', 'paid', 'expired', 'cancelled', 'refunded', 'refund_due')),
    quantity         integer NOT NULL CHECK (quantity >= 1),
    amount_cents     bigint NOT NULL CHECK (amount_cents >= 0),
    currency         text NOT NULL,
    email            text NOT NULL,
    idempotency_key  text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    expires_at       timestamptz NOT NULL,
    paid_at          timestamptz,
    webhook_attempts integer NOT NULL DEFAULT 0,
    payment_reference text,
    -- Which stock shards hold (or sold) this order's quantity: parallel arrays, summing to quantity.
    alloc_shards     smallint[] NOT NULL,
    alloc_quantities integer[] NOT NULL,
    CONSTRAINT orders_idempotency_key UNIQUE (event_id, idempotency_key),
    CONSTRAINT orders_paid_has_paid_at CHECK (status <> 'paid' OR paid_at IS NOT NULL),
    CONSTRAINT orders_allocation_shape CHECK (
        cardinality(alloc_shards) = cardinality(alloc_quantities))
);
-- The reaper's work queue: its cost grows with the pending orders, not with the whole table.
CREATE INDEX orders_pending_expiry ON orders (expires_at) WHERE status = 'pending';
CREATE INDEX orders_refund_due ON orders (created_at) WHERE status = 'refund_due';
-- Lookups by event use the unique (event_id, idempotency_key) index; no separate one to maintain.

CREATE TABLE tickets (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id  uuid NOT NULL REFERENCES orders (id),
    event_id  bigint NOT NULL REFERENCES events (id),
    serial    integer NOT NULL CHECK (serial >= 1),
    code      text NOT NULL UNIQUE,
    status    text NOT NULL DEFAULT 'valid' CHECK (status IN ('valid', 'revoked')),
    issued_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT tickets_serial_per_event UNIQUE (event_id, serial)
);
CREATE INDEX tickets_order ON tickets (order_id);

-- One row per payment-provider event id: a redelivered event is recognised and changes nothing.
CREATE TABLE processed_payment_events (
    provider_event_id text PRIMARY KEY,
    order_id          uuid NOT NULL REFERENCES orders (id),
    type              text NOT NULL,
    outcome           text NOT NULL,
    received_at       timestamptz NOT NULL DEFAULT now()
);

-- Every state change of an order (and event creation): who or what did it, when, from and to.
CREATE TABLE audit_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id    uuid REFERENCES orders (id),
    event_id    bigint REFERENCES events (id),
    from_status text,
    to_status   text NOT NULL,
    actor       text NOT NULL,
    at          timestamptz NOT NULL DEFAULT now(),
    detail      jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_log_order ON audit_log (order_id);
