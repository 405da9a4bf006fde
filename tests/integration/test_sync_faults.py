"""Sync through a hostile network and a crashing server: the round fails cleanly, retries later,
loses nothing, and the server holds every scan exactly once.

Faults are real: a TCP proxy between gate and server cuts, garbles, delays or replaces answers
(``fault_proxy``), and ``ticketgate server`` runs in its own process to be killed with SIGKILL in the
middle of a push (while PostgreSQL executes the batch's insert) and of a long pull.
"""

from __future__ import annotations

import json
import os
import random
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest

from scanner.errors import ServerUnavailable
from scanner.gate import Gate
from scanner.keystore import KeyStore
from scanner.paths import keys_dir, store_path
from scanner.store import Store
from scanner.sync.credentials import load_credentials, save_credentials
from scanner.sync.round import RoundReport
from scanner.verdicts import Verdict
from tests.integration.fault_proxy import MODES, FaultProxy
from tests.integration.gatekit_sync import (
    ROOT,
    SERVER_SECRETS,
    GateHome,
    pair_gate,
    revoke_on_server,
    seed_paid_tickets,
    server_process,
)
from tests.integration.live_server import live_server, settings_for
from tests.integration.synckit import create_event, sell

EVENT = "FAULTS1"


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[str]:
    with live_server(settings_for(database_url, tmp_path / "backend")) as url:
        create_event(url, EVENT, capacity=500)
        yield url


