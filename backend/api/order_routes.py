"""Routes of orders: checkout (rate-limited per client, coalesced into batches under load), reading an
order (its tickets only with its access token), and the buyer cancelling their pending order."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import ValidationError

from backend import cancellations, errors, metrics, orders
from backend.api.context import ApiContext
from backend.api.errors import describe_errors, error_response
from backend.api.limits import MAX_ORDER_BODY_BYTES, read_body
from backend.api.models import (
    CheckoutOut,
    OrderCreate,
    OrderFullOut,
    OrderStatusOut,
    checkout_out,
    error_responses,
    order_full_out,
    order_status_out,
    to_json,
)
from backend.api.rate_limit import CheckoutRateLimit
from backend.checkout_batch import ReserveRequest, reserve_batch
from backend.coalescing import Coalescer
from backend.order_tokens import order_token_key

# Declared for the OpenAPI page; the token is checked against the order's stored hash.
order_bearer = HTTPBearer(auto_error=False, description="the order's access token, from its checkout")

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
    # A retry with the request's Idempotency-Key gets the order's access token again (order_tokens).
    token_key = order_token_key(settings.master_secret)

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
                    max_pending_per_email=settings.max_pending_per_email,
                    token_key=token_key,
                )
            except errors.BackendError as exc:
                return [exc]
            return [order]
        return await reserve_batch(
            ctx.db,
            requests=queued,
            hold_seconds=settings.hold_seconds,
            max_per_order=settings.max_tickets_per_order,
            max_pending_per_email=settings.max_pending_per_email,
            token_key=token_key,
        )

    rate_limit = (
        CheckoutRateLimit(settings.checkout_rate, trust_proxy=settings.trust_proxy)
        if settings.checkout_rate
        else None
    )

    # One queue for all events: whether buyers race for one event or spread over many, the checkouts
    # that arrive while a batch commits go together in the next one.
    checkouts: Coalescer[str, ReserveRequest, orders.Order] = Coalescer(
        reserve_queued, max_batch=MAX_CHECKOUT_BATCH
    )

    @router.post(
        "/api/events/{code}/orders",
        status_code=201,
        response_model=CheckoutOut,
        responses=error_responses(404, 409, 413, 422, 429, 503),
        openapi_extra=_ORDER_REQUEST_DOC,
    )
    async def create_order(code: str, request: Request) -> Response:
        """Hold ``quantity`` tickets for ``hold_seconds``; pay before ``expires_at`` or they return to stock.

        The answer carries the order's ``access_token`` (only this once). 409 ``sold_out`` when fewer
        tickets are left than asked for; 422 for a quantity outside 1 to the per-order maximum, an
        invalid email or a body that is not JSON; 429 ``hold_limit`` when this email would hold more
        pending tickets of the event than allowed, 429 ``rate_limited`` past the per-client checkout
        rate (both with ``Retry-After``). A retry with the same ``Idempotency-Key`` and email answers
        201 with the same order and its token; the same key and email with another quantity is
        422; the same key with another email is another buyer's request.
        """
        # Counted and timed whatever the answer: a counter and a histogram add about a microsecond.
        started = time.perf_counter()
        outcome = "error"
        try:
            answer, outcome = await _checkout(code, request)
            return answer
        except errors.BackendError as exc:
            outcome = exc.code
            raise
        finally:
            metrics.CHECKOUTS.labels(outcome).inc()
            metrics.CHECKOUT_SECONDS.observe(time.perf_counter() - started)

    async def _checkout(code: str, request: Request) -> tuple[Response, str]:
        """The checkout's answer and its outcome for the metrics."""
        if rate_limit is not None:
            await rate_limit.check(request)
        # The hottest path of a flash sale: the body is parsed and validated in one pydantic-core
        # call and the answer serialised in one, skipping FastAPI's per-request body machinery
        # (measured: about a third of the HTTP layer's CPU). The OpenAPI page still documents both.
        raw = await read_body(request, limit=MAX_ORDER_BODY_BYTES)
        if raw is None:
            message = f"an order is at most {MAX_ORDER_BODY_BYTES} bytes"
            return error_response(413, "payload_too_large", message), "payload_too_large"
        try:
            body = OrderCreate.model_validate_json(raw)
        except ValidationError as exc:
            return error_response(422, "invalid_input", describe_errors(exc.errors())), "invalid_input"
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
        # A retry with the same Idempotency-Key answers the same order and counts again: telling it
        # apart would cost the checkout another look at the database.
        metrics.TICKETS_RESERVED.inc(order.quantity)
        return Response(
            to_json(checkout_out(order)), status_code=201, media_type="application/json"
        ), "reserved"

    @router.get(
        "/api/orders/{order_id}",
        response_model=OrderFullOut | OrderStatusOut,
        responses=error_responses(401, 404, 422),
    )
    async def get_order(
        order_id: UUID,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(order_bearer)],
        token: Annotated[str | None, Query(max_length=200, description="the order's access token")] = None,
    ) -> OrderFullOut | OrderStatusOut:
        """With the order's access token (``Authorization: Bearer <token>`` or ``?token=``): the order
        with its email and, once paid, its ticket codes. Without: its status only. A wrong token: 401."""
        order = await orders.get_order(ctx.db, order_id)
        given = credentials.credentials if credentials is not None else token
        if given is None:
            return order_status_out(order)
        if not order.opens_with(given):
            raise errors.Unauthorized("this is not the order's access token")
        return order_full_out(order)

    @router.delete(
        "/api/orders/{order_id}",
        response_model=OrderFullOut,
        responses=error_responses(401, 404, 409, 422, 503),
    )
    async def cancel_order(
        order_id: UUID,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(order_bearer)],
        token: Annotated[str | None, Query(max_length=200, description="the order's access token")] = None,
    ) -> OrderFullOut:
        """The buyer cancels their pending order (with its access token): its tickets go back on sale at
        once. 409 ``invalid_transition`` for an order that is no longer pending (a paid one is refunded
        by the organiser)."""
        order = await orders.get_order(ctx.db, order_id)
        given = credentials.credentials if credentials is not None else token
        if not order.opens_with(given):
            raise errors.Unauthorized(
                "cancelling an order needs its access token: Authorization: Bearer <token>"
            )
        cancelled = await cancellations.cancel_order(ctx.db, order_id, actor="buyer")
        return order_full_out(cancelled)

    return router
