"""Routes of payments: the payment provider's webhook (Stripe-signed)."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request

from backend import payments, webhooks
from backend.api.context import ApiContext
from backend.api.errors import error_response
from backend.api.limits import MAX_WEBHOOK_BODY_BYTES, read_body
from backend.api.models import WebhookOut, error_responses, order_out

_WEBHOOK_DOC: dict[str, Any] = {
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
}


def payment_routes(ctx: ApiContext) -> APIRouter:
    router = APIRouter(tags=["payments"])

    @router.post(
        "/api/payments/webhook",
        response_model=WebhookOut,
        responses=error_responses(400, 404, 413, 503),
        openapi_extra=_WEBHOOK_DOC,
    )
    async def payment_webhook(request: Request) -> Any:
        """A payment provider's event, signed Stripe-style.

        400 bad or stale signature or malformed event; 404 unknown order; 413 body over 64 KiB;
        503 transient database failure (the provider retries). Every delivery counts in the order's
        ``webhook_attempts``; a repeated event id gives outcome ``duplicate`` and no new tickets.
        """
        body = await read_body(request, limit=MAX_WEBHOOK_BODY_BYTES)
        if body is None:
            return error_response(
                413, "payload_too_large", f"a webhook body is at most {MAX_WEBHOOK_BODY_BYTES} bytes"
            )
        # The signature covers the exact bytes received, so it is checked before anything parses them.
        webhooks.verify_signature(
            body,
            request.headers.get(webhooks.SIGNATURE_HEADER),
            secret=ctx.settings.webhook_secret,
            now=time.time(),
        )
        event = webhooks.parse_event(body)
        if event.order_id is None:
            return WebhookOut(event_id=event.id, outcome="ignored", order=None)
        result = await payments.apply_payment_event(
            ctx.db,
            provider_event_id=event.id,
            event_type=event.type,
            order_id=event.order_id,
            master_secret=ctx.settings.master_secret,
            payment_reference=event.payment_reference,
        )
        return WebhookOut(event_id=event.id, outcome=result.outcome, order=order_out(result.order))

    return router
