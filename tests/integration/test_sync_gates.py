"""Gates and backend in sync, end to end: a real server on real PostgreSQL, two or more real gate
stores (data folders in tmp_path), pairing, rounds and verdicts as the gates run them."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from scanner.errors import DeviceRevoked, DeviceUnauthorized, PairingRefused, ScanIdsReused
from scanner.gate import Gate
from scanner.keystore import KeyStore
from scanner.paths import keys_dir, store_path
from scanner.store import Store
from scanner.sync.credentials import save_credentials
from scanner.sync.pairing import pair_device
from scanner.verdicts import Direction, Verdict
from tests.integration.gatekit_sync import (
    ROOT,
    GateHome,
    new_event,
    pair_gate,
    revoke_on_server,
    shared_backend,
)
from tests.integration.live_server import ADMIN_TOKEN, MASTER_SECRET
from tests.integration.synckit import add_device, sell
from ticketcode import derive_event_key
from ticketcode.sync_protocol import Pairing


@pytest.fixture(scope="module")
def backend(template_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    with shared_backend(template_database, tmp_path_factory.mktemp("backend")) as started:
        yield started


@pytest.fixture
def server(backend: tuple[str, str]) -> str:
    return backend[0]


@pytest.fixture
def database_url(backend: tuple[str, str]) -> str:
    """The module's database (each test works in an event of its own)."""
    return backend[1]


@pytest.fixture
def event(server: str) -> str:
    return new_event(server)


def server_scans(database_url: str, event: str, serial: int) -> list[tuple[str, int, str, str]]:
    """(device name, gate scan id, verdict, direction) of every scan of a ticket the server holds."""
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            "SELECT d.name, s.scan_id, s.verdict, s.direction FROM scans s"
            " JOIN devices d ON d.id = s.device_id JOIN events e ON e.id = s.event_id"
            " WHERE e.code = %s AND s.serial = %s ORDER BY d.name, s.scan_id",
            (event, serial),
        ).fetchall()


def set_device(database_url: str, event: str, name: str, assignment: str) -> None:
    """``UPDATE devices SET <assignment>`` for one device (the assignment is a literal of the test)."""
    with psycopg.connect(database_url) as conn:
        updated = conn.execute(
            sql.SQL(
                "UPDATE devices SET {} WHERE name = %s AND event_id = (SELECT id FROM events WHERE code = %s)"
            ).format(sql.SQL(assignment)),
            (name, event),
        ).rowcount
    assert updated == 1


def test_gate_a_admits_both_sync_and_gate_b_says_already_used_naming_gate_a_and_the_time(
    server: str, database_url: str, event: str, tmp_path: Path
) -> None:
    [ticket] = sell(server, event)
    gate_a = pair_gate(tmp_path, server, database_url, event, "Gate A")
    gate_b = pair_gate(tmp_path, server, database_url, event, "Gate B")
    admitted = gate_a.check(ticket)
    assert admitted.verdict is Verdict.ADMIT
    assert gate_a.sync().pushed == 1
    report = gate_b.sync()
    assert report.ok and report.pulled.movements == 1
    again = gate_b.check(ticket, clock=admitted.scanned_at + timedelta(minutes=5))
    assert again.verdict is Verdict.ALREADY_USED and again.first_admitted_gate == "Gate A"
    # The time is Gate A's, corrected to the server clock and back to Gate B's (same machine: equal).
    assert abs(again.first_admitted_at - admitted.scanned_at) < timedelta(seconds=2)
    local = admitted.scanned_at.astimezone().strftime("%H:%M")
    assert again.reason == f"already used {local} at Gate A"
    # An exit at Gate B reaches Gate A: the ticket may come back in there.
    assert gate_b.check(ticket, direction=Direction.OUT).admitted
    gate_b.sync()
    gate_a.sync()
    back = gate_a.check(ticket, clock=datetime.now(UTC) + timedelta(minutes=1))
    assert back.verdict is Verdict.ADMIT and "re-entry" in back.reason and "Gate B" in back.reason


