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


def test_each_network_or_server_fault_fails_the_round_cleanly_and_the_next_round_loses_nothing(
    server: str, database_url: str, tmp_path: Path
) -> None:
    """One gate through every fault in turn (one server and gate for all: each costs seconds to set up)."""
    modes = sorted(MODES - {"pass"})
    tickets = [code for _ in modes for code in sell(server, EVENT, 2)]
    gate = pair_gate(tmp_path, server, database_url, EVENT, "Gate A")
    with FaultProxy(urlsplit(server).port or 0) as proxy:
        for number, mode in enumerate(modes):
            admitted, refunded = tickets[2 * number], tickets[2 * number + 1]
            assert gate.check(admitted).admitted
            revoke_on_server(database_url, refunded)
            held_before = len(device_scans(database_url, "Gate A"))
            with gate.store() as store:
                queued = store.pending_upload_count()
            proxy.mode = mode
            proxy.drip_seconds = 0.2
            started = time.monotonic()
            report = gate.sync(server_url=proxy.url, timeout_s=2.0, deadline_s=1.0)
            assert time.monotonic() - started < 20, f"{mode}: a slow or broken server hung the round"
            assert report.exit_code == 1 and report.link == "offline", (mode, report.problem)
            assert len(report.errors) == 2, (mode, report.errors)
            assert all(isinstance(e, ServerUnavailable) for e in report.errors), (mode, report.errors)
            with gate.store() as store:
                # Nothing acknowledged reached the gate, so nothing is marked uploaded...
                assert store.pending_upload_count() == queued, mode
                assert store.sync_state(EVENT).link == "offline", mode
            # ... also when the server stored the scan and the answer was lost on the way.
            held = len(device_scans(database_url, "Gate A"))
            stored_anyway = (
                (held_before + queued,) if mode == "drop_answer" else (held_before, held_before + queued)
            )
            assert held in stored_anyway, (mode, held, held_before, queued)
            assert gate.check(refunded).verdict is Verdict.ADMIT, (
                f"{mode}: the revocation cannot have arrived"
            )
            proxy.mode = "pass"
            proxy.drop_all()
            report = gate.sync(server_url=proxy.url)
            assert report.ok, (mode, report.problem)
            assert device_scans(database_url, "Gate A") == local_scan_ids(gate), f"{mode}: not exactly once"
            with gate.store() as store:
                assert store.pending_upload_count() == 0, mode
            assert gate.check(refunded).verdict is Verdict.REVOKED, mode


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
    """Each kill lands in a push and a pull at once (a server start costs seconds on a loaded machine):
    a new gate's first pull of every ticket is under way, then Gate A pushes fresh scans, then SIGKILL —
    half the time while PostgreSQL executes a batch's insert, half after a random delay."""
    rnd = random.Random(8)
    total, kills = 10_000, 4
    started = time.monotonic()
    with server_process(database_url, _free_port()) as server:
        create_event(server.url, EVENT, capacity=total)
        secret = SERVER_SECRETS["TICKETGATE_MASTER_SECRET"].encode()
        codes = seed_paid_tickets(database_url, EVENT, total, master_secret=secret)
        pusher = pair_gate(tmp_path, server.url, database_url, EVENT, "Gate A")  # holds the key now
        pullers: list[GateHome] = []
        mid_push = mid_pull = 0
        for number in range(kills):
            # Fresh scans each time, so every kill finds a push with work to do (recorded without an
            # fsync per scan: the crash under test is the server's).
            with Store.open(store_path(pusher.home), synchronous="OFF") as store:
                gate = Gate(
                    store=store, keys=KeyStore(keys_dir(pusher.home)), event=EVENT, gate_name="Gate A"
                )
                for code in codes[number * 1200 : (number + 1) * 1200]:
                    gate.check(code)
                for n in range(300):
                    gate.check(f"not a ticket {number}-{n}")
            queued = len(local_scan_ids(pusher)) - len(device_scans(database_url, "Gate A"))
            puller = pair_gate(tmp_path, server.url, database_url, EVENT, f"Gate B{number}", first_sync=False)
            pullers.append(puller)
            # Small pages: dozens remain when the kill comes, whatever the machine's speed.
            target = rnd.randint(1_000, total // 2)
            pulling, pulled = _round_in_thread(lambda puller=puller: puller.sync(pull_limit=250))
            assert _wait_until(lambda p=puller, t=target: _local_tickets(p) >= t, timeout=60), "pull stalled"
            # Every other kill lands while PostgreSQL executes the push's insert, for sure: a lock
            # taken here holds the insert until the server is dead (polling for an insert in flight
            # missed it on an idle machine, where a batch's insert takes a millisecond or two).
            blocker = psycopg.connect(database_url) if number % 2 == 0 else None
            if blocker is not None:
                blocker.execute("LOCK TABLE scans IN SHARE MODE")  # reads go on; inserts wait
            pushing, pushed = _round_in_thread(pusher.sync)
            if blocker is not None:
                assert _wait_until(lambda: _inserting_scans(database_url), timeout=20), "no insert seen"
            else:
                time.sleep(rnd.uniform(0.0, 0.05))
            server.kill()
            if blocker is not None:
                blocker.close()  # rolled back: the dead server's insert may go on, and finds no client
            for thread in (pulling, pushing):
                thread.join(timeout=60)
            [push_report], [pull_report] = pushed, pulled
            assert push_report.exit_code in (0, 1) and pull_report.exit_code in (0, 1)
            mid_push += push_report.exit_code == 1 and push_report.pushed < queued
            mid_pull += pull_report.exit_code == 1 and _local_tickets(puller) < total
            server.start()
        for gate_home in (pusher, *pullers):
            report = gate_home.sync()
            assert report.ok, report.problem
        elapsed = time.monotonic() - started
        print(
            f"{kills} kills ({mid_push} mid-push, {mid_pull} mid-pull), {server.starts} starts,"
            f" {elapsed:.0f} s"
        )
    # Half the kills wait for the insert, so they land mid-push for sure; the random ones mostly do.
    assert mid_push >= kills // 2 and mid_pull == kills, (mid_push, mid_pull)
    # Every scan on the server exactly once, and every ticket at every gate.
    assert device_scans(database_url, "Gate A") == local_scan_ids(pusher)
    with psycopg.connect(database_url) as conn:
        server_tickets = dict(conn.execute("SELECT serial, code FROM tickets").fetchall())
    for gate_home in (pusher, *pullers):
        with sqlite3.connect(store_path(gate_home.home)) as db:
            assert dict(db.execute("SELECT serial, code FROM tickets")) == server_tickets, gate_home.name
    # The gates learnt Gate A's admissions on the way: its last admission is already used there.
    assert pullers[0].check(codes[kills * 1200 - 1]).verdict is Verdict.ALREADY_USED
