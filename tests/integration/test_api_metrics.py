"""``GET /metrics`` on a real server: counters move with what happens (checkouts, webhooks, gate sync),
the database's state is read at the scrape, and with ``--workers 2`` every worker's answer adds up all
of them (prometheus-client's multi-process mode in a folder the server makes and removes)."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import httpx
import psycopg
import pytest
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.gatekit_sync import pair_gate
from tests.integration.live_server import live_server, settings_for, signed_webhook
from tests.integration.synckit import create_event, sell
from tests.integration.test_api_server import SECRETS, clean_env, free_port, start_workers

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(base: str) -> Samples:
    answer = httpx.get(f"{base}/metrics", timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    return parse(answer.text)


def parse(text: str) -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def checkout(
    base: str, code: str, quantity: int, email: str = "m@example.com", **headers: str
) -> httpx.Response:
    return httpx.post(
        f"{base}/api/events/{code}/orders",
        json={"quantity": quantity, "email": email},
        headers=headers,
    )


def test_metrics_count_checkouts_webhooks_and_gate_sync_and_read_the_database(
    database_url: str, tmp_path: Path
) -> None:
    with live_server(settings_for(database_url, tmp_path)) as base:
        create_event(base, "MET1", capacity=5)
        # The server's counters live in this test process, shared with earlier tests: compare deltas,
        # read here without a scrape (the first scrape counts orders by status for the next minute).
        before = parse(generate_latest(REGISTRY).decode())
        made = checkout(base, "MET1", 2, **{"Idempotency-Key": "k1"})
        assert made.status_code == 201
        assert checkout(base, "MET1", 2, **{"Idempotency-Key": "k1"}).status_code == 201  # a retry
        assert checkout(base, "MET1", 4).status_code == 409  # 3 left
        assert checkout(base, "MET1", 0).status_code == 422
        body, headers = signed_webhook("evt_met_1", made.json())
        assert httpx.post(f"{base}/api/payments/webhook", content=body, headers=headers).status_code == 200
        assert httpx.post(f"{base}/api/payments/webhook", content=body, headers=headers).status_code == 200
        headers["Stripe-Signature"] = "t=1,v1=00"
        assert httpx.post(f"{base}/api/payments/webhook", content=body, headers=headers).status_code == 400
        [ticket] = sell(base, "MET1")
        gate = pair_gate(tmp_path, base, database_url, "MET1", "Gate A")  # syncs once: a pull
        gate.check(ticket)
        assert gate.sync().ok  # a push of one scan, then a pull
        with psycopg.connect(database_url, autocommit=True) as conn:
            made_late = checkout(base, "MET1", 1).json()
            conn.execute(
                "UPDATE orders SET expires_at = now() - interval '90 seconds' WHERE id = %s",
                (made_late["id"],),
            )
        after = scrape(base)
        # Pending orders are counted at every scrape; the other statuses at most once a minute.
        assert checkout(base, "MET1", 1, "n@example.com").status_code == 201
        assert value(scrape(base), "ticketgate_orders", status="pending") == 2

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    # 2, its retry (the same order, counted again), sell()'s 1, the late 1
    assert delta("ticketgate_checkouts_total", outcome="reserved") == 4
    assert delta("ticketgate_checkouts_total", outcome="sold_out") == 1
    assert delta("ticketgate_checkouts_total", outcome="invalid_input") == 1
    assert delta("ticketgate_tickets_reserved_total") == 6
    assert delta("ticketgate_checkout_seconds_count") == 6
    assert delta("ticketgate_webhooks_total", type="payment_intent.succeeded", outcome="paid") == 2
    assert delta("ticketgate_webhooks_total", type="payment_intent.succeeded", outcome="duplicate") == 1
    assert delta("ticketgate_webhooks_total", type="unknown", outcome="bad_signature") == 1
    assert delta("ticketgate_sync_requests_total", event="MET1", device="Gate A", kind="pull") >= 2
    assert delta("ticketgate_sync_requests_total", event="MET1", device="Gate A", kind="push") == 1
    assert delta("ticketgate_scans_ingested_total", event="MET1", device="Gate A") == 1
    # Read from this test's database at the scrape:
    assert value(after, "ticketgate_database_up") == 1
    assert value(after, "ticketgate_orders", status="paid") == 2
    assert value(after, "ticketgate_orders", status="pending") == 1
    assert value(after, "ticketgate_orders", status="refund_due") == 0
    assert value(after, "ticketgate_tickets", state="sold") == 3
    assert value(after, "ticketgate_tickets", state="held") == 1
    assert value(after, "ticketgate_tickets", state="available") == 1
    assert 89 < value(after, "ticketgate_reaper_lag_seconds") < 150
    assert value(after, "ticketgate_db_pool_connections", state="max") == 16
    opened = [value(after, "ticketgate_db_pool_connections", state=s) for s in ("in_use", "idle")]
    assert sum(opened) >= 1 and all(n >= 0 for n in opened)


def _worker_pids(supervisor: int) -> list[int]:
    """The server's worker processes (spawned; not multiprocessing's resource tracker)."""
    children = Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()
    return [int(pid) for pid in children if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]


def _reserved_in(path: Path) -> float:
    """Reserved checkouts counted in one worker's multi-process file."""
    total = 0.0
    for key, value, *_ in MmapedDict.read_all_values_from_file(str(path)):
        _, name, labels, _ = json.loads(key)
        if name == "ticketgate_checkouts_total" and labels == {"outcome": "reserved"}:
            total += value
    return total