def test_two_gates_admitting_the_same_ticket_offline_keep_both_scans_and_both_show_one_conflict(
    server: str, database_url: str, event: str, tmp_path: Path
) -> None:
    [ticket] = sell(server, event)
    gate_a = pair_gate(tmp_path, server, database_url, event, "Gate A")
    gate_b = pair_gate(tmp_path, server, database_url, event, "Gate B")
    serial = int(ticket.split("-")[1])
    # Both offline: each admits the ticket (the signature is the proof).
    assert gate_a.check(ticket).verdict is Verdict.ADMIT
    assert gate_b.check(ticket).verdict is Verdict.ADMIT
    for gate in (gate_a, gate_b, gate_a):
        assert gate.sync().ok
    assert [(name, verdict) for name, _, verdict, _ in server_scans(database_url, event, serial)] == [
        ("Gate A", "ADMIT"),
        ("Gate B", "ADMIT"),
    ]
    with psycopg.connect(database_url) as conn:
        flagged = conn.execute(
            "SELECT count(*) FROM conflicts c JOIN events e ON e.id = c.event_id"
            " WHERE e.code = %s AND c.serial = %s",
            (event, serial),
        ).fetchone()
    assert flagged == (1,)
    for gate in (gate_a, gate_b):
        with gate.store() as store:
            [conflict] = store.conflicts(event)
            assert conflict.serial == serial and set(conflict.gates) == {"Gate A", "Gate B"}
            assert store.sync_state(event).conflicts == 1
    # The next scan at either gate names the first admission and that it is inside twice.
    reason = gate_b.check(ticket).reason
    assert reason.startswith("already used") and "inside again since" in reason


def test_a_ticket_sold_after_the_last_sync_admits_offline_and_a_revocation_reaches_the_gate(
    server: str, database_url: str, event: str, tmp_path: Path
) -> None:
    first, refunded = sell(server, event, 2)
    gate_b = pair_gate(tmp_path, server, database_url, event, "Gate B")
    [late] = sell(server, event)  # sold after Gate B's last sync
    assert gate_b.check(late).verdict is Verdict.ADMIT
    revoke_on_server(database_url, refunded, reason="order refunded")
    report = gate_b.sync()
    assert report.ok and report.pulled.revoked == 1
    result = gate_b.check(refunded)
    assert (result.verdict, result.reason) == (Verdict.REVOKED, "revoked: order refunded")
    assert gate_b.check(first).verdict is Verdict.ADMIT
    with gate_b.store() as store:
        [known] = store.find_tickets(f"{event}-{int(late.split('-')[1])}")
        assert known.code == late and not known.revoked  # the late sale arrived with this round too


def test_a_revoked_device_is_told_so_and_served_nothing(
    server: str, database_url: str, event: str, tmp_path: Path
) -> None:
    gate = pair_gate(tmp_path, server, database_url, event, "Gate C")
    set_device(database_url, event, "Gate C", "revoked_at = now()")
    [after] = sell(server, event)
    gate.check(after)
    report = gate.sync()
    assert report.exit_code == 2 and report.link == "refused"
    assert all(isinstance(e, DeviceRevoked) for e in report.errors) and len(report.errors) == 2
    assert "this device was revoked" in (report.problem or "")
    with gate.store() as store:
        assert store.find_tickets(after) == []  # no data served
        assert store.pending_upload_count() == 1  # and nothing lost: the scan stays queued
        assert store.sync_state(event).link == "refused"


def test_an_expired_or_reused_pairing_code_is_refused_clearly(
    server: str, database_url: str, event: str, tmp_path: Path
) -> None:
    code = add_device(database_url, event, "Gate D")
    with Store.open(tmp_path / "d" / "var" / "gate.sqlite3") as store:
        pair_device(tmp_path / "d", Pairing(code, server), store=store)
    with Store.open(tmp_path / "e" / "var" / "gate.sqlite3") as store:
        with pytest.raises(PairingRefused, match="unknown, expired or already used"):
            pair_device(tmp_path / "e", Pairing(code, server), store=store)
        expired = add_device(database_url, event, "Gate E")
        set_device(database_url, event, "Gate E", "pairing_expires_at = now() - interval '1 second'")
        with pytest.raises(PairingRefused):
            pair_device(tmp_path / "e", Pairing(expired, server), store=store)
    assert not (tmp_path / "e" / "var" / "device.json").exists()


