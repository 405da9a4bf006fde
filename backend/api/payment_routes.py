"""Routes of payments: the payment provider's webhook (Stripe-signed)."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request

from backend import errors, metrics, payments, webhooks
from backend.api.context import ApiContext
from backend.api.errors import error_response
from backend.api.limits import MAX_WEBHOOK_BODY_BYTES, read_body
from backend.api.models import WebhookOut, error_responses, order_status_out

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
                    "data": {
                        "object": {
                            "id": "pi_1",
                            "object": "payment_intent",
                            "amount_received": 4500,
                            "currency": "eur",
                            "metadata": {"order_id": "<order id>", "event": "VL9IHU"},
                        }
                    },
                },
            }
        },
    },
}


def payment_routes(ctx: ApiContext) -> APIRouter:
    router = APIRouter(tags=["payments"])
    policy = payments.PaymentPolicy(
        master_secret=ctx.settings.master_secret,
        return_stock=ctx.settings.return_refunded_stock,
        revoke_on_dispute=ctx.settings.revoke_on_dispute,
    )

    @router.post(
        "/api/payments/webhook",
        response_model=WebhookOut,
        responses=error_responses(400, 404, 413, 503),
        openapi_extra=_WEBHOOK_DOC,
    )
    async def payment_webhook(request: Request) -> Any:
        """A payment provider's event, signed Stripe-style.

        400 bad or stale signature or malformed event; 404 unknown order (or, for a refund or
        dispute, a payment not recorded yet: the provider redelivers it later); 413 body over 64 KiB;
        503 transient database failure (the provider retries). Every delivery counts in the order's
        ``webhook_attempts``; a repeated event id gives outcome ``duplicate`` and changes nothing.
        The answer names the order's status, never its tickets.
        """
        # For the metrics: the event's type once it is read (a bounded set), and the outcome.
        seen = {"type": "unknown", "outcome": "error"}
        try:
            return await _webhook(request, seen)
        except errors.BackendError as exc:
            seen["outcome"] = exc.code
            raise
        finally:
            metrics.WEBHOOKS.labels(seen["type"], seen["outcome"]).inc()

    async def _webhook(request: Request, seen: dict[str, str]) -> Any:
        body = await read_body(request, limit=MAX_WEBHOOK_BODY_BYTES)
        if body is None:
            message = f"a webhook body is at most {MAX_WEBHOOK_BODY_BYTES} bytes"
            seen["outcome"] = "payload_too_large"
            return error_response(413, "payload_too_large", message)
        # The signature covers the exact bytes received, so it is checked before anything parses them.
        webhooks.verify_signature(
            body,
            request.headers.get(webhooks.SIGNATURE_HEADER),
            secret=ctx.settings.webhook_secret,
            now=time.time(),
        )
        event = webhooks.parse_event(body)
        seen["type"] = event.type if event.type in webhooks.KNOWN_TYPES else "other"
        if event.order_id is None and (event.type not in webhooks.KNOWN_TYPES or not event.payment_reference):
            seen["outcome"] = "ignored"
            return WebhookOut(event_id=event.id, outcome="ignored", order=None)
        result = await payments.apply_payment_event(ctx.db, event, policy=policy)
        seen["outcome"] = result.outcome
        return WebhookOut(event_id=event.id, outcome=result.outcome, order=order_status_out(result.order))

    return router
