"""Orders: checkout (hold stock for a pending order, within the buyer's hold limit), read an order."""

from __future__ import annotations

import hmac
import random
import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.rows import class_row, dict_row
from psycopg_pool import AsyncConnectionPool

from backend.db import database_errors, storable_text
from backend.errors import EventNotFound, HoldLimit, InvalidInput, OrderNotFound, SoldOut
from backend.events import code_to_look_up
from backend.lifecycle import OrderStatus
from backend.order_tokens import new_access_token, token_hash
from backend.stock import allocate

MAX_EMAIL_CHARS = 254
MAX_IDEMPOTENCY_KEY_CHARS = 200
_EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+")


@dataclass(frozen=True)
class Order:
    """An order as buyers and operators see it; ``tickets`` are the codes, once paid."""

    id: UUID
    event_code: str
    status: OrderStatus
    quantity: int
    amount_cents: int
    currency: str
    email: str
    created_at: datetime
    expires_at: datetime
    paid_at: datetime | None
    webhook_attempts: int
    tickets: tuple[str, ...] = ()
    # The provider's reference of the payment (e.g. Stripe's payment intent id): what a refund needs.
    payment_reference: str | None = None
    # Why an operator must look at the order (payment_mismatch, double_payment, ...), if anything.
    attention: str | None = None
    # The buyer's access token: set only on the order a checkout has just made (it is shown once).
    access_token: str | None = field(default=None, repr=False, compare=False)
    access_token_hash: bytes | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Rows arrive with a plain status string and a list of codes; normalise them once here.
        object.__setattr__(self, "status", OrderStatus(self.status))
        object.__setattr__(self, "tickets", tuple(self.tickets or ()))
        if self.access_token_hash is not None:
            object.__setattr__(self, "access_token_hash", bytes(self.access_token_hash))

    def opens_with(self, token: str | None) -> bool:
        """Whether ``token`` is this order's access token (compared in constant time)."""
        if not token or self.access_token_hash is None:
            return False
        return hmac.compare_digest(token_hash(token), self.access_token_hash)


class _IdempotencyRace(Exception):
    """Another request with the same Idempotency-Key committed first: use its order."""


ORDER_COLUMNS = (
    "o.id, e.code AS event_code, o.status, o.quantity, o.amount_cents, o.currency, o.email,"
    " o.created_at, o.expires_at, o.paid_at, o.webhook_attempts, o.payment_reference, o.attention,"
    " o.access_token_hash"
)

# Taken first in every checkout transaction, before any stock row: one buyer's checkouts for one event
# run one at a time, so each counts the pending tickets the previous ones committed (a count inside
# one statement would see only its own snapshot). Keyed on the event code and the lowered email.
LOCK_BUYER = "SELECT pg_advisory_xact_lock(hashtextextended(%s || chr(10) || lower(%s), 0))"

# Checkout in one round trip: take the quantity from one shard (chosen by the caller at random) if
# that shard has it, insert the order and its audit row, or find the order already made under the same
# Idempotency-Key. All in one statement, so the stock row is locked only for the statement and commit.
_RESERVE_ONE_SHARD = """
WITH ev AS (
    SELECT id, code, price_cents, currency, stock_shards FROM events WHERE code = %(code)s
), existing AS (
    SELECT o.* FROM orders o, ev
     WHERE %(key)s::text IS NOT NULL AND o.event_id = ev.id AND o.email = %(email)s
       AND o.idempotency_key = %(key)s
), taken AS (
    UPDATE event_stock s
       SET available = s.available - %(quantity)s, held = s.held + %(quantity)s
      FROM ev
     WHERE s.event_id = ev.id AND s.shard = mod(%(pick)s, ev.stock_shards)
       AND s.available >= %(quantity)s AND NOT EXISTS (SELECT 1 FROM existing)
       AND %(quantity)s <= %(room)s
    RETURNING s.shard
), placed AS (
    INSERT INTO orders (event_id, status, quantity, amount_cents, currency, email, idempotency_key,
                        expires_at, alloc_shards, alloc_quantities, access_token_hash)
    SELECT ev.id, 'pending', %(quantity)s, ev.price_cents * %(quantity)s, ev.currency, %(email)s,
           %(key)s, now() + make_interval(secs => %(hold)s), ARRAY[taken.shard], ARRAY[%(quantity)s],
           %(token_hash)s
      FROM ev, taken
    ON CONFLICT ON CONSTRAINT orders_idempotency_key DO NOTHING
    RETURNING *
), audited AS (
    INSERT INTO audit_log (order_id, event_id, from_status, to_status, actor, detail)
    SELECT p.id, p.event_id, NULL, 'pending', 'checkout',
           jsonb_build_object('quantity', p.quantity, 'shards', p.alloc_shards)
      FROM placed p
)
SELECT ev.id AS event_id, ev.code AS event_code, (SELECT count(*) FROM taken) AS taken,
       (SELECT count(*) FROM existing) AS existed,
       o.id, o.status, o.quantity, o.amount_cents, o.currency, o.email, o.created_at, o.expires_at,
       o.paid_at, o.webhook_attempts, o.idempotency_key
  FROM ev LEFT JOIN (SELECT * FROM placed UNION ALL SELECT * FROM existing) o ON true
"""

