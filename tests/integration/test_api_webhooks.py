"""The payment webhook over real HTTP: signatures, rejections that change nothing, concurrent redelivery."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from backend.webhooks import sign
from tests.integration.conftest import assert_invariants
from tests.integration.live_server import (
    ADMIN_TOKEN,
    WEBHOOK_SECRET,
    live_server,
    settings_for,
    signed_webhook,
)

WEBHOOK = "/api/payments/webhook"
TABLES = ("events", "event_stock", "orders", "tickets", "processed_payment_events", "audit_log")


@pytest.fixture
def base_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    with live_server(settings_for(database_url, tmp_path)) as url:
        yield url


def new_order(
    base_url: str, *, code: str = "PAYME1", quantity: int = 2, capacity: int = 10
) -> dict[str, Any]:
    created = httpx.post(
        f"{base_url}/api/events",
        json={"code": code, "name": code, "capacity": capacity},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    assert created.status_code == 201, created.text
    response = httpx.post(
        f"{base_url}/api/events/{code}/orders", json={"quantity": quantity, "email": "p@ex.com"}
    )
    assert response.status_code == 201, response.text
    order: dict[str, Any] = response.json()
    return order


def snapshot(database_url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the tables a payment could touch, in a stable order."""
    with psycopg.connect(database_url) as conn:
        return {
            table: sorted(conn.execute(f"SELECT * FROM {table}").fetchall(), key=repr) for table in TABLES
        }


def error_code(response: httpx.Response) -> str:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    return str(body["error"]["code"])


def test_rejected_deliveries_get_their_status_and_change_nothing(base_url: str, database_url: str) -> None:
    order = new_order(base_url)
    before = snapshot(database_url)
    good_body, good_headers = signed_webhook("evt_reject", order)

    def post(body: bytes, headers: dict[str, str]) -> httpx.Response:
        return httpx.post(f"{base_url}{WEBHOOK}", content=body, headers=headers)

    cases: list[tuple[str, bytes, dict[str, str], int, str]] = []
    _, wrong_secret = signed_webhook("evt_reject", order, secret="whsec_someone_else")
    cases.append(("signed with another secret", good_body, wrong_secret, 400, "bad_signature"))
    cases.append(("body altered after signing", good_body.replace(b"evt_reject", b"evt_rejecT"), good_headers,
                  400, "bad_signature"))  # fmt: skip
    cases.append(
        ("no signature header", good_body, {"Content-Type": "application/json"}, 400, "bad_signature")
    )
    cases.append(("garbage header", good_body, {"Stripe-Signature": "t=now,v1=zz"}, 400, "bad_signature"))
    stale_body, stale_headers = signed_webhook("evt_stale", order, timestamp=int(time.time()) - 301)
    cases.append(("timestamp 301 s old", stale_body, stale_headers, 400, "stale_timestamp"))
    future_body, future_headers = signed_webhook("evt_future", order, timestamp=int(time.time()) + 900)
    cases.append(("timestamp 15 min ahead", future_body, future_headers, 400, "stale_timestamp"))
    unknown_body, unknown_headers = signed_webhook("evt_unknown", str(uuid.uuid4()))
    cases.append(("unknown order", unknown_body, unknown_headers, 404, "order_not_found"))
    for name, raw in [
        ("malformed JSON", b'{"id": "evt_bad", "type": '),
        ("JSON but not an object", b"[1, 2, 3]"),
        ("no order id", json.dumps({"id": "evt_x", "type": "payment_intent.succeeded"}).encode()),
        ("order id not a UUID", json.dumps({"id": "e", "type": "payment_intent.succeeded",
                                            "data": {"object": {"metadata": {"order_id": "42"}}}}).encode()),
        ("event id with a NUL", json.dumps({"id": "e\x00", "type": "payment_intent.succeeded",
                                            "data": {"object": {"metadata": {"order_id": order["id"]}}}},
                                           ).encode()),
    ]:  # fmt: skip
        # Correctly signed malformed bytes: they pass the signature check and must fail the parser.
        signed = {"Stripe-Signature": sign(raw, secret=WEBHOOK_SECRET, timestamp=int(time.time()))}
        cases.append((name, raw, signed, 400, "malformed_event"))
    huge = b'{"id": "evt_huge", "pad": "' + b"x" * (64 * 1024) + b'"}'
    _, huge_headers = signed_webhook("evt_huge", order)
    cases.append(("body over 64 KiB", huge, huge_headers, 413, "payload_too_large"))

    for name, body, headers, status, code in cases:
        response = post(body, headers)
        assert response.status_code == status, f"{name}: {response.status_code} {response.text}"
        assert error_code(response) == code, name

    assert snapshot(database_url) == before
    assert httpx.get(f"{base_url}/api/orders/{order['id']}").json()["status"] == "pending"


