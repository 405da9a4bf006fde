"""Every endpoint, fed generated input over real HTTP: an answer in the one error shape, never a 500,
and the stock invariants hold afterwards.

Hypothesis makes the bodies (any JSON value, nested, with any text), the path segments and the header
values; one server and database serve all the examples of a test.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.conftest import assert_invariants
from tests.integration.live_server import ADMIN_TOKEN, live_server, settings_for

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
EXAMPLES = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
order_bodies = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {"quantity": st.integers(-(2**70), 2**70) | json_values, "email": st.text() | json_values}
    ),
    st.fixed_dictionaries({"quantity": st.integers(1, 3), "email": st.emails()}),
)
# Any value an HTTP client may send (RFC 9110 field-value, with obs-text: bytes 0x80-0xff too).
header_values = st.from_regex(
    rb"\A[\x21-\x7e\x80-\xff](?:[\t\x20-\x7e\x80-\xff]{0,298}[\x21-\x7e\x80-\xff])?\Z"
)
path_segments = st.text(min_size=1, max_size=300).filter(lambda t: "/" not in t and t not in (".", ".."))


@pytest.fixture
def api(database_url: str, tmp_path: Path) -> Iterator[httpx.Client]:
    with (
        live_server(settings_for(database_url, tmp_path)) as url,
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        created = client.post(
            "/api/events", json={"code": "ANYAPI", "name": "Any", "capacity": 50}, headers=ADMIN
        )
        assert created.status_code == 201, created.text
        yield client


def assert_answer(response: httpx.Response, allowed: set[int]) -> dict[str, Any]:
    assert response.status_code in allowed, (response.status_code, response.text)
    body: dict[str, Any] = response.json()
    if response.status_code >= 400:
        assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
        assert body["error"]["code"] and body["error"]["message"]
    return body


@EXAMPLES
@given(body=order_bodies, key=st.none() | header_values)
def test_any_checkout_body_and_idempotency_key_get_a_clear_answer(
    api: httpx.Client, database_url: str, body: object, key: bytes | None
) -> None:
    headers: dict[str, Any] = {"Idempotency-Key": key} if key is not None else {}
    response = api.post("/api/events/ANYAPI/orders", content=json.dumps(body), headers=headers)
    assert_answer(response, {201, 409, 413, 422})
    assert_invariants(database_url)


@EXAMPLES
@given(body=json_values)
def test_any_event_body_gets_a_clear_answer(api: httpx.Client, body: object) -> None:
    response = api.post("/api/events", content=json.dumps(body), headers=ADMIN)
    assert_answer(response, {201, 409, 422})


@EXAMPLES
@given(segment=path_segments)
def test_any_event_code_or_order_id_in_the_path_gets_a_clear_answer(api: httpx.Client, segment: str) -> None:
    for path, allowed in (("/api/events/{}", {200, 404}), ("/api/orders/{}", {404, 422})):
        response = api.get(path.format(quote(segment, safe="")))
        if response.status_code == 404 and response.json()["error"]["code"] == "not_found":
            continue  # a segment holding "/" names no route at all: still the one error shape
        assert_answer(response, allowed)


@EXAMPLES
@given(
    body=st.binary(max_size=2000) | json_values.map(lambda v: json.dumps(v).encode()), signature=header_values
)
def test_any_webhook_delivery_gets_a_clear_answer(api: httpx.Client, body: bytes, signature: bytes) -> None:
    response = api.post("/api/payments/webhook", content=body, headers={"Stripe-Signature": signature})
    assert_answer(response, {400})  # never verified: bad_signature, malformed_request or malformed_event