# The slow path, when the chosen shard is short: lock all the event's shards in shard order (the
# order every multi-shard writer uses, so no deadlock) and allocate from their current counts.
_LOCK_SHARDS = """
SELECT shard, available FROM event_stock WHERE event_id = %s ORDER BY shard FOR UPDATE
"""

# The buyer's pending tickets for the event and the seconds until the first of those holds ends,
# read after LOCK_BUYER in the same transaction. Run unprepared, planned each time (about 0.2 ms of
# database CPU, paid by lone checkouts only; batches plan theirs once per batch): a prepared
# statement's generic plan, made while the table was small, kept scanning every pending order once it
# had grown, until the next autoanalyze (measured: a checkout went from 5 ms to 124 ms at 100,000).
BUYER_PENDING = """
SELECT coalesce(sum(o.quantity), 0), extract(epoch FROM min(o.expires_at) - now())::float8
  FROM orders o
 WHERE o.event_id = (SELECT id FROM events WHERE code = %(code)s)
   AND lower(o.email) = lower(%(email)s) AND o.status = 'pending'
"""

_RESERVE_ALLOCATED = """
WITH taken AS (
    UPDATE event_stock s
       SET available = s.available - a.quantity, held = s.held + a.quantity
      FROM unnest(%(shards)s::smallint[], %(quantities)s::integer[]) AS a(shard, quantity)
     WHERE s.event_id = %(event_id)s AND s.shard = a.shard
    RETURNING s.shard
), placed AS (
    INSERT INTO orders (event_id, status, quantity, amount_cents, currency, email, idempotency_key,
                        expires_at, alloc_shards, alloc_quantities, access_token_hash)
    SELECT e.id, 'pending', %(quantity)s, e.price_cents * %(quantity)s, e.currency, %(email)s,
           %(key)s, now() + make_interval(secs => %(hold)s), %(shards)s, %(quantities)s, %(token_hash)s
      FROM events e WHERE e.id = %(event_id)s
    ON CONFLICT ON CONSTRAINT orders_idempotency_key DO NOTHING
    RETURNING *
), audited AS (
    INSERT INTO audit_log (order_id, event_id, from_status, to_status, actor, detail)
    SELECT p.id, p.event_id, NULL, 'pending', 'checkout',
           jsonb_build_object('quantity', p.quantity, 'shards', p.alloc_shards)
      FROM placed p
)
SELECT (SELECT count(*) FROM taken) AS taken,
       p.id, p.status, p.quantity, p.amount_cents, p.currency, p.email, p.created_at, p.expires_at,
       p.paid_at, p.webhook_attempts, p.idempotency_key
  FROM (SELECT 1) one LEFT JOIN placed p ON true
"""


def validate_order_request(
    *, quantity: object, email: object, idempotency_key: object, max_per_order: int
) -> tuple[int, str, str | None]:
    """The checked (quantity, email, key) of a checkout request; InvalidInput saying what is wrong."""
    if not isinstance(quantity, int) or isinstance(quantity, bool) or not 1 <= quantity <= max_per_order:
        raise InvalidInput(f"quantity must be a whole number from 1 to {max_per_order}")
    if not isinstance(email, str) or len(email.strip()) > MAX_EMAIL_CHARS:
        raise InvalidInput("email must be an e-mail address")
    email = email.strip()
    # Checked here, per request: text the database cannot store (NUL, lone surrogates) must be this
    # buyer's 422, not a failed statement for the whole checkout batch the request shares.
    if not _EMAIL_RE.fullmatch(email) or not storable_text(email):
        raise InvalidInput(f"{email!r} is not an e-mail address")
    if idempotency_key is not None and (
        not isinstance(idempotency_key, str)
        or not 1 <= len(idempotency_key) <= MAX_IDEMPOTENCY_KEY_CHARS
        or not storable_text(idempotency_key)
    ):
        raise InvalidInput(f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_CHARS} characters of text")
    return quantity, email, idempotency_key