def _metrics_folder(pid: int) -> str:
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    [entry] = [e for e in environ if e.startswith(b"PROMETHEUS_MULTIPROC_DIR=")]
    return entry.split(b"=", 1)[1].decode()


@pytest.mark.slow
def test_with_two_workers_every_scrape_adds_up_both_and_the_folder_goes_at_exit(
    empty_database_url: str,
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = clean_env(**SECRETS, TICKETGATE_DATABASE_URL=empty_database_url, TICKETGATE_CHECKOUT_RATE="off")
    server = start_workers(port, env, workers=2, extra=())
    try:
        folders = {_metrics_folder(pid) for pid in _worker_pids(server.pid)}
        assert len(folders) == 1
        [folder] = folders
        assert Path(folder).is_dir()
        admin = {"Authorization": f"Bearer {SECRETS['TICKETGATE_ADMIN_TOKEN']}"}
        made = httpx.post(
            f"{base}/api/events", json={"code": "MWRK2", "name": "M", "capacity": 100}, headers=admin
        )
        assert made.status_code == 201, made.text
        # A new connection each: the kernel spreads them over both workers' sockets.
        for buyer in range(40):
            assert checkout(base, "MWRK2", 1, f"b{buyer}@example.com").status_code == 201
        for _ in range(12):
            samples = scrape(base)
            assert value(samples, "ticketgate_checkouts_total", outcome="reserved") == 40
            assert value(samples, "ticketgate_checkout_seconds_count") == 40
            assert value(samples, "ticketgate_orders", status="pending") == 40
        # Both workers' pools (16 each) once both have recorded theirs (every 5 s, and at a scrape).
        deadline = time.monotonic() + 15
        while value(scrape(base), "ticketgate_db_pool_connections", state="max") != 32:
            assert time.monotonic() < deadline, "the pool gauges did not add up both workers"
            time.sleep(0.5)
        # Each worker's own file holds some of the 40: both served checkouts, and the scrapes summed them.
        per_worker = [_reserved_in(path) for path in sorted(Path(folder).glob("counter_*.db"))]
        assert len(per_worker) == 2 and sum(per_worker) == 40 and min(per_worker) >= 1, per_worker
    finally:
        server.send_signal(signal.SIGINT)
        try:
            output, _ = server.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            output, _ = server.communicate()
    assert server.returncode == 0, output
    assert "Traceback" not in output, output
    assert not Path(folder).exists(), "the metrics folder was left behind"
