"""The HTTP API (FastAPI): events, checkout, orders and the payment webhook; maps backend errors to HTTP.

This is the only place where a ``BackendError`` becomes a status code. Every error answer has one
shape: ``{"error": {"code": "<machine code>", "message": "<human sentence>"}}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import psycopg
import psycopg_pool
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend import errors, events, orders, payments, webhooks
from backend.checkout_batch import ReserveRequest, reserve_batch
from backend.coalescing import Coalescer
from backend.db import make_pool
from backend.reaper import run_reaper
from backend.settings import Settings

log = logging.getLogger(__name__)

# Stripe's own payloads are a few kB; anything beyond this is not a payment event, and a bounded read
# keeps a hostile client from making the server buffer an unbounded body.
MAX_WEBHOOK_BODY_BYTES = 64 * 1024
# A checkout body is a quantity and an email; a bound keeps a buyer from making us buffer megabytes.
MAX_ORDER_BODY_BYTES = 4 * 1024
# Everything else (event creation) is small too; _BodyLimit enforces this for every route.
MAX_BODY_BYTES = 256 * 1024
DEFAULT_POOL_MAX_SIZE = 16
# Checkouts queued while the previous batch commits go together, at most this many.
MAX_CHECKOUT_BATCH = 64

# The first class in an error's MRO found here decides its status (so subclasses may refine).
_STATUS: dict[type[Exception], int] = {
    errors.InvalidInput: 422,
    errors.EventNotFound: 404,
    errors.OrderNotFound: 404,
    errors.EventExists: 409,
    errors.SoldOut: 409,
    errors.Busy: 503,
    errors.DatabaseUnavailable: 503,
    webhooks.WebhookError: 400,
    errors.BackendError: 500,
}
_RETRY_LATER = {"Retry-After": "1"}
# Declared for the OpenAPI page's "Authorize" button; the token itself is checked in require_admin.
_admin_bearer = HTTPBearer(auto_error=False, description="the TICKETGATE_ADMIN_TOKEN")


# ---- wire models (they are also the OpenAPI page's schemas) ----


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


class EventOut(BaseModel):
    code: str
    name: str
    capacity: int
    available: int
    held: int
    sold: int
    price_cents: int
    currency: str


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


class WebhookOut(BaseModel):
    event_id: str
    outcome: str = Field(examples=["paid"], description="paid, late_paid, refund_due, duplicate, ...")
    order: OrderOut | None


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The error answers a route documents, all in the one error shape."""
    return {status: {"model": ErrorBody} for status in statuses}


_ORDER_REQUEST_DOC: dict[str, Any] = {
    "parameters": [
        {
            "name": "Idempotency-Key",
            "in": "header",
            "required": False,
            "schema": {"type": "string", "minLength": 1, "maxLength": 200},
            "description": "a retried request with the same key returns the same order (201 again)",
        }
    ],
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": OrderCreate.model_json_schema()}},
    },
}


def _to_json(model: BaseModel) -> bytes:
    return model.__pydantic_serializer__.to_json(model)


def _order_out(order: orders.Order) -> OrderOut:
    return OrderOut(
        id=order.id,
        event=order.event_code,
        status=order.status.value,
        quantity=order.quantity,
        amount_cents=order.amount_cents,
        currency=order.currency,
        created_at=order.created_at,
        expires_at=order.expires_at,
        paid_at=order.paid_at,
        tickets=list(order.tickets),
    )


def _event_out(stock: events.EventStock) -> EventOut:
    return EventOut(
        code=stock.code,
        name=stock.name,
        capacity=stock.capacity,
        available=stock.available,
        held=stock.held,
        sold=stock.sold,
        price_cents=stock.price_cents,
        currency=stock.currency,
    )


