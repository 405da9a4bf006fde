"""Refunds through Stripe's API (the ``stripe`` package): ``POST /v1/refunds`` for a payment intent,
with an idempotency key so that a repeated request never refunds twice."""

from __future__ import annotations

from collections.abc import Callable

import stripe

from backend.cancellations import Refund
from backend.errors import RefundFailed

# A refund either happened or did not: two retries cover a dropped connection, and the idempotency
# key makes each retry return the refund already made.
MAX_NETWORK_RETRIES = 2


def stripe_refunder(
    api_key: str, *, api_base: str | None = None, order_id: str = ""
) -> Callable[[Refund], str | None]:
    """A function that refunds one ``Refund`` through Stripe and returns the refund's id
    (``re_...``); it raises RefundFailed when Stripe refuses or cannot be reached."""
    client = stripe.StripeClient(
        api_key,
        base_addresses={"api": api_base} if api_base else None,
        max_network_retries=MAX_NETWORK_RETRIES,
    )

    def give_back(refund: Refund) -> str | None:
        try:
            made = client.v1.refunds.create(
                params={
                    "payment_intent": refund.reference,
                    "amount": refund.amount_cents,
                    "metadata": {"order_id": order_id},
                },
                options={"idempotency_key": refund.key},
            )
        except stripe.StripeError as exc:
            message = exc.user_message or str(exc) or type(exc).__name__
            raise RefundFailed(f"Stripe did not refund payment {refund.reference}: {message}") from exc
        if made.status in ("failed", "canceled"):
            raise RefundFailed(f"Stripe's refund {made.id} of payment {refund.reference} is {made.status}")
        return str(made.id)

    return give_back
