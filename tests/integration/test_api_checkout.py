"""Checkout over real HTTP: a uvicorn server on 127.0.0.1, real PostgreSQL, many concurrent buyers."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.integration.conftest import assert_invariants
from tests.integration.live_server import ADMIN_TOKEN, live_server, settings_for

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def base_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    with live_server(settings_for(database_url, tmp_path)) as url:
        yield url


def create_event(base_url: str, code: str, capacity: int, **extra: object) -> None:
    body = {"code": code, "name": f"Event {code}", "capacity": capacity, **extra}
    response = httpx.post(f"{base_url}/api/events", json=body, headers=ADMIN)
    assert response.status_code == 201, response.text


def assert_error(response: httpx.Response, status: int, code: str) -> str:
    """The one error shape: {"error": {"code", "message"}}; returns the message."""
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    return str(error["message"])


def test_500_buyers_race_for_100_tickets_and_exactly_the_capacity_is_held(
    base_url: str, database_url: str
) -> None:
    create_event(base_url, "RACE100", 100)
    rng = random.Random(2)
    quantities = [rng.randint(1, 3) for _ in range(500)]

    async def buy_all() -> list[tuple[int, int, dict[str, object]]]:
        limits = httpx.Limits(max_connections=500, max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60) as client:
            start = asyncio.Event()

            async def buy(i: int, quantity: int) -> tuple[int, int, dict[str, object]]:
                await start.wait()
                response = await client.post(
                    "/api/events/RACE100/orders", json={"quantity": quantity, "email": f"b{i}@example.com"}
                )
                return quantity, response.status_code, response.json()

            tasks = [asyncio.create_task(buy(i, q)) for i, q in enumerate(quantities)]
            await asyncio.sleep(0.2)
            start.set()
            return await asyncio.gather(*tasks)

    results = asyncio.run(buy_all())

    statuses = {status for _, status, _ in results}
    assert statuses <= {201, 409}, sorted(statuses)
    won = [(q, body) for q, status, body in results if status == 201]
    refused = [q for q, status, body in results if status == 409]
    assert all(body["error"]["code"] == "sold_out" for _, s, body in results if s == 409)  # type: ignore[index]
    held = sum(q for q, _ in won)
    assert held <= 100
    assert all(body["quantity"] == q and body["status"] == "pending" for q, body in won)
    assert len({body["id"] for _, body in won}) == len(won)
    stock = httpx.get(f"{base_url}/api/events/RACE100").json()
    assert (stock["held"], stock["sold"], stock["available"]) == (held, 0, 100 - held)
    # Sold out for real: stock only shrank during the race, so every refused buyer asked for more than
    # is left now. With single-ticket buyers refused, that means exactly the capacity is held.
    assert refused and stock["available"] < min(refused)
    assert_invariants(database_url)


def test_buyers_spread_over_several_events_never_oversell_any(base_url: str, database_url: str) -> None:
    capacities = {"SPREADA": 20, "SPREADB": 35, "SPREADC": 50}
    for code, capacity in capacities.items():
        create_event(base_url, code, capacity)
    rng = random.Random(5)
    buyers = [(rng.choice(sorted(capacities)), rng.randint(1, 3)) for _ in range(200)]

    async def buy_all() -> list[tuple[str, int, int]]:
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60) as client:

            async def buy(i: int, code: str, quantity: int) -> tuple[str, int, int]:
                response = await client.post(
                    f"/api/events/{code}/orders", json={"quantity": quantity, "email": f"s{i}@example.com"}
                )
                return code, quantity, response.status_code

            return await asyncio.gather(*(buy(i, code, q) for i, (code, q) in enumerate(buyers)))

    results = asyncio.run(buy_all())
    assert {status for _, _, status in results} <= {201, 409}
    for code, capacity in capacities.items():
        held = sum(q for c, q, status in results if c == code and status == 201)
        stock = httpx.get(f"{base_url}/api/events/{code}").json()
        assert held <= capacity and (stock["held"], stock["available"]) == (held, capacity - held)
    assert_invariants(database_url)


def test_a_buyer_reserves_pays_by_webhook_and_gets_tickets_that_verify(
    base_url: str, database_url: str
) -> None:
    from tests.integration.live_server import MASTER_SECRET, signed_webhook
    from ticketcode import derive_event_key, find_signing_key, parse_code

    create_event(base_url, "HAPPY1", 50, price_cents=2500, currency="EUR")
    stock = httpx.get(f"{base_url}/api/events/HAPPY1").json()
    assert stock == {
        "code": "HAPPY1", "name": "Event HAPPY1", "capacity": 50, "available": 50, "held": 0, "sold": 0,
        "withdrawn": 0, "price_cents": 2500, "currency": "EUR", "signing": "hmac",
    }  # fmt: skip

    response = httpx.post(
        f"{base_url}/api/events/HAPPY1/orders", json={"quantity": 3, "email": "ann@example.com"}
    )
    assert response.status_code == 201, response.text
    order = response.json()
    assert order["status"] == "pending" and order["quantity"] == 3
    assert (order["amount_cents"], order["currency"]) == (7500, "EUR")
    assert order["expires_at"] > order["created_at"] and order["tickets"] == []
    uuid.UUID(order["id"])

    body, headers = signed_webhook("evt_happy_1", order)
    paid = httpx.post(f"{base_url}/api/payments/webhook", content=body, headers=headers)
    assert paid.status_code == 200, paid.text
    assert paid.json()["outcome"] == "paid"

    fetched = httpx.get(
        f"{base_url}/api/orders/{order['id']}", params={"token": order["access_token"]}
    ).json()
    assert fetched["status"] == "paid" and fetched["paid_at"] is not None
    codes = fetched["tickets"]
    assert len(codes) == 3 and len(set(codes)) == 3
    key = derive_event_key(MASTER_SECRET, "HAPPY1", 1)
    for code in codes:
        parsed = parse_code(code)
        assert parsed.event == "HAPPY1"
        assert find_signing_key(parsed, [key]) == key
    stock = httpx.get(f"{base_url}/api/events/HAPPY1").json()
    assert (stock["available"], stock["held"], stock["sold"]) == (47, 0, 3)
    assert_invariants(database_url)


def test_a_retry_with_the_same_idempotency_key_returns_the_same_order(
    base_url: str, database_url: str
) -> None:
    create_event(base_url, "IDEM1", 20)
    request = {"quantity": 2, "email": "retry@example.com"}
    headers = {"Idempotency-Key": "checkout-7f3a"}
    first = httpx.post(f"{base_url}/api/events/IDEM1/orders", json=request, headers=headers)
    again = httpx.post(f"{base_url}/api/events/IDEM1/orders", json=request, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    # The same order with the same access token: a buyer whose first answer was lost reads and
    # cancels it with the retry's.
    assert first.json()["access_token"] and first.json() == again.json()
    token = {"Authorization": f"Bearer {again.json()['access_token']}"}
    seen = httpx.get(f"{base_url}/api/orders/{again.json()['id']}", headers=token)
    assert seen.status_code == 200 and seen.json()["email"] == "retry@example.com"
    assert httpx.get(f"{base_url}/api/events/IDEM1").json()["held"] == 2

    other = httpx.post(
        f"{base_url}/api/events/IDEM1/orders", json={**request, "quantity": 3}, headers=headers
    )
    assert_error(other, 422, "invalid_input")
    fresh = httpx.post(f"{base_url}/api/events/IDEM1/orders", json=request, headers={"Idempotency-Key": "k2"})
    assert fresh.status_code == 201 and fresh.json()["id"] != first.json()["id"]
    assert httpx.get(f"{base_url}/api/events/IDEM1").json()["held"] == 4
    assert_invariants(database_url)


def test_concurrent_retries_with_one_idempotency_key_make_one_order(base_url: str, database_url: str) -> None:
    create_event(base_url, "IDEM2", 20)

    async def retry_storm() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
            return await asyncio.gather(
                *(
                    client.post(
                        "/api/events/IDEM2/orders",
                        json={"quantity": 1, "email": "same@example.com"},
                        headers={"Idempotency-Key": "double-click"},
                    )
                    for _ in range(10)
                )
            )

    responses = asyncio.run(retry_storm())
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["id"] for r in responses}) == 1
    assert httpx.get(f"{base_url}/api/events/IDEM2").json()["held"] == 1
    assert_invariants(database_url)


def test_creating_an_event_needs_the_admin_token(base_url: str, database_url: str) -> None:
    body = {"code": "NOAUTH", "name": "x", "capacity": 10}
    for headers in ({}, {"Authorization": "Bearer wrong-token"}, {"Authorization": f"Basic {ADMIN_TOKEN}"}):
        response = httpx.post(f"{base_url}/api/events", json=body, headers=headers)
        assert_error(response, 401, "unauthorized")
        assert response.headers["www-authenticate"] == "Bearer"
    assert_error(httpx.get(f"{base_url}/api/events/NOAUTH"), 404, "event_not_found")
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM events").fetchone() == (0,)


def test_event_creation_errors_are_clear(base_url: str) -> None:
    create_event(base_url, "TWICE1", 10)
    again = httpx.post(
        f"{base_url}/api/events", json={"code": "TWICE1", "name": "x", "capacity": 5}, headers=ADMIN
    )
    assert_error(again, 409, "event_exists")
    for bad in (
        {"code": "no", "name": "x", "capacity": 5},
        {"code": "GOOD1", "name": "x", "capacity": 0},
        {"code": "GOOD1", "name": "x", "capacity": "5"},
        {"code": "GOOD1", "name": "", "capacity": 5},
        {"code": "GOOD1", "name": "x", "capacity": 5, "currency": "euro"},
        {"code": "GOOD1", "name": "nul\u0000", "capacity": 5},
    ):
        assert_error(httpx.post(f"{base_url}/api/events", json=bad, headers=ADMIN), 422, "invalid_input")


BAD_CHECKOUT_BODIES: list[object] = [
    {"quantity": 0, "email": "a@example.com"},
    {"quantity": 11, "email": "a@example.com"},
    {"quantity": -1, "email": "a@example.com"},
    {"quantity": "2", "email": "a@example.com"},
    {"quantity": 2.5, "email": "a@example.com"},
    {"quantity": True, "email": "a@example.com"},
    {"quantity": 1, "email": "not an email"},
    {"quantity": 1, "email": "x" * 300 + "@example.com"},
    {"quantity": 1, "email": 5},
    {"quantity": 1, "email": "nul\u0000@example.com"},
    {"quantity": 1},
    {"email": "a@example.com"},
    [1, 2],
    None,
]


def test_bad_checkout_input_is_422_and_holds_nothing(base_url: str, database_url: str) -> None:
    create_event(base_url, "BADIN1", 10)
    for body in BAD_CHECKOUT_BODIES:
        response = httpx.post(f"{base_url}/api/events/BADIN1/orders", json=body)
        assert_error(response, 422, "invalid_input")
    long_key = {"Idempotency-Key": "k" * 201}
    response = httpx.post(
        f"{base_url}/api/events/BADIN1/orders", json={"quantity": 1, "email": "a@b.co"}, headers=long_key
    )
    assert_error(response, 422, "invalid_input")
    assert httpx.get(f"{base_url}/api/events/BADIN1").json()["available"] == 10
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM orders").fetchone() == (0,)


def test_checkout_body_that_is_not_json_is_422(base_url: str) -> None:
    create_event(base_url, "BADIN2", 10)
    for raw in (b"{", b"quantity=1", b"\xff\xfe", b""):
        response = httpx.post(
            f"{base_url}/api/events/BADIN2/orders", content=raw, headers={"Content-Type": "application/json"}
        )
        assert_error(response, 422, "invalid_input")


def test_sold_out_is_409_with_a_clear_body_and_unknown_event_is_404(base_url: str) -> None:
    create_event(base_url, "LAST1", 2)
    assert (
        httpx.post(f"{base_url}/api/events/LAST1/orders", json={"quantity": 2, "email": "a@b.co"}).status_code
        == 201
    )
    message = assert_error(
        httpx.post(f"{base_url}/api/events/LAST1/orders", json={"quantity": 1, "email": "b@b.co"}),
        409,
        "sold_out",
    )
    assert "LAST1" in message
    for code in ("NOPE99", "x", "lower-case-and-long-and-dashed"):
        assert_error(
            httpx.post(f"{base_url}/api/events/{code}/orders", json={"quantity": 1, "email": "a@b.co"}),
            404,
            "event_not_found",
        )
        assert_error(httpx.get(f"{base_url}/api/events/{code}"), 404, "event_not_found")


def test_order_lookup_by_unknown_or_malformed_id(base_url: str) -> None:
    assert_error(httpx.get(f"{base_url}/api/orders/{uuid.uuid4()}"), 404, "order_not_found")
    assert_error(httpx.get(f"{base_url}/api/orders/not-a-uuid"), 422, "invalid_input")
    assert_error(httpx.get(f"{base_url}/api/no/such/path"), 404, "not_found")
    assert_error(httpx.delete(f"{base_url}/api/events"), 405, "method_not_allowed")


def test_the_openapi_page_documents_the_api(base_url: str) -> None:
    assert httpx.get(f"{base_url}/docs").status_code == 200
    spec = httpx.get(f"{base_url}/openapi.json").json()
    paths = spec["paths"]
    assert {"/api/events", "/api/events/{code}", "/api/events/{code}/orders", "/api/orders/{order_id}",
            "/api/payments/webhook"} <= set(paths)  # fmt: skip
    checkout = paths["/api/events/{code}/orders"]["post"]
    assert set(checkout["requestBody"]["content"]["application/json"]["schema"]["properties"]) == {
        "quantity",
        "email",
    }
    assert {"201", "409", "422"} <= set(checkout["responses"])
    assert any(p["name"] == "Idempotency-Key" for p in checkout["parameters"])


def test_oversized_bodies_are_refused_with_413_and_nothing_is_held(base_url: str, database_url: str) -> None:
    create_event(base_url, "BIGBODY", 10)
    padded = {"quantity": 1, "email": "a@b.co", "pad": "x" * 10_000}
    assert_error(httpx.post(f"{base_url}/api/events/BIGBODY/orders", json=padded), 413, "payload_too_large")
    huge_event = {"code": "HUGE1", "name": "x" * 300_000, "capacity": 5}
    assert_error(
        httpx.post(f"{base_url}/api/events", json=huge_event, headers=ADMIN), 413, "payload_too_large"
    )

    def chunked() -> Iterator[bytes]:
        # No Content-Length to refuse up front: the server has to count while it reads.
        yield b'{"code": "HUGE2", "capacity": 5, "name": "'
        for _ in range(8):
            yield b"x" * 65536
        yield b'"}'

    streamed = httpx.post(
        f"{base_url}/api/events", content=chunked(), headers={**ADMIN, "Content-Type": "application/json"}
    )
    assert_error(streamed, 413, "payload_too_large")
    assert httpx.get(f"{base_url}/api/events/BIGBODY").json()["available"] == 10
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM orders").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM events").fetchone() == (1,)
