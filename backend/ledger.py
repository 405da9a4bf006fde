"""What the operator must act on: payments whose money is due back, and orders flagged for attention."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg.rows import class_row
from psycopg_pool import AsyncConnectionPool

from backend.db import database_errors
from backend.errors import InvalidTransition
from backend.orders import parse_order_id
from backend.transitions import audit, lock_order


@dataclass(frozen=True)
class DuePayment:
    """A provider payment with money to give back: all of it (a late, second, mismatched payment, or
    one of a cancelled paid order), or an overpayment's surplus."""

    reference: str
    order_id: UUID
    event_code: str
    order_status: str
    email: str
    status: str
    amount_cents: int
    due_cents: int
    currency: str
    reason: str | None
    received_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "payment_reference": self.reference,
            "order": str(self.order_id),
            "event": self.event_code,
            "order_status": self.order_status,
            "email": self.email,
            "payment_status": self.status,
            "amount_cents": self.amount_cents,
            "due_cents": self.due_cents,
            "currency": self.currency,
            "reason": self.reason,
            "received_at": self.received_at.isoformat(),
        }


@dataclass(frozen=True)
class FlaggedOrder:
    """An order an operator must look at, with why (``attention``) and the latest word on it."""

    id: UUID
    event_code: str
    status: str
    email: str
    amount_cents: int
    currency: str
    attention: str
    attention_at: datetime
    detail: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "event": self.event_code,
            "status": self.status,
            "email": self.email,
            "amount_cents": self.amount_cents,
            "currency": self.currency,
            "attention": self.attention,
            "since": self.attention_at.isoformat(),
            "detail": self.detail,
        }


async def list_refund_due(pool: AsyncConnectionPool) -> list[DuePayment]:
    """Every payment with money due back, oldest first."""
    async with database_errors(), pool.connection() as conn:
        cur = conn.cursor(row_factory=class_row(DuePayment))
        await cur.execute(
            "SELECT p.reference, p.order_id, e.code AS event_code, o.status AS order_status, o.email,"
            " p.status,"
            " p.amount_cents, p.due_cents, p.currency, p.reason, p.received_at"
            " FROM payments p JOIN orders o ON o.id = p.order_id JOIN events e ON e.id = o.event_id"
            " WHERE p.due_cents > 0 OR p.status = 'refund_due' ORDER BY p.received_at, p.id"
        )
        return await cur.fetchall()


async def list_attention(pool: AsyncConnectionPool) -> list[FlaggedOrder]:
    """Orders flagged for the operator, oldest flag first, each with the reason its flag was raised."""
    async with database_errors(), pool.connection() as conn:
        cur = conn.cursor(row_factory=class_row(FlaggedOrder))
        await cur.execute(
            "SELECT o.id, e.code AS event_code, o.status, o.email, o.amount_cents, o.currency, o.attention,"
            " o.attention_at,"
            " (SELECT a.detail->>'reason' FROM audit_log a WHERE a.order_id = o.id AND a.detail ? 'attention'"
            "   ORDER BY a.id DESC LIMIT 1) AS detail"
            " FROM orders o JOIN events e ON e.id = o.event_id"
            " WHERE o.attention IS NOT NULL ORDER BY o.attention_at, o.id"
        )
        return await cur.fetchall()


async def clear_attention(pool: AsyncConnectionPool, order_id: UUID, *, actor: str, note: str | None) -> None:
    """The operator dealt with the order's flag: it leaves the attention list (the audit log keeps it)."""
    order_id = parse_order_id(order_id)
    async with database_errors(), pool.connection() as conn, conn.transaction():
        order = await lock_order(conn, order_id)
        cur = await conn.execute("SELECT attention FROM orders WHERE id = %s", (order_id,))
        row = await cur.fetchone()
        if row is None or row[0] is None:
            raise InvalidTransition(f"order {order_id} is not flagged for attention")
        await conn.execute(
            "UPDATE orders SET attention = NULL, attention_at = NULL WHERE id = %s", (order_id,)
        )
        detail: dict[str, Any] = {"outcome": "attention_cleared", "was": row[0]}
        if note:
            detail["note"] = note[:200]
        await audit(conn, order, order.status, actor=actor, detail=detail)
