"""payments.mismatch: why a payment cannot pay its order, in the words the operator reads (the refund-due
list's reason, the attention list's detail). Pure: no database."""

from __future__ import annotations

from uuid import uuid4

import pytest

from backend.lifecycle import OrderStatus
from backend.payments import mismatch
from backend.transitions import LockedOrder
from backend.webhooks import PAYMENT_SUCCEEDED, PaymentEvent

ORDER = LockedOrder(
    id=uuid4(),
    event_id=1,
    event_code="SHOW1",
    status=OrderStatus.PENDING,
    quantity=2,
    amount_cents=1000,
    currency="EUR",
    alloc_shards=[0],
    alloc_quantities=[2],
    stock_withdrawn=False,
)
PRICE = "for an order of 10.00 EUR"


@pytest.mark.parametrize(
    ("amount", "currency", "event_code", "why"),
    [
        (1000, "EUR", "SHOW1", None),
        (1500, "EUR", "SHOW1", None),  # more than the price pays it; the surplus is due back
        (999, "EUR", "SHOW1", f"received 9.99 EUR {PRICE}: short"),
        (None, "EUR", "SHOW1", f"received no amount {PRICE}: short"),
        (1, "EUR", "SHOW1", f"received 0.01 EUR {PRICE}: short"),
        # A yen has no hundredths: 1000 of Stripe's smallest units of JPY are 1000 JPY.
        (1000, "JPY", "SHOW1", f"received 1000 JPY {PRICE}: another currency"),
        (1000, "USD", "SHOW1", f"received 10.00 USD {PRICE}: another currency"),
        (1000, None, "SHOW1", f"received 1000 (smallest units, no currency) {PRICE}: another currency"),
        (None, None, None, f"received no amount {PRICE}: another currency"),
        (1000, "EUR", "SHOW2", "the payment's metadata names event 'SHOW2', the order is for SHOW1"),
        (1000, "EUR", None, "the payment's metadata names event None, the order is for SHOW1"),
    ],
)
def test_a_payment_pays_its_order_only_in_full_in_its_currency_for_its_event(
    amount: int | None, currency: str | None, event_code: str | None, why: str | None
) -> None:
    event = PaymentEvent(
        id="evt_1",
        type=PAYMENT_SUCCEEDED,
        order_id=ORDER.id,
        payment_reference="pi_1",
        amount_cents=amount,
        currency=currency,
        event_code=event_code,
    )
    assert mismatch(ORDER, event) == why
