"""Sync under load: 50 simulated gates sync every second while a flash sale runs against the same server,
with payments issuing tickets (the feed trigger) all along. The sale's invariants hold, every scan a
gate recorded is on the server exactly once, and every gate ends up holding every ticket."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.integration.conftest import assert_invariants
from tests.integration.live_server import live_server, settings_for, signed_webhook
from tests.integration.synckit import create_event

ROOT = Path(__file__).resolve().parents[2]
GATES = 50
SALE_CAPACITY = 300


@pytest.fixture
def base_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    with live_server(settings_for(database_url, tmp_path), pool_max_size=16) as url:
        yield url


async def flash_sale(base_url: str, *, buyers: int = 32) -> tuple[int, int]:
    """Buyers take 1 to 3 tickets of SALE01 until it is sold out; every fourth order of theirs and a
    steady trickle of GATES1 orders are paid by webhook meanwhile. (orders placed, orders paid)"""
    placed = paid = 0
    sold_out = asyncio.Event()
    limits = httpx.Limits(max_connections=buyers + 4)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60) as client:

        async def pay(order_id: str) -> None:
            nonlocal paid
            body, headers = signed_webhook(f"evt_load_{order_id}", order_id)
            response = await client.post("/api/payments/webhook", content=body, headers=headers)
            assert response.status_code == 200 and response.json()["outcome"] == "paid", response.text
            paid += 1

        async def buyer(n: int) -> None:
            nonlocal placed
            i = 0
            while not sold_out.is_set():
                i += 1
                response = await client.post(
                    "/api/events/SALE01/orders",
                    json={"quantity": 1 + (n + i) % 3, "email": f"b{n}.{i}@ex.org"},
                )
                if response.status_code == 409:
                    if (n + i) % 3 == 0:  # a single-ticket buyer refused: nothing is left
                        sold_out.set()
                    continue
                assert response.status_code == 201, response.text
                placed += 1
                if placed % 4 == 0:
                    await pay(response.json()["id"])

        async def gate_tickets() -> None:
            nonlocal placed
            while not sold_out.is_set():
                response = await client.post(
                    "/api/events/GATES1/orders", json={"quantity": 2, "email": "g@ex.org"}
                )
                assert response.status_code == 201, response.text
                placed += 1
                await pay(response.json()["id"])
                await asyncio.sleep(0.05)

        await asyncio.gather(*(buyer(n) for n in range(buyers)), gate_tickets())
    return placed, paid


def test_fifty_gates_syncing_beside_a_flash_sale_break_nothing_and_lose_no_scan(
    base_url: str, database_url: str
) -> None:
    create_event(base_url, "SALE01", capacity=SALE_CAPACITY)
    create_event(base_url, "GATES1", capacity=5000)
    # The gates in a process of their own (bench/gate_load.py, as the benchmark runs them), so that
    # their work does not compete with the server's for this process's interpreter lock.
    gates = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "bench" / "gate_load.py"),
            *("--url", base_url, "--database-url", database_url, "--event", "GATES1"),
            *("--gates", str(GATES), "--interval", "1", "--scans", "2", "--duration", "300", "--details"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert gates.stdout is not None
        assert json.loads(gates.stdout.readline()) == {"paired": GATES}, (
            gates.stderr.read() if gates.stderr else ""
        )
        started = time.monotonic()
        placed, paid = asyncio.run(flash_sale(base_url))
        # However quick the sale, every gate gets a few rounds in (they start within 1 s).
        time.sleep(max(0.0, 3.0 - (time.monotonic() - started)))
        gates.send_signal(signal.SIGTERM)
        out, err = gates.communicate(timeout=120)
    finally:
        if gates.poll() is None:
            gates.kill()
    assert gates.returncode == 0, err
    report = json.loads(out.strip().splitlines()[-1])
    assert placed > 0 and paid > 0
    assert report["rounds"] >= GATES * 2, report
    assert set(report["errors"]) <= {"503"}, report  # busy, retried: nothing else
    assert_invariants(database_url)
    with psycopg.connect(database_url) as conn:
        stored = {
            device: (count, set(ids))
            for device, count, ids in conn.execute(
                "SELECT device_id::text, count(*), array_agg(scan_id) FROM scans GROUP BY device_id"
            ).fetchall()
        }
        valid = [
            serial
            for (serial,) in conn.execute(
                "SELECT t.serial FROM tickets t JOIN events e ON e.id = t.event_id"
                " WHERE e.code = 'GATES1' AND t.status = 'valid' ORDER BY t.serial"
            ).fetchall()
        ]
    assert len(report["details"]) == GATES
    for gate in report["details"]:
        recorded = set(range(1, gate["recorded"] + 1))
        assert recorded and gate["pending"] == 0, f"{gate['name']}: scans not all acknowledged"
        count, ids = stored[gate["device_id"]]
        assert ids == set(gate["acknowledged"]) == recorded, gate["name"]
        assert count == len(ids), f"{gate['name']}: a scan stored twice"
        assert gate["tickets"] == valid, f"{gate['name']} does not hold every ticket"
