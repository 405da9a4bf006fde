"""Wire models shared by the routers (they are also the OpenAPI page's schemas), and their builders."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from backend import events, orders


class ErrorDetail(BaseModel):
    code: str = Field(examples=["sold_out"])
    message: str = Field(examples=["event VL9IHU has only 1 ticket(s) left"])


class ErrorBody(BaseModel):
    error: ErrorDetail


class EventCreate(BaseModel):
    model_config = ConfigDict(strict=True)

    code: str = Field(examples=["VL9IHU"], description="4 to 12 of A-Z and 0-9")
    name: str = Field(examples=["Vienna Light Festival"])
    capacity: int = Field(examples=[500])
    price_cents: int = Field(default=0, examples=[2500])
    currency: str = Field(default="EUR", examples=["EUR"])
    share_holders: bool = Field(
        default=False, description="send each ticket's holder (the order's email) to the event's gates"
    )
    signing: Literal["hmac", "ed25519"] = Field(
        default="hmac",
        description="how ticket codes are signed: hmac (short, typeable codes; the default) or ed25519"
        " (gates hold only a public key, so a stolen gate laptop cannot issue tickets)",
    )


class EventOut(BaseModel):
    code: str
    name: str
    capacity: int
    available: int
    held: int
    sold: int
    withdrawn: int = Field(default=0, description="revoked seats kept off sale (refunds, disputes)")
    price_cents: int
    currency: str
    signing: str = Field(default="hmac", description="hmac or ed25519")


class OrderCreate(BaseModel):
    # Strict: "2" is not a quantity and 2.0 is not an email; a shop sending those has a bug to hear about.
    model_config = ConfigDict(strict=True)

    quantity: int = Field(examples=[2], description="1 to the per-order maximum (default 10)")
    email: str = Field(examples=["buyer@example.com"], max_length=254)


class OrderOut(BaseModel):
    id: UUID
    event: str
    status: str = Field(examples=["pending"])
    quantity: int
    amount_cents: int
    currency: str
    created_at: datetime
    expires_at: datetime
    paid_at: datetime | None
    tickets: list[str] = Field(description="ticket codes, once the order is paid")


class CheckoutOut(OrderOut):
    access_token: str | None = Field(
        description="the order's access token (again in the answer to a retry with the same"
        " Idempotency-Key): keep it, GET /api/orders/{id} shows the tickets only with it",
    )


class OrderFullOut(OrderOut):
    email: str
    attention: str | None = Field(default=None, description="why the organiser is looking at it, if so")


class OrderStatusOut(BaseModel):
    """What anyone may see of an order: without its access token, its status only."""

    id: UUID
    event: str
    status: str = Field(examples=["paid"])


class WebhookOut(BaseModel):
    event_id: str
    outcome: str = Field(
        examples=["paid"],
        description="paid, late_paid, refund_due, payment_mismatch, payment_reused, refunded, ... (README)",
    )
    order: OrderStatusOut | None


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The error answers a route documents, all in the one error shape."""
    return {status: {"model": ErrorBody} for status in statuses}


def to_json(model: BaseModel) -> bytes:
    """``model`` serialised by pydantic-core in one call (the checkout's hot path skips FastAPI's)."""
    return model.__pydantic_serializer__.to_json(model)


def order_status_out(order: orders.Order) -> OrderStatusOut:
    return OrderStatusOut(id=order.id, event=order.event_code, status=order.status.value)


def checkout_out(order: orders.Order) -> CheckoutOut:
    # A checkout answer never carries ticket codes (a retry could come from anyone who has the key).
    return CheckoutOut(**_order_fields(order), tickets=[], access_token=order.access_token)


def order_full_out(order: orders.Order) -> OrderFullOut:
    return OrderFullOut(
        **_order_fields(order), tickets=list(order.tickets), email=order.email, attention=order.attention
    )


def order_out(order: orders.Order) -> OrderOut:
    return OrderOut(**_order_fields(order), tickets=list(order.tickets))


def _order_fields(order: orders.Order) -> dict[str, Any]:
    return {
        "id": order.id,
        "event": order.event_code,
        "status": order.status.value,
        "quantity": order.quantity,
        "amount_cents": order.amount_cents,
        "currency": order.currency,
        "created_at": order.created_at,
        "expires_at": order.expires_at,
        "paid_at": order.paid_at,
    }


def event_out(stock: events.EventStock) -> EventOut:
    return EventOut(
        code=stock.code,
        name=stock.name,
        capacity=stock.capacity,
        available=stock.available,
        held=stock.held,
        sold=stock.sold,
        withdrawn=stock.withdrawn,
        price_cents=stock.price_cents,
        currency=stock.currency,
        signing=stock.signing,
    )