def order_from_row(row: dict[str, Any], event_code: str, *, access_token: str | None = None) -> Order:
    """An Order (without tickets) from an ``orders`` row read as a dict; ``access_token`` when new."""
    return Order(
        id=row["id"],
        event_code=event_code,
        status=row["status"],
        quantity=row["quantity"],
        amount_cents=row["amount_cents"],
        currency=row["currency"],
        email=row["email"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        paid_at=row["paid_at"],
        webhook_attempts=row["webhook_attempts"],
        access_token=access_token,
    )


def same_request(row: dict[str, Any], quantity: int) -> None:
    """The order an Idempotency-Key made (for this same buyer) must be the order asked for again."""
    if row["quantity"] != quantity:
        raise InvalidInput("you already used this Idempotency-Key for an order of another quantity")


def hold_limit_error(code: str, *, pending: int, max_pending: int, wait_seconds: float | None) -> HoldLimit:
    """The refusal of a checkout that would take the buyer past ``max_pending`` pending tickets;
    ``wait_seconds`` until the first of the buyer's holds ends (Retry-After)."""
    wait = int(wait_seconds) + 1 if wait_seconds is not None else 1
    return HoldLimit(
        f"this email already holds {pending} unpaid ticket(s) for event {code}; at most {max_pending}"
        f" may be pending at once: pay or cancel an order first (or wait until a hold ends)",
        retry_after=max(1, wait),
    )


async def reserve(
    pool: AsyncConnectionPool,
    *,
    event_code: str,
    quantity: int,
    email: str,
    idempotency_key: str | None,
    hold_seconds: int,
    max_per_order: int,
    max_pending_per_email: int,
    token_key: bytes | None = None,
) -> Order:
    """Hold ``quantity`` tickets of the event for a new pending order, atomically, or raise SoldOut.

    Never holds more than the event has: every stock change is one conditional UPDATE on locked rows.
    Never lets one email hold more than ``max_pending_per_email`` pending tickets of the event
    (HoldLimit). The same ``idempotency_key`` from the same email on the same event returns the same
    order, also when two requests with it race; the same key from another email is simply another
    request. The new order carries its ``access_token``; with ``token_key`` (order_tokens), so does
    the order a retry of a keyed request returns.
    """
    quantity, email, idempotency_key = validate_order_request(
        quantity=quantity, email=email, idempotency_key=idempotency_key, max_per_order=max_per_order
    )
    code = code_to_look_up(event_code)
    token, hashed = new_access_token(token_key, event_code=code, email=email, idempotency_key=idempotency_key)
    params = {
        "code": code,
        "key": idempotency_key,
        "quantity": quantity,
        "email": email,
        "hold": hold_seconds,
        "pick": random.randrange(1 << 30),
        "max_pending": max_pending_per_email,
        "token_hash": hashed,
    }
    try:
        async with database_errors(), pool.connection() as conn:
            async with conn.transaction():
                # One round trip: the buyer's lock, then (only once it is held) their pending count.
                async with conn.pipeline():
                    await conn.execute(LOCK_BUYER, (code, email))
                    counted = await conn.execute(BUYER_PENDING, params, prepare=False)
                pending, wait = await counted.fetchone() or (0, None)
                room = params["room"] = max_pending_per_email - pending
                cur = conn.cursor(row_factory=dict_row)
                await cur.execute(_RESERVE_ONE_SHARD, params)
                row = await cur.fetchone()
                if row is None:
                    raise EventNotFound(f"no event has the code {code}")
                if row["existed"]:
                    same_request(row, quantity)
                    existing_id: UUID = row["id"]
                elif row["id"] is not None:
                    return order_from_row(row, code, access_token=token)
                elif row["taken"]:
                    raise _IdempotencyRace
                elif quantity > room:
                    raise hold_limit_error(
                        code, pending=pending, max_pending=max_pending_per_email, wait_seconds=wait
                    )
            if not row["existed"]:
                # The chosen shard was short. A new transaction, because the failed conditional
                # UPDATE may still hold that shard's row lock, and the slow path must take the
                # shard locks in shard order (or two slow paths could deadlock).
                async with conn.transaction():
                    await conn.execute(LOCK_BUYER, (code, email))
                    return await _reserve_across_shards(
                        conn, event_id=row["event_id"], code=code, params=params, token=token
                    )
    except _IdempotencyRace:
        assert idempotency_key is not None
        winner = await _find_by_key(pool, code, email, idempotency_key)
        assert winner is not None, "a conflicting insert was committed, so its row exists"
        same_request(winner, quantity)
        existing_id = winner["id"]
    except SoldOut:
        # A request with the same key may have taken the last tickets while this one looked:
        # the retry then gets that order, not "sold out".
        winner = await _find_by_key(pool, code, email, idempotency_key) if idempotency_key else None
        if winner is None:
            raise
        same_request(winner, quantity)
        existing_id = winner["id"]
    return with_replayed_token(await get_order(pool, existing_id), token)


def with_replayed_token(order: Order, token: str) -> Order:
    """``order`` as a retry of the request that made it is answered: with its access token, when the
    token this retry derived is the order's (order_tokens); as it is otherwise."""
    return replace(order, access_token=token) if order.opens_with(token) else order


async def _find_by_key(
    pool: AsyncConnectionPool, code: str, email: str, idempotency_key: str
) -> dict[str, Any] | None:
    async with database_errors(), pool.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(
            "SELECT id, quantity, email FROM orders"
            " WHERE event_id = (SELECT id FROM events WHERE code = %s)"
            " AND email = %s AND idempotency_key = %s",
            (code, email, idempotency_key),
        )
        return await cur.fetchone()


async def _reserve_across_shards(
    conn: AsyncConnection[Any], *, event_id: int, code: str, params: dict[str, Any], token: str
) -> Order:
    """The slow path of ``reserve``, inside its transaction: the chosen shard was short."""
    quantity: int = params["quantity"]
    if params["key"] is not None:
        # A retry of this same request may have placed the order between this request's two
        # transactions: that order is the answer (its tickets count towards the hold limit below,
        # which would otherwise refuse the retry its own order).
        made = await conn.execute(
            "SELECT 1 FROM orders WHERE event_id = %s AND email = %s AND idempotency_key = %s",
            (event_id, params["email"], params["key"]),
        )
        if await made.fetchone() is not None:
            raise _IdempotencyRace
    # A cheap unlocked look first: when the event is sold out (the common case at the end of a
    # sale) answer at once instead of queueing on every shard lock. The buyer's pending count is
    # exact: this transaction holds the buyer's lock.
    counted = await conn.execute(BUYER_PENDING, params, prepare=False)
    pending, wait = await counted.fetchone() or (0, None)
    if pending + quantity > params["max_pending"]:
        raise hold_limit_error(code, pending=pending, max_pending=params["max_pending"], wait_seconds=wait)
    look = await conn.execute("SELECT sum(available) FROM event_stock WHERE event_id = %s", (event_id,))
    total = (await look.fetchone() or (None,))[0]
    if (total or 0) < quantity:
        raise SoldOut(f"sold out: event {code} has fewer than {quantity} ticket(s) left")
    locked = await conn.execute(_LOCK_SHARDS, (event_id,))
    available = {shard: n for shard, n in await locked.fetchall()}
    allocation = allocate(available, quantity, start=params["pick"])
    if allocation is None:
        raise SoldOut(f"sold out: event {code} has fewer than {quantity} ticket(s) left")
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        _RESERVE_ALLOCATED,
        {
            **params,
            "event_id": event_id,
            "shards": [shard for shard, _ in allocation],
            "quantities": [n for _, n in allocation],
        },
    )
    row = await cur.fetchone()
    assert row is not None
    if row["id"] is None:
        raise _IdempotencyRace
    return order_from_row(row, code, access_token=token)