def error_response(
    status: int, code: str, message: str, *, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """The one error shape every endpoint answers with."""
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


def _status_of(exc: Exception) -> int:
    for cls in type(exc).__mro__:
        if cls in _STATUS:
            return _STATUS[cls]
    return 500


async def _read_body(request: Request, *, limit: int) -> bytes | None:
    """The raw body, or None as soon as it is known to exceed ``limit`` bytes (never buffered whole)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


class _BodyTooLarge(Exception):
    pass


class _BodyLimit:
    """Refuse request bodies over ``limit`` bytes with a 413 in the API's error shape, never buffering them.

    (FastAPI's own ``max_body_size`` answers in plain text, which would break the one error shape.)
    """

    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                await self._refuse(scope, receive, send)
                return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise _BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _BodyTooLarge:
            if started:
                raise
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(413, "payload_too_large", f"a request body is at most {self.limit} bytes")
        await response(scope, receive, send)


def create_app(
    settings: Settings,
    *,
    pool: psycopg_pool.AsyncConnectionPool | None = None,
    reaper: bool = True,
    pool_max_size: int = DEFAULT_POOL_MAX_SIZE,
) -> FastAPI:
    """Build the API around ``settings``.

    Without ``pool`` the app makes its own from ``settings.database_url`` and opens and closes it in
    its lifespan; a pool passed in belongs to the caller (tests). With ``reaper`` the lifespan also
    runs the reaper loop; several processes may each run one, since the reaper takes work with
    ``SKIP LOCKED``.
    """
    if pool is None:
        if not settings.database_url:
            raise errors.ConfigError("no database URL: resolve it (or start the embedded one) first")
        owned_pool: psycopg_pool.AsyncConnectionPool | None = make_pool(
            settings.database_url, min_size=min(4, pool_max_size), max_size=pool_max_size
        )
        db = owned_pool
    else:
        owned_pool = None
        db = pool
    assert db is not None

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if owned_pool is not None:
            await owned_pool.open(wait=True, timeout=30)
        stop = asyncio.Event()
        reaper_task = (
            asyncio.create_task(
                run_reaper(db, interval_seconds=settings.reaper_interval_seconds, stop=stop),
                name="reaper",
            )
            if reaper
            else None
        )
        try:
            yield
        finally:
            stop.set()
            if reaper_task is not None:
                try:
                    await asyncio.wait_for(reaper_task, timeout=10)
                except (TimeoutError, asyncio.CancelledError):
                    log.warning("the reaper did not stop within 10 s; cancelled")
            if owned_pool is not None:
                await owned_pool.close()

    app = FastAPI(
        title="ticketgate",
        summary="Sell tickets without overselling: events, checkout, orders, payment webhooks.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.add_middleware(_BodyLimit, limit=MAX_BODY_BYTES)

    @app.exception_handler(errors.BackendError)
    async def backend_error(request: Request, exc: errors.BackendError) -> JSONResponse:
        status = _status_of(exc)
        if status >= 500:
            log.warning("%s %s: %s (%s)", request.method, request.url.path, exc, exc.code)
        return error_response(status, exc.code, str(exc), headers=_RETRY_LATER if status == 503 else None)

    @app.exception_handler(psycopg.OperationalError)
    @app.exception_handler(psycopg_pool.PoolTimeout)
    async def database_unavailable(request: Request, exc: Exception) -> JSONResponse:
        # Connection lost, server restarting, pool exhausted, serialization failure: all worth a retry.
        log.warning("%s %s: database unavailable: %s", request.method, request.url.path, exc)
        return error_response(
            503, "database_unavailable", "the database is unavailable; retry shortly", headers=_RETRY_LATER
        )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, "invalid_input", _describe_errors(exc.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if isinstance(exc.__cause__, _BodyTooLarge):
            # FastAPI turns any failure while reading a body into "400 error parsing the body".
            return error_response(
                413, "payload_too_large", f"a request body is at most {MAX_BODY_BYTES} bytes"
            )
        code = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}.get(
            exc.status_code, "http_error"
        )
        return error_response(exc.status_code, code, str(exc.detail), headers=exc.headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("%s %s failed", request.method, request.url.path)
        return error_response(500, "internal_error", "an unexpected error occurred; it has been logged")

    async def reserve_queued(
        _: str, queued: Sequence[ReserveRequest]
    ) -> list[orders.Order | errors.BackendError]:
        # A lone checkout (no rush) takes the single-order path: orders.reserve, one conditional statement.
        if len(queued) == 1:
            request = queued[0]
            try:
                order = await orders.reserve(
                    db,
                    event_code=request.event_code,
                    quantity=request.quantity,
                    email=request.email,
                    idempotency_key=request.idempotency_key,
                    hold_seconds=settings.hold_seconds,
                    max_per_order=settings.max_tickets_per_order,
                )
            except errors.BackendError as exc:
                return [exc]
            return [order]
        return await reserve_batch(
            db,
            requests=queued,
            hold_seconds=settings.hold_seconds,
            max_per_order=settings.max_tickets_per_order,
        )

    # One queue for all events: whether buyers race for one event or spread over many, the checkouts
    # that arrive while a batch commits go together in the next one.
    checkouts: Coalescer[str, ReserveRequest, orders.Order] = Coalescer(
        reserve_queued, max_batch=MAX_CHECKOUT_BATCH
    )

    def require_admin(credentials: HTTPAuthorizationCredentials | None) -> JSONResponse | None:
        token = credentials.credentials if credentials is not None else ""
        if credentials is None or not hmac.compare_digest(
            token.encode("utf-8", "surrogateescape"), settings.admin_token.encode("utf-8")
        ):
            return error_response(
                401,
                "unauthorized",
                "this needs the admin token: Authorization: Bearer <TICKETGATE_ADMIN_TOKEN>",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return None

    @app.post(
        "/api/events",
        status_code=201,
        response_model=EventOut,
        tags=["events"],
        responses=_errors(401, 409, 413, 422),
    )
    async def create_event(
        body: EventCreate,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_admin_bearer)],
    ) -> Any:
        """Create an event (admin token). Its stock starts fully available."""
        denied = require_admin(credentials)
        if denied is not None:
            return denied
        await events.create_event(
            db,
            code=body.code,
            name=body.name,
            capacity=body.capacity,
            price_cents=body.price_cents,
            currency=body.currency,
        )
        return _event_out(await events.get_event_stock(db, body.code))

    @app.get("/api/events/{code}", response_model=EventOut, tags=["events"], responses=_errors(404))
    async def get_event(code: str) -> EventOut:
        """An event's stock: capacity = available + held (pending orders) + sold."""
        return _event_out(await events.get_event_stock(db, code))

    @app.post(
        "/api/events/{code}/orders",
        status_code=201,
        response_model=OrderOut,
        tags=["orders"],
        responses=_errors(404, 409, 413, 422, 503),
        openapi_extra=_ORDER_REQUEST_DOC,
    )
    async def create_order(code: str, request: Request) -> Response:
        """Hold ``quantity`` tickets for ``hold_seconds``; pay before ``expires_at`` or they return to stock.

        409 ``sold_out`` when fewer tickets are left than asked for; 422 for a quantity outside 1 to the
        per-order maximum, an invalid email or a body that is not JSON. A retry with the same
        ``Idempotency-Key`` answers 201 with the same order (a replay of the first answer); the same
        key with a different quantity or email is refused with 422.
        """
        # The hottest path of a flash sale: the body is parsed and validated in one pydantic-core
        # call and the answer serialised in one, skipping FastAPI's per-request body machinery
        # (measured: about a third of the HTTP layer's CPU). The OpenAPI page still documents both.
        raw = await _read_body(request, limit=MAX_ORDER_BODY_BYTES)
        if raw is None:
            return error_response(
                413, "payload_too_large", f"an order is at most {MAX_ORDER_BODY_BYTES} bytes"
            )
        try:
            body = OrderCreate.model_validate_json(raw)
        except ValidationError as exc:
            return error_response(422, "invalid_input", _describe_errors(exc.errors()))
        # Concurrent buyers share one transaction (see backend.checkout_batch).
        order = await checkouts.submit(
            "checkout",
            ReserveRequest(
                event_code=code,
                quantity=body.quantity,
                email=body.email,
                idempotency_key=request.headers.get("idempotency-key"),
            ),
        )
        return Response(_to_json(_order_out(order)), status_code=201, media_type="application/json")

    @app.get("/api/orders/{order_id}", response_model=OrderOut, tags=["orders"], responses=_errors(404, 422))
    async def get_order(order_id: UUID) -> OrderOut:
        """An order's status and, once paid, its ticket codes."""
        return _order_out(await orders.get_order(db, order_id))

    @app.post(
        "/api/payments/webhook",
        response_model=WebhookOut,
        tags=["payments"],
        responses=_errors(400, 404, 413, 503),
        openapi_extra={
            "parameters": [
                {
                    "name": "Stripe-Signature",
                    "in": "header",
                    "required": True,
                    "schema": {"type": "string"},
                    "description": "t=<unix time>,v1=<hex HMAC-SHA256(TICKETGATE_WEBHOOK_SECRET, 't.body')>",
                }
            ],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {"type": "object"},
                        "example": {
                            "id": "evt_1",
                            "type": "payment_intent.succeeded",
                            "data": {"object": {"metadata": {"order_id": "<order id>"}}},
                        },
                    }
                },
            },
        },
    )
    async def payment_webhook(request: Request) -> Any:
        """A payment provider's event, signed Stripe-style.

        400 bad or stale signature or malformed event; 404 unknown order; 413 body over 64 KiB;
        503 transient database failure (the provider retries). Every delivery counts in the order's
        ``webhook_attempts``; a repeated event id gives outcome ``duplicate`` and no new tickets.
        """
        body = await _read_body(request, limit=MAX_WEBHOOK_BODY_BYTES)
        if body is None:
            return error_response(
                413, "payload_too_large", f"a webhook body is at most {MAX_WEBHOOK_BODY_BYTES} bytes"
            )
        # The signature covers the exact bytes received, so it is checked before anything parses them.
        webhooks.verify_signature(
            body,
            request.headers.get(webhooks.SIGNATURE_HEADER),
            secret=settings.webhook_secret,
            now=time.time(),
        )
        event = webhooks.parse_event(body)
        if event.order_id is None:
            return WebhookOut(event_id=event.id, outcome="ignored", order=None)
        result = await payments.apply_payment_event(
            db,
            provider_event_id=event.id,
            event_type=event.type,
            order_id=event.order_id,
            master_secret=settings.master_secret,
            payment_reference=event.payment_reference,
        )
        return WebhookOut(event_id=event.id, outcome=result.outcome, order=_order_out(result.order))

    return app


def _describe_errors(errors: Sequence[Any]) -> str:
    """One readable sentence from pydantic's error list, e.g. "quantity: Input should be ..."."""
    parts = []
    for error in errors[:3]:
        if error.get("type") == "json_invalid":
            parts.append("the body is not valid JSON")
            continue
        location = ".".join(str(part) for part in error.get("loc", ()) if part != "body") or "body"
        parts.append(f"{location}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"