def test_a_huge_body_without_content_length_is_cut_off_at_64_kib(base_url: str, database_url: str) -> None:
    order = new_order(base_url)
    before = snapshot(database_url)
    _, headers = signed_webhook("evt_stream", order)

    def chunks() -> Iterator[bytes]:
        # A chunked upload (no Content-Length to refuse up front) of 4 MiB: cut off by counting.
        for _ in range(64):
            yield b"x" * 65536

    response = httpx.post(f"{base_url}{WEBHOOK}", content=chunks(), headers=headers, timeout=30)
    assert response.status_code == 413 and error_code(response) == "payload_too_large"
    assert snapshot(database_url) == before


def test_the_same_event_delivered_10_times_at_once_gives_one_set_of_tickets(
    base_url: str, database_url: str
) -> None:
    order = new_order(base_url, quantity=3)
    body, headers = signed_webhook("evt_storm", order)

    async def storm() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
            return await asyncio.gather(
                *(client.post(WEBHOOK, content=body, headers=headers) for _ in range(10))
            )

    responses = asyncio.run(storm())
    assert [r.status_code for r in responses] == [200] * 10, [r.text for r in responses]
    outcomes = sorted(r.json()["outcome"] for r in responses)
    assert outcomes == ["duplicate"] * 9 + ["paid"]
    assert all(r.json()["order"]["status"] == "paid" for r in responses)
    with psycopg.connect(database_url) as conn:
        tickets = conn.execute("SELECT code FROM tickets WHERE order_id = %s", (order["id"],)).fetchall()
        attempts = conn.execute(
            "SELECT webhook_attempts FROM orders WHERE id = %s", (order["id"],)
        ).fetchone()
    assert len(tickets) == 3
    assert attempts == (10,)
    fetched = httpx.get(
        f"{base_url}/api/orders/{order['id']}", params={"token": order["access_token"]}
    ).json()
    assert sorted(fetched["tickets"]) == sorted(code for (code,) in tickets)
    assert_invariants(database_url)


def test_a_failed_payment_leaves_the_order_pending(base_url: str, database_url: str) -> None:
    order = new_order(base_url)
    body, headers = signed_webhook("evt_declined", order, event_type="payment_intent.payment_failed")
    response = httpx.post(f"{base_url}{WEBHOOK}", content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "failed_recorded"
    assert response.json()["order"]["status"] == "pending"
    assert httpx.get(f"{base_url}/api/events/PAYME1").json()["held"] == 2
    assert_invariants(database_url)


def test_an_event_type_we_do_not_handle_is_acknowledged(base_url: str, database_url: str) -> None:
    order = new_order(base_url)
    body, headers = signed_webhook("evt_other", order, event_type="charge.updated")
    response = httpx.post(f"{base_url}{WEBHOOK}", content=body, headers=headers)
    assert response.status_code == 200 and response.json()["outcome"] == "ignored"
    assert httpx.get(f"{base_url}/api/orders/{order['id']}").json()["status"] == "pending"
    assert_invariants(database_url)


def test_a_delivery_blocked_by_the_database_gets_503_and_a_retry_succeeds(
    database_url: str, tmp_path: Path
) -> None:
    """A transient database failure must be a 5xx, so the provider redelivers; nothing half-done remains."""
    with live_server(settings_for(database_url, tmp_path)) as base_url:
        order = new_order(base_url)
        body, headers = signed_webhook("evt_blocked", order)
        locked = threading.Event()
        release = threading.Event()

        def hold_order_lock() -> None:
            with psycopg.connect(database_url) as conn, conn.transaction():
                conn.execute("SELECT 1 FROM orders WHERE id = %s FOR UPDATE", (order["id"],))
                locked.set()
                release.wait(30)

        holder = threading.Thread(target=hold_order_lock)
        holder.start()
        try:
            assert locked.wait(10)
            blocked = httpx.post(f"{base_url}{WEBHOOK}", content=body, headers=headers, timeout=30)
        finally:
            release.set()
            holder.join()
        assert blocked.status_code == 503, blocked.text
        assert error_code(blocked) == "busy"
        assert blocked.headers["retry-after"] == "1"
        assert httpx.get(f"{base_url}/api/orders/{order['id']}").json()["status"] == "pending"
        assert_invariants(database_url)

        retried = httpx.post(f"{base_url}{WEBHOOK}", content=body, headers=headers)
        assert retried.status_code == 200 and retried.json()["outcome"] == "paid"
        assert retried.json()["order"]["status"] == "paid"
        assert_invariants(database_url)
