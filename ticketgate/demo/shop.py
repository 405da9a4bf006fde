"""The shop side of the demo over real HTTP: an organiser creating events, buyers checking out, and a
payment provider delivering Stripe-signed webhooks (signed by ``backend.webhooks.sign``, as Stripe
signs them), forged ones included."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

import httpx

from backend.webhooks import sign
from ticketgate.demo.system import DemoError, System

PRICE_CENTS = 4500
CURRENCY = "EUR"
_BUSY_RETRIES = 5  # a 503 (the database briefly busy) is retried, as a real shop's client would


@dataclass(frozen=True)
class Order:
    """An order as the checkout answered it."""

    id: str
    email: str
    amount_cents: int
    currency: str
    event: str
    access_token: str

    @classmethod
    def from_answer(cls, email: str, body: dict[str, Any]) -> Order:
        return cls(
            id=str(body["id"]),
            email=email,
            amount_cents=int(body["amount_cents"]),
            currency=str(body["currency"]),
            event=str(body["event"]),
            access_token=str(body["access_token"]),
        )


class Shop:
    """One HTTP client for everything the shop, its buyers and the payment provider send."""

    def __init__(self, system: System, client: httpx.AsyncClient) -> None:
        self.system = system
        self.client = client
        self._deliveries = 0

    async def create_event(self, code: str, name: str, capacity: int) -> None:
        answer = await self._send(
            "POST",
            "/api/events",
            json={
                "code": code,
                "name": name,
                "capacity": capacity,
                "price_cents": PRICE_CENTS,
                "currency": CURRENCY,
            },
            headers={"Authorization": f"Bearer {self.system.admin_token}"},
        )
        _expect(answer, 201, f"creating event {code}")

    async def event(self, code: str) -> dict[str, Any]:
        answer = await self._send("GET", f"/api/events/{code}")
        _expect(answer, 200, f"reading event {code}")
        found: dict[str, Any] = answer.json()
        return found

    async def checkout(self, code: str, email: str) -> Order | None:
        """One ticket for ``email``; None when sold out."""
        answer = await self._send("POST", f"/api/events/{code}/orders", json={"quantity": 1, "email": email})
        if answer.status_code == 409:
            return None
        _expect(answer, 201, f"checkout for {email}")
        return Order.from_answer(email, answer.json())

    async def order(self, order: Order) -> dict[str, Any]:
        """The order as its buyer sees it (status, ticket codes once paid)."""
        answer = await self._send(
            "GET", f"/api/orders/{order.id}", headers={"Authorization": f"Bearer {order.access_token}"}
        )
        _expect(answer, 200, f"reading order {order.id}")
        found: dict[str, Any] = answer.json()
        return found

    async def pay(self, order: Order, *, deliveries: int = 1) -> list[str]:
        """The provider reports the payment ``deliveries`` times at once (it retries when unsure);
        the outcome the server gave each delivery."""
        event_id = self._event_id("pay")
        body = _payment_intent(order, event_id)
        answers = await asyncio.gather(*(self.deliver(body) for _ in range(deliveries)))
        return [_outcome(answer, f"payment of order {order.id}") for answer in answers]

    async def refund(self, order: Order) -> str:
        """The provider reports a full refund of the order's payment (charge.refunded)."""
        event_id = self._event_id("refund")
        charge = {
            "id": f"ch_{order.id}",
            "object": "charge",
            "amount": order.amount_cents,
            "amount_refunded": order.amount_cents,
            "currency": order.currency.lower(),
            "payment_intent": _payment_reference(order),
            "refunded": True,
            "metadata": {},
        }
        body = json.dumps(
            {"id": event_id, "object": "event", "type": "charge.refunded", "data": {"object": charge}}
        )
        return _outcome(await self.deliver(body.encode()), f"refund of order {order.id}")

    async def forged_payment(self, order: Order) -> httpx.Response:
        """A payment for ``order`` signed with a secret that is not the provider's."""
        body = _payment_intent(order, self._event_id("forged"))
        return await self.deliver(body, secret="whsec_forged_" + "0" * 24)

    async def deliver(self, body: bytes, *, secret: str | None = None) -> httpx.Response:
        signature = sign(body, secret=secret or self.system.webhook_secret, timestamp=int(time.time()))
        return await self._send(
            "POST",
            "/api/payments/webhook",
            content=body,
            headers={"Stripe-Signature": signature, "Content-Type": "application/json"},
        )

    def _event_id(self, kind: str) -> str:
        self._deliveries += 1
        return f"evt_demo_{kind}_{self._deliveries}"

    async def _send(self, method: str, path: str, **options: Any) -> httpx.Response:
        url = self.system.base_url + path
        for attempt in range(_BUSY_RETRIES):
            try:
                answer = await self.client.request(method, url, **options)
            except httpx.TransportError as exc:
                raise DemoError(f"{method} {path}: the server did not answer ({exc})") from None
            if answer.status_code != 503:
                return answer
            await asyncio.sleep(0.2 * (attempt + 1))
        return answer


def _payment_reference(order: Order) -> str:
    return f"pi_{order.id}"


def _payment_intent(order: Order, event_id: str) -> bytes:
    intent = {
        "id": _payment_reference(order),
        "object": "payment_intent",
        "amount": order.amount_cents,
        "amount_received": order.amount_cents,
        "currency": order.currency.lower(),
        "status": "succeeded",
        "metadata": {"order_id": order.id, "event": order.event},
    }
    event = {
        "id": event_id,
        "object": "event",
        "type": "payment_intent.succeeded",
        "data": {"object": intent},
    }
    return json.dumps(event).encode()


def _expect(answer: httpx.Response, status: int, doing: str) -> None:
    if answer.status_code != status:
        raise DemoError(f"{doing}: the server answered {answer.status_code} {answer.text[:200]}")


def _outcome(answer: httpx.Response, doing: str) -> str:
    _expect(answer, 200, doing)
    return str(answer.json()["outcome"])