def test_a_device_sees_only_its_own_event(server: str, database_url: str, event: str, tmp_path: Path) -> None:
    other = new_event(server, capacity=20)
    [mine] = sell(server, event)
    [theirs] = sell(server, other)
    other_gate = pair_gate(tmp_path, server, database_url, other, "Other Gate")
    other_gate.check(theirs)
    other_gate.sync()
    gate = pair_gate(tmp_path, server, database_url, event, "Gate A")
    with gate.store() as store:
        assert store.find_tickets(theirs) == [] and len(store.find_tickets(mine)) == 1
        assert store.remote_movements(other, int(theirs.split("-")[1])) == []
    assert KeyStore(keys_dir(gate.home)).events() == [event]
    # Its codes are another event's at this gate, whatever the other gate did.
    assert gate.check(theirs).verdict is Verdict.WRONG_EVENT


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ticketgate", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_whole_flow_on_the_command_line_device_add_pair_scan_sync_already_used(
    server: str, database_url: str, event: str, tmp_path: Path
) -> None:
    """The README's tour: ``device add`` -> ``pair`` -> scan at two gates -> ``sync`` -> ALREADY_USED."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TICKETGATE_")}
    env.update(TICKETGATE_DATABASE_URL=database_url, TICKETGATE_ADMIN_TOKEN=ADMIN_TOKEN)
    env["TICKETGATE_MASTER_SECRET"] = MASTER_SECRET.decode()
    [ticket] = sell(server, event)
    homes = {}
    for name in ("Gate A", "Gate B"):
        added = _cli(
            "device", "add", "--event", event, "--name", name, "--server-url", server, "--json", env=env
        )
        assert added.returncode == 0, added.stderr
        pairing = json.loads(added.stdout)["pairing"]
        homes[name] = str(tmp_path / name.replace(" ", ""))
        paired = _cli("pair", pairing, "--home", homes[name], env=env)
        assert paired.returncode == 0, paired.stderr
        assert f"paired as {name!r} for {event}" in paired.stdout
        # Counted as the feed's ticket changes (a reissued ticket is one more), not as distinct tickets.
        assert "pulled 1 ticket change(s) (0 revocation(s)), 0 movement(s)" in paired.stdout, paired.stdout
    first = _cli("verify", ticket, "--home", homes["Gate A"], env=env)
    assert first.returncode == 0 and first.stdout.startswith("ADMIT"), first.stdout + first.stderr
    for name in ("Gate A", "Gate B"):
        synced = _cli("sync", "--json", "--home", homes[name], env=env)
        assert synced.returncode == 0, synced.stderr
        assert json.loads(synced.stdout)["ok"] is True
    second = _cli("verify", ticket, "--home", homes["Gate B"], env=env)
    assert second.returncode == 1 and second.stdout.startswith("ALREADY_USED"), second.stdout
    assert second.stdout.rstrip().endswith("at Gate A")
    # A second pairing with the same code, and a revoked device, are one clear line each, exit 2.
    again = _cli("pair", pairing, "--home", str(tmp_path / "again"), env=env)
    assert again.returncode == 2 and "already used" in again.stderr and "Traceback" not in again.stderr
    revoked = _cli("device", "revoke", "Gate B", "--event", event, env=env)
    assert revoked.returncode == 0, revoked.stderr
    refused = _cli("sync", "--home", homes["Gate B"], env=env)
    assert refused.returncode == 2 and "this device was revoked" in refused.stderr
    assert "Traceback" not in refused.stderr
    with Store.open(store_path(Path(homes["Gate A"]))) as store:
        gate = Gate(store=store, keys=KeyStore(keys_dir(Path(homes["Gate A"]))), event=event, gate_name="x")
        assert gate.check(ticket).verdict is Verdict.ALREADY_USED


def test_a_token_the_server_does_not_know_is_refused_clearly_and_nothing_is_served(
    server: str, database_url: str, event: str, tmp_path: Path
) -> None:
    gate = pair_gate(tmp_path, server, database_url, event, "Gate A")
    save_credentials(gate.home, replace(gate.credentials, token="x" * 43))
    [later] = sell(server, event)
    report = gate.sync()
    assert report.exit_code == 2 and report.link == "refused"
    assert all(isinstance(e, DeviceUnauthorized) for e in report.errors)
    assert "does not know this device" in (report.problem or "")
    with gate.store() as store:
        assert store.find_tickets(later) == []


def test_a_cursor_the_server_cannot_read_restarts_the_pull_from_the_beginning(
    server: str, database_url: str, event: str, tmp_path: Path
) -> None:
    tickets = sell(server, event, 3)
    gate = pair_gate(tmp_path, server, database_url, event, "Gate A")
    with gate.store() as store:
        store.apply_pulled(event, [], cursor="not-a-cursor-of-this-server", clock_offset_ms=0)
    report = gate.sync()
    assert report.ok, report.problem
    assert report.pulled.tickets >= 3  # everything again, harmlessly
    with gate.store() as store:
        assert store.sync_cursor() != "not-a-cursor-of-this-server"
        assert all(store.find_tickets(code) for code in tickets)


def test_a_gate_holding_another_servers_key_for_the_event_is_told_what_to_do(
    server: str, database_url: str, event: str, tmp_path: Path
) -> None:
    home = tmp_path / "gate"
    KeyStore(keys_dir(home)).add(derive_event_key(b"another backend's master secret!", event))
    code = add_device(database_url, event, "Gate A")
    with Store.open(store_path(home)) as store:
        pair_device(home, Pairing(code, server), store=store)
    report = GateHome(home, "Gate A").sync()
    assert report.exit_code == 2
    assert f"different key for {event} v1" in (report.problem or "") and "--home" in (report.problem or "")
    # The key held was not replaced: tickets it signed still verify here.
    [held] = KeyStore(keys_dir(home)).keys_for(event)
    assert held.key == derive_event_key(b"another backend's master secret!", event).key


def test_a_store_restored_from_a_backup_is_told_to_pair_again_and_loses_no_scan(
    server: str, database_url: str, event: str, tmp_path: Path
) -> None:
    first, second = sell(server, event, 2)
    gate = pair_gate(tmp_path, server, database_url, event, "Gate R")
    backup = tmp_path / "backup.sqlite3"
    with sqlite3.connect(store_path(gate.home)) as live, sqlite3.connect(backup) as copy:
        live.backup(copy)
    assert gate.check(first).verdict is Verdict.ADMIT
    assert gate.sync().pushed == 1
    # The laptop's disk is restored from last night's backup: the store numbers its scans from the
    # same id again, while its pairing (var/device.json) stays.
    with sqlite3.connect(backup) as copy, sqlite3.connect(store_path(gate.home)) as live:
        copy.backup(live)
    assert gate.check(second).verdict is Verdict.ADMIT
    report = gate.sync()
    assert report.exit_code == 2 and any(isinstance(e, ScanIdsReused) for e in report.errors)
    assert "pair the gate again" in (report.problem or "")
    with gate.store() as store:
        assert store.pending_upload_count() == 1  # kept, not marked uploaded
    device = gate.credentials.device_id
    with psycopg.connect(database_url) as conn:
        held = conn.execute("SELECT code FROM scans WHERE device_id = %s", (device,)).fetchall()
    assert held == [(first,)]
    # Paired again (a new device), the held scan goes up; nothing of the first device is replaced.
    with Store.open(store_path(gate.home)) as store:
        pair_device(gate.home, Pairing(add_device(database_url, event, "Gate R2"), server), store=store)
    assert gate.sync().pushed == 1
    with psycopg.connect(database_url) as conn:
        codes = conn.execute("SELECT code FROM scans WHERE device_id IN (%s, %s) ORDER BY id",
                             (device, gate.credentials.device_id)).fetchall()  # fmt: skip
    assert codes == [(first,), (second,)]
