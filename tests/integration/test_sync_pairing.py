"""Pairing and device authentication over real HTTP: one-time codes, tokens, revocation, one event each."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from backend import devices
from backend.db import make_pool
from tests.integration.live_server import live_server, settings_for
from tests.integration.synckit import (
    add_device,
    create_event,
    error_code,
    pair_request,
    paired_gate,
    sell,
)
from ticketcode.sync_protocol import (
    PULL_PATH,
    PUSH_PATH,
    TicketChange,
    decode_pair_response,
    format_pairing_code,
)


@pytest.fixture
def base_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    with live_server(settings_for(database_url, tmp_path)) as url:
        yield url


def test_a_pairing_code_gives_a_token_for_its_event_and_the_server_keeps_only_hashes(
    base_url: str, database_url: str
) -> None:
    create_event(base_url, "PAIRA1")
    code = add_device(database_url, "PAIRA1", "Gate A")
    # People type it with dashes, in lower case, reading O for 0: still the code.
    typed = format_pairing_code(code).lower().replace("0", "o")
    response = pair_request(base_url, typed)
    assert response.status_code == 200, response.text
    paired = decode_pair_response(response.json())
    assert paired.device_name == "Gate A"
    assert paired.event.code == "PAIRA1" and paired.event.capacity == 100
    assert len(paired.token) >= 40
    with psycopg.connect(database_url) as conn:
        stored = conn.execute(
            "SELECT token_hash, pairing_code_hash, paired_at IS NOT NULL FROM devices WHERE id = %s",
            (paired.device_id,),
        ).fetchone()
        dumped = repr(conn.execute("SELECT * FROM devices").fetchall())
    assert stored is not None
    assert stored[0] == devices.secret_hash(paired.token) and stored[1] is None and stored[2]
    assert paired.token not in dumped and code not in dumped
    pulled = httpx.get(
        f"{base_url}{PULL_PATH}", headers={"Authorization": f"Device {paired.token}"}, params={"cursor": ""}
    )
    assert pulled.status_code == 200, pulled.text


def test_used_expired_and_unknown_codes_are_refused_alike(base_url: str, database_url: str) -> None:
    create_event(base_url, "PAIRB1")
    code = add_device(database_url, "PAIRB1", "Gate B")
    assert pair_request(base_url, code).status_code == 200
    reused = pair_request(base_url, code)
    expired = pair_request(base_url, add_device(database_url, "PAIRB1", "Gate C", valid_seconds=0))
    unknown = pair_request(base_url, "K7QX-M2PA-9TRD")
    for response in (reused, expired, unknown):
        assert response.status_code == 401 and error_code(response) == "pairing_invalid", response.text
        assert "token" not in response.json()
    assert len({r.json()["error"]["message"] for r in (reused, expired, unknown)}) == 1
    malformed = pair_request(base_url, "not-a-code")
    assert malformed.status_code == 422 and error_code(malformed) == "invalid_input"


def test_a_new_code_for_a_device_waiting_to_pair_replaces_the_old_one(
    base_url: str, database_url: str
) -> None:
    create_event(base_url, "PAIRC1")
    first = add_device(database_url, "PAIRC1", "Gate A")
    second = add_device(database_url, "PAIRC1", "Gate A")
    assert error_code(pair_request(base_url, first)) == "pairing_invalid"
    assert pair_request(base_url, second).status_code == 200
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM devices").fetchone() == (1,)


def test_missing_or_wrong_tokens_are_401_and_a_revoked_device_403_never_data(
    base_url: str, database_url: str
) -> None:
    create_event(base_url, "AUTHA1")
    sell(base_url, "AUTHA1", 2)
    gate = paired_gate(base_url, database_url, "AUTHA1", "Gate A")
    push_body = {"scans": []}
    for headers in (
        {},
        {"Authorization": "Bearer " + gate.token},
        {"Authorization": "Device"},
        {"Authorization": "Device " + gate.token[:-2] + "xx"},
        {"Authorization": "Device not a token at all"},
    ):
        pulled = httpx.get(f"{base_url}{PULL_PATH}", headers=headers)
        pushed = httpx.post(f"{base_url}{PUSH_PATH}", json=push_body, headers=headers)
        for response in (pulled, pushed):
            assert response.status_code == 401 and error_code(response) == "device_unauthorized", headers
            assert response.headers["WWW-Authenticate"] == "Device"
    assert len(gate.pull()) == 2

    async def revoke() -> None:
        async with make_pool(database_url, min_size=1, max_size=1) as pool:
            await devices.revoke_device(pool, "Gate A")

    asyncio.run(revoke())
    pulled = httpx.get(f"{base_url}{PULL_PATH}", headers=gate.headers)
    pushed = httpx.post(
        f"{base_url}{PUSH_PATH}",
        json={
            "scans": [
                {
                    "id": 1,
                    "scanned_at": "2026-11-24T19:00:00+00:00",
                    "gate": "Gate A",
                    "direction": "in",
                    "verdict": "INVALID",
                    "reason": "x",
                    "source": "camera",
                }
            ]
        },
        headers=gate.headers,
    )
    for response in (pulled, pushed):
        assert response.status_code == 403 and error_code(response) == "device_revoked", response.text
        assert "revoked" in response.json()["error"]["message"]
        assert "changes" not in response.text
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM scans").fetchone() == (0,)
    # A code issued for a device that is then revoked before pairing no longer pairs.
    code = add_device(database_url, "AUTHA1", "Gate B")
    asyncio.run(_revoke(database_url, "Gate B"))
    assert error_code(pair_request(base_url, code)) == "pairing_invalid"


async def _revoke(database_url: str, name: str) -> None:
    async with make_pool(database_url, min_size=1, max_size=1) as pool:
        await devices.revoke_device(pool, name)


def test_a_device_sees_only_its_own_event(base_url: str, database_url: str) -> None:
    create_event(base_url, "EVTAAA")
    create_event(base_url, "EVTBBB")
    a_tickets = sell(base_url, "EVTAAA", 3)
    b_tickets = sell(base_url, "EVTBBB", 2)
    gate_a = paired_gate(base_url, database_url, "EVTAAA", "Gate A")
    gate_b = paired_gate(base_url, database_url, "EVTBBB", "Gate A")  # same name, other event: fine
    # B's gate uploads an admission of one of its tickets; A's gate must never hear of it.
    gate_b.push([gate_b.scan(b_tickets[0])])
    pulled_a = gate_a.pull()
    page = gate_a.pull_once()
    assert page.event.code == "EVTAAA"
    assert {k.event for k in page.keys} == {"EVTAAA"}
    assert {c.code for c in pulled_a if isinstance(c, TicketChange)} == set(a_tickets)
    assert all(isinstance(c, TicketChange) for c in pulled_a)
    # A cursor of B's feed read with A's token still gives only A's event.
    gate_b.pull()
    gate_a.cursor = gate_b.cursor
    assert all(getattr(c, "code", "").startswith("EVTAAA") for c in gate_a.pull())
    # A scan of B's ticket uploaded by A's gate is stored as a rejection of A's device, not a movement.
    gate_a.push([gate_a.scan(b_tickets[1], verdict="WRONG_EVENT")])
    assert not gate_b.pull()