def device_scans(database_url: str, device_name: str) -> list[int]:
    """The gate scan ids the server holds for one device, with repeats if any were stored twice."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT s.scan_id FROM scans s JOIN devices d ON d.id = s.device_id WHERE d.name = %s"
            " ORDER BY s.scan_id",
            (device_name,),
        ).fetchall()
    return [r[0] for r in rows]


def local_scan_ids(gate: GateHome) -> list[int]:
    with sqlite3.connect(store_path(gate.home)) as db:
        return [r[0] for r in db.execute("SELECT id FROM scans ORDER BY id")]


@pytest.mark.parametrize("mode", sorted(MODES - {"pass"}))
def test_a_network_or_server_fault_fails_the_round_cleanly_and_the_next_round_loses_nothing(
    mode: str, server: str, database_url: str, tmp_path: Path
) -> None:
    tickets = sell(server, EVENT, 6)
    gate = pair_gate(tmp_path, server, database_url, EVENT, "Gate A")
    for ticket in tickets[:5]:
        assert gate.check(ticket).admitted
    revoke_on_server(database_url, tickets[5])
    with FaultProxy(urlsplit(server).port or 0) as proxy:
        proxy.mode = mode
        proxy.drip_seconds = 0.2
        started = time.monotonic()
        report = gate.sync(server_url=proxy.url, timeout_s=2.0, deadline_s=1.0)
        assert time.monotonic() - started < 15, "a slow or broken server must not hang the round"
        assert report.exit_code == 1 and report.link == "offline", report.problem
        assert len(report.errors) == 2 and all(isinstance(e, ServerUnavailable) for e in report.errors)
        with gate.store() as store:
            # Nothing acknowledged reached the gate, so nothing is marked uploaded...
            assert store.pending_upload_count() == 5
            assert store.sync_state(EVENT).link == "offline"
        # ... even when the server stored the batch (drop_answer: it did, and never said so).
        assert len(device_scans(database_url, "Gate A")) in ((0, 5) if mode != "drop_answer" else (5,))
        proxy.mode = "pass"
        proxy.drop_all()
        report = gate.sync(server_url=proxy.url)
    assert report.ok, report.problem
    assert device_scans(database_url, "Gate A") == local_scan_ids(gate)  # each exactly once
    with gate.store() as store:
        assert store.pending_upload_count() == 0
    assert gate.check(tickets[5]).verdict is Verdict.REVOKED


def test_sync_on_the_command_line_through_a_garbled_answer_is_one_line_and_exit_1(
    server: str, database_url: str, tmp_path: Path
) -> None:
    gate = pair_gate(tmp_path, server, database_url, EVENT, "Gate A")
    with FaultProxy(urlsplit(server).port or 0) as proxy:
        proxy.mode = "garble"
        save_credentials(gate.home, replace(load_credentials(gate.home), server_url=proxy.url))
        env = {k: v for k, v in os.environ.items() if not k.startswith("TICKETGATE_")}
        done = subprocess.run(
            [sys.executable, "-m", "ticketgate", "sync", "--home", str(gate.home)],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 1, done.stderr
        assert "Traceback" not in done.stderr and "not JSON" in done.stderr
        assert "nothing is lost" in done.stderr
        done = subprocess.run(
            [sys.executable, "-m", "ticketgate", "sync", "--json", "--home", str(gate.home)],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 1
        report = json.loads(done.stdout)
        assert report["ok"] is False and report["link"] == "offline" and "not JSON" in report["error"]


# -- the server killed mid-push and mid-pull ------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _round_in_thread(run: Callable[[], RoundReport]) -> tuple[threading.Thread, list[RoundReport]]:
    result: list[RoundReport] = []
    thread = threading.Thread(target=lambda: result.append(run()), daemon=True)
    thread.start()
    return thread, result


def _wait_until(condition: Callable[[], bool], *, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.002)
    return False


def _inserting_scans(database_url: str) -> bool:
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid() AND state = 'active' AND query ILIKE '%%INSERT INTO scans%%'"
        ).fetchone()
    return bool(row and row[0])


def _local_tickets(gate: GateHome) -> int:
    with sqlite3.connect(store_path(gate.home)) as db:
        return int(db.execute("SELECT count(*) FROM tickets").fetchone()[0])


@pytest.mark.slow
def test_the_server_killed_mid_push_and_mid_pull_many_times_loses_nothing_and_stores_each_scan_once(
    database_url: str, tmp_path: Path
) -> None:
    rnd = random.Random(8)
    total_tickets = 12_000
    with server_process(database_url, _free_port()) as server:
        create_event(server.url, EVENT, capacity=total_tickets + 10)
        codes = seed_paid_tickets(
            database_url,
            EVENT,
            total_tickets,
            master_secret=SERVER_SECRETS["TICKETGATE_MASTER_SECRET"].encode(),
        )
        pusher = pair_gate(tmp_path, server.url, database_url, EVENT, "Gate A")  # holds the key now
        puller = pair_gate(tmp_path, server.url, database_url, EVENT, "Gate B", first_sync=False)
        interrupted_push = interrupted_pull = 0
        for round_number in range(5):
            # Fresh scans every time, so each kill lands in a push with work to do; recorded without an
            # fsync per scan (the crash under test is the server's).
            with Store.open(store_path(pusher.home), synchronous="OFF") as store:
                gate = Gate(
                    store=store, keys=KeyStore(keys_dir(pusher.home)), event=EVENT, gate_name="Gate A"
                )
                for code in codes[round_number * 1500 : (round_number + 1) * 1500]:
                    gate.check(code)
                for n in range(300):
                    gate.check(f"not a ticket {round_number}-{n}")
            queued = len(local_scan_ids(pusher)) - len(set(device_scans(database_url, "Gate A")))
            thread, result = _round_in_thread(lambda: pusher.sync(pull_limit=2000))
            # Half the kills while PostgreSQL executes a batch's insert, half after a random delay.
            if round_number % 2 == 0:
                _wait_until(lambda: _inserting_scans(database_url), timeout=10)
            else:
                time.sleep(rnd.uniform(0.02, 0.3))
            server.kill()
            thread.join(timeout=60)
            [report] = result
            assert report.exit_code in (0, 1), report.problem
            interrupted_push += 0 <= report.pushed < queued and report.exit_code == 1
            server.start()

            target = rnd.randint(2000, total_tickets - 2000)
            thread, result = _round_in_thread(lambda: puller.sync(pull_limit=1000))
            _wait_until(lambda target=target: _local_tickets(puller) >= target, timeout=30)
            server.kill()
            thread.join(timeout=60)
            [report] = result
            assert report.exit_code in (0, 1), report.problem
            interrupted_pull += report.exit_code == 1 and _local_tickets(puller) < total_tickets
            server.start()
        for gate_home in (pusher, puller):
            report = gate_home.sync()
            assert report.ok, report.problem
    assert interrupted_push >= 3 and interrupted_pull >= 3, (interrupted_push, interrupted_pull)
    # Every scan on the server exactly once, and every ticket at the gates.
    assert device_scans(database_url, "Gate A") == local_scan_ids(pusher)
    with psycopg.connect(database_url) as conn:
        server_tickets = dict(conn.execute("SELECT serial, code FROM tickets").fetchall())
    for gate_home in (pusher, puller):
        with sqlite3.connect(store_path(gate_home.home)) as db:
            assert dict(db.execute("SELECT serial, code FROM tickets")) == server_tickets
    # Gate B learnt Gate A's admissions on the way: the last admitted ticket is already used there.
    assert puller.check(codes[7499]).verdict is Verdict.ALREADY_USED
