"""Gates as the backend sees them, for sync tests: a small client speaking the protocol over real HTTP.

Events are created and tickets sold through the real API (checkout + signed webhook); devices are added
with ``backend.devices`` (what ``ticketgate device add`` runs) and paired over HTTP. Every message is
encoded and decoded with ``ticketcode.sync_protocol``, as a real gate does.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from backend import devices
from backend.db import make_pool
from tests.integration.live_server import ADMIN_TOKEN, signed_webhook
from ticketcode.sync_protocol import (
    PAIR_PATH,
    PULL_PATH,
    PUSH_PATH,
    Change,
    ConflictChange,
    MovementChange,
    PairRequest,
    PullPage,
    PushRequest,
    PushResponse,
    ScanUpload,
    TicketChange,
    decode_pair_response,
    decode_pull_page,
    decode_push_response,
    encode_pair_request,
    encode_push_request,
)

T0 = datetime(2026, 11, 24, 19, 0, tzinfo=UTC)
_event_payments = itertools.count(1)


def create_event(
    base_url: str, code: str, *, capacity: int = 100, share_holders: bool = False, signing: str = "hmac"
) -> None:
    response = httpx.post(
        f"{base_url}/api/events",
        json={
            "code": code,
            "name": f"Event {code}",
            "capacity": capacity,
            "share_holders": share_holders,
            "signing": signing,
        },
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    assert response.status_code == 201, response.text


def sell(base_url: str, code: str, quantity: int = 1, *, email: str = "holder@example.org") -> list[str]:
    """Buy and pay ``quantity`` tickets of event ``code``; their codes."""
    return sell_order(base_url, code, quantity, email=email).tickets


@dataclass(frozen=True)
class SoldOrder:
    """A paid order as its buyer holds it: its id, access token and ticket codes."""

    id: str
    access_token: str
    tickets: list[str]


def order_tickets(base_url: str, order: SoldOrder) -> list[str]:
    """The order's ticket codes as the buyer's order page shows them now."""
    seen = httpx.get(
        f"{base_url}/api/orders/{order.id}", headers={"Authorization": f"Bearer {order.access_token}"}
    )
    assert seen.status_code == 200, seen.text
    tickets: list[str] = seen.json()["tickets"]
    return tickets


def sell_order(
    base_url: str, code: str, quantity: int = 1, *, email: str = "holder@example.org"
) -> SoldOrder:
    """Buy and pay ``quantity`` tickets of event ``code``: the order as its buyer holds it."""
    order = httpx.post(f"{base_url}/api/events/{code}/orders", json={"quantity": quantity, "email": email})
    assert order.status_code == 201, order.text
    made = order.json()
    body, headers = signed_webhook(f"evt_sync_{next(_event_payments)}_{made['id']}", made)
    paid = httpx.post(f"{base_url}/api/payments/webhook", content=body, headers=headers)
    assert paid.status_code == 200 and paid.json()["outcome"] == "paid", paid.text
    # The webhook's answer names the status only; the tickets are read with the order's access token.
    seen = httpx.get(
        f"{base_url}/api/orders/{made['id']}", headers={"Authorization": f"Bearer {made['access_token']}"}
    )
    assert seen.status_code == 200, seen.text
    return SoldOrder(id=made["id"], access_token=made["access_token"], tickets=seen.json()["tickets"])


def add_device(database_url: str, event: str, name: str, *, valid_seconds: int = 900) -> str:
    """A new device of ``event`` waiting to pair: its one-time pairing code."""

    async def add() -> str:
        async with make_pool(database_url, min_size=1, max_size=1) as pool:
            pairing = await devices.add_device(pool, event_code=event, name=name, valid_seconds=valid_seconds)
            return pairing.code

    return asyncio.run(add())


def pair_request(base_url: str, code: str) -> httpx.Response:
    return httpx.post(f"{base_url}{PAIR_PATH}", json=encode_pair_request(PairRequest(code=code)))


@dataclass
class Gate:
    """One paired device: pushes scans, pulls changes from its cursor."""

    base_url: str
    token: str
    device_id: str
    name: str
    cursor: str = ""
    changes: list[Change] = field(default_factory=list)
    next_scan_id: int = 1

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Device {self.token}"}

    def pull_once(self, *, limit: int | None = None, client: httpx.Client | None = None) -> PullPage:
        if client is None:
            with httpx.Client() as own:
                return self.pull_once(limit=limit, client=own)
        params: dict[str, Any] = {"cursor": self.cursor}
        if limit is not None:
            params["limit"] = limit
        response = client.get(f"{self.base_url}{PULL_PATH}", params=params, headers=self.headers, timeout=30)
        assert response.status_code == 200, response.text
        page = decode_pull_page(response.json())
        self.cursor = page.cursor
        self.changes.extend(page.changes)
        return page

    def pull(self, *, limit: int | None = None) -> list[Change]:
        """Pull until no page is ready; the changes of this round."""
        before = len(self.changes)
        with httpx.Client() as client:
            while self.pull_once(limit=limit, client=client).more:
                pass
        return self.changes[before:]

    def push(self, scans: list[ScanUpload]) -> PushResponse:
        response = httpx.post(
            f"{self.base_url}{PUSH_PATH}",
            json=encode_push_request(PushRequest(scans=tuple(scans))),
            headers=self.headers,
            timeout=30,
        )
        assert response.status_code == 200, response.text
        return decode_push_response(response.json())

    def scan(
        self,
        ticket: str,
        *,
        at: datetime | None = None,
        direction: str = "in",
        verdict: str = "ADMIT",
        offset_ms: int | None = 0,
    ) -> ScanUpload:
        """A scan of ``ticket`` (a code) as this gate records it, with the next scan id."""
        event, serial_text, _ = ticket.split("-")
        scan_id = self.next_scan_id
        self.next_scan_id += 1
        return ScanUpload(
            id=scan_id,
            scanned_at=at or T0 + timedelta(seconds=scan_id),
            gate=self.name,
            direction="out" if direction == "out" else "in",
            verdict=verdict,
            reason="first entry" if verdict == "ADMIT" else verdict.lower(),
            source="camera",
            clock_offset_ms=offset_ms,
            code=ticket,
            event=event,
            serial=int(serial_text),
        )

    def tickets(self) -> dict[int, TicketChange]:
        """Every ticket as last pulled, by serial."""
        return {c.serial: c for c in self.changes if isinstance(c, TicketChange)}

    def movements(self) -> list[MovementChange]:
        return [c for c in self.changes if isinstance(c, MovementChange)]

    def conflicts(self) -> list[ConflictChange]:
        return [c for c in self.changes if isinstance(c, ConflictChange)]


def paired_gate(base_url: str, database_url: str, event: str, name: str) -> Gate:
    """A device of ``event`` added and paired, as ``ticketgate device add`` + ``ticketgate pair`` do."""
    response = pair_request(base_url, add_device(database_url, event, name))
    assert response.status_code == 200, response.text
    paired = decode_pair_response(response.json())
    return Gate(base_url=base_url, token=paired.token, device_id=paired.device_id, name=paired.device_name)


def error_code(response: httpx.Response) -> str:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    return str(body["error"]["code"])