_GET_ORDER = (
    "SELECT " + ORDER_COLUMNS + ","
    " coalesce((SELECT array_agg(t.code ORDER BY t.serial) FROM tickets t"
    "           WHERE t.order_id = o.id AND t.status = 'valid'), '{}') AS tickets"
    " FROM orders o JOIN events e ON e.id = o.event_id WHERE o.id = %s"
)


async def fetch_order(conn: AsyncConnection[Any], order_id: UUID) -> Order | None:
    """The order with its valid ticket codes, read on ``conn`` (inside the caller's transaction)."""
    cur = conn.cursor(row_factory=class_row(Order))
    await cur.execute(_GET_ORDER, (order_id,))
    return await cur.fetchone()


def parse_order_id(order_id: object) -> UUID:
    """The order id as a UUID; OrderNotFound for anything that cannot be one (no order has that id)."""
    if isinstance(order_id, UUID):
        return order_id
    try:
        return UUID(str(order_id))
    except ValueError:
        raise OrderNotFound(f"no order has the id {order_id!r}") from None


async def get_order(pool: AsyncConnectionPool, order_id: UUID) -> Order:
    """The order with its status and, once paid, its ticket codes; OrderNotFound otherwise."""
    order_id = parse_order_id(order_id)
    async with database_errors(), pool.connection() as conn:
        order = await fetch_order(conn, order_id)
    if order is None:
        raise OrderNotFound(f"no order has the id {order_id}")
    return order
