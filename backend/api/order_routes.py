"""Routes of orders: checkout (coalesced into batches under load) and reading an order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError

from backend import errors, orders
from backend.api.context import ApiContext
from backend.api.errors import describe_errors, error_response
from backend.api.limits import MAX_ORDER_BODY_BYTES, read_body
from backend.api.models import OrderCreate, OrderOut, error_responses, order_out, to_json
from backend.checkout_batch import ReserveRequest, reserve_batch
from backend.coalescing import Coalescer

# Checkouts queued while the previous batch commits go together, at most this many.
MAX_CHECKOUT_BATCH = 64

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


def order_routes(ctx: ApiContext) -> APIRouter:
    router = APIRouter(tags=["orders"])
    settings = ctx.settings

    async def reserve_queued(
        _: str, queued: Sequence[ReserveRequest]
    ) -> list[orders.Order | errors.BackendError]:
        # A lone checkout (no rush) takes the single-order path: orders.reserve, one conditional statement.
        if len(queued) == 1:
            request = queued[0]
            try:
                order = await orders.reserve(
                    ctx.db,
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
            ctx.db,
            requests=queued,
            hold_seconds=settings.hold_seconds,
            max_per_order=settings.max_tickets_per_order,
        )

    # One queue for all events: whether buyers race for one event or spread over many, the checkouts
    # that arrive while a batch commits go together in the next one.
    checkouts: Coalescer[str, ReserveRequest, orders.Order] = Coalescer(
        reserve_queued, max_batch=MAX_CHECKOUT_BATCH
    )

    @router.post(
        "/api/events/{code}/orders",
        status_code=201,
        response_model=OrderOut,
        responses=error_responses(404, 409, 413, 422, 503),
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
        raw = await read_body(request, limit=MAX_ORDER_BODY_BYTES)
        if raw is None:
            return error_response(
                413, "payload_too_large", f"an order is at most {MAX_ORDER_BODY_BYTES} bytes"
            )
        try:
            body = OrderCreate.model_validate_json(raw)
        except ValidationError as exc:
            return error_response(422, "invalid_input", describe_errors(exc.errors()))
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
        return Response(to_json(order_out(order)), status_code=201, media_type="application/json")

    @router.get("/api/orders/{order_id}", response_model=OrderOut, responses=error_responses(404, 422))
    async def get_order(order_id: UUID) -> OrderOut:
        """An order's status and, once paid, its ticket codes."""
        return order_out(await orders.get_order(ctx.db, order_id))

    return router
