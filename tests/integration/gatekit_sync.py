"""Real gates for the end-to-end sync tests: a data folder per gate (its own SQLite store and key
folder in tmp_path), paired with the real server through the real pairing call, synced by the real
round; plus a server in its own process (to be killed) and bulk ticket sales written as the backend
writes them.

The server side (events, sales through the API, devices) comes from ``tests.integration.synckit``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx
import psycopg
from psycopg import sql

from scanner.gate import Gate
from scanner.keystore import KeyStore
from scanner.paths import keys_dir, store_path
from scanner.store import Store
from scanner.sync.client import SyncClient
from scanner.sync.credentials import DeviceCredentials, load_credentials
from scanner.sync.pairing import pair_device
from scanner.sync.round import RoundReport, run_round
from scanner.verdicts import Direction, ScanResult
from tests.integration.conftest import ADMIN_URL, url_for_database
from tests.integration.live_server import live_server, settings_for
from tests.integration.synckit import add_device, create_event
from ticketcode import derive_event_key, issue_code, serial_width
from ticketcode.sync_protocol import DEFAULT_PULL_LIMIT, Pairing

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class GateHome:
    """One gate laptop: its data folder and the name it was paired as."""

    home: Path
    name: str

    @property
    def credentials(self) -> DeviceCredentials:
        return load_credentials(self.home)

    def sync(
        self, *, server_url: str | None = None, pull_limit: int = DEFAULT_PULL_LIMIT, **client_options: float
    ) -> RoundReport:
        """One round (``server_url`` reaches the same server another way, e.g. through a proxy)."""
        credentials = self.credentials
        with (
            Store.open(store_path(self.home)) as store,
            SyncClient(
                server_url or credentials.server_url, token=credentials.token, **client_options
            ) as client,
        ):
            return run_round(
                store=store,
                keys=KeyStore(keys_dir(self.home)),
                credentials=credentials,
                client=client,
                pull_limit=pull_limit,
            )

    def check(
        self,
        code: str,
        *,
        direction: Direction = Direction.IN,
        clock: datetime | None = None,
        source: str = "camera",
    ) -> ScanResult:
        with Store.open(store_path(self.home)) as store:
            gate = Gate(
                store=store,
                keys=KeyStore(keys_dir(self.home)),
                event=self.credentials.event,
                gate_name=self.name,
                clock=(lambda: clock) if clock else None,
            )
            return gate.check(code, direction=direction, source=source)

    def store(self) -> Store:
        return Store.open(store_path(self.home))


def pair_gate(
    tmp_path: Path, base_url: str, database_url: str, event: str, name: str, *, first_sync: bool = True
) -> GateHome:
    """A fresh data folder, paired as ``name`` of ``event`` by the real pairing call, synced once."""
    home = tmp_path / name.lower().replace(" ", "-")
    code = add_device(database_url, event, name)
    with Store.open(store_path(home)) as store:
        pair_device(home, Pairing(code, base_url), store=store)
    gate = GateHome(home, name)
    if first_sync:
        report = gate.sync()
        assert report.ok, report.problem
    return gate


def seed_paid_tickets(database_url: str, event: str, count: int, *, master_secret: bytes) -> list[str]:
    """``count`` paid tickets of ``event`` in one order, written as payment confirmation writes them
    (one INSERT statement into tickets, so the feed trigger sees them as the backend's), but without
    paying through the API ``count / 10`` times. Stock moves to sold, so the invariants hold."""
    with psycopg.connect(database_url) as conn, conn.transaction():
        row = conn.execute(
            "UPDATE events SET next_serial = next_serial + %s WHERE code = %s"
            " RETURNING id, next_serial - %s, capacity, key_version",
            (count, event, count),
        ).fetchone()
        assert row is not None, f"no event {event}"
        event_id, first, capacity, key_version = row
        alloc_shards, alloc_quantities, taken = [], [], 0
        for shard, available in conn.execute(
            "SELECT shard, available FROM event_stock WHERE event_id = %s ORDER BY shard FOR UPDATE",
            (event_id,),
        ).fetchall():
            use = min(available, count - taken)
            if use:
                conn.execute(
                    "UPDATE event_stock SET available = available - %s, sold = sold + %s"
                    " WHERE event_id = %s AND shard = %s",
                    (use, use, event_id, shard),
                )
                alloc_shards.append(shard)
                alloc_quantities.append(use)
                taken += use
        assert taken == count, f"event {event} has only {taken} tickets left"
        order_id = uuid.uuid4()
        conn.execute(
            "INSERT INTO orders (id, event_id, status, quantity, amount_cents, currency, email, expires_at,"
            " paid_at, alloc_shards, alloc_quantities) VALUES (%s, %s, 'paid', %s, 0, 'EUR',"
            " 'bulk@example.org', now(), now(), %s, %s)",
            (order_id, event_id, count, alloc_shards, alloc_quantities),
        )
        conn.execute(
            "INSERT INTO audit_log (order_id, event_id, from_status, to_status, actor)"
            " VALUES (%s, %s, NULL, 'pending', 'test'), (%s, %s, 'pending', 'paid', 'test')",
            (order_id, event_id, order_id, event_id),
        )
        key = derive_event_key(master_secret, event, key_version)
        width = serial_width(capacity)
        serials = list(range(first, first + count))
        codes = [issue_code(key, s, width=width) for s in serials]
        conn.execute(
            "INSERT INTO tickets (order_id, event_id, serial, code)"
            " SELECT %s, %s, serial, code FROM unnest(%s::integer[], %s::text[]) AS t(serial, code)",
            (order_id, event_id, serials, codes),
        )
    return codes


def revoke_on_server(database_url: str, code: str, *, reason: str = "order refunded") -> None:
    """What a refund will do (not built yet): the ticket's status set directly."""
    with psycopg.connect(database_url) as conn:
        updated = conn.execute(
            "UPDATE tickets SET status = 'revoked', revoked_reason = %s, status_changed_at = now()"
            " WHERE code = %s",
            (reason, code),
        ).rowcount
    assert updated == 1


# -- a server in its own process --------------------------------------------------------------

SERVER_SECRETS = {
    "TICKETGATE_MASTER_SECRET": "sync-e2e-master-secret-0123456789abcdef",
    "TICKETGATE_WEBHOOK_SECRET": "whsec_test_0123456789abcdef",
    "TICKETGATE_ADMIN_TOKEN": "test-admin-token-0123456789",
}


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TICKETGATE_")}
    env.update(SERVER_SECRETS)
    return env


class ServerProcess:
    """``ticketgate server`` on a fixed port, started, killed (SIGKILL) and started again."""

    def __init__(self, database_url: str, port: int) -> None:
        self.database_url = database_url
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self, *, timeout: float = 60) -> None:
        command = [
            sys.executable, "-m", "ticketgate", "server", "--database-url", self.database_url,
            "--host", "127.0.0.1", "--port", str(self.port), "--no-reaper",
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command, env=_env(), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self.starts += 1
        deadline = time.monotonic() + timeout
        while True:
            assert self.process.poll() is None, f"the server exited with {self.process.returncode}"
            try:
                if httpx.get(f"{self.url}/api/events/NOSUCHEVENT", timeout=2).status_code == 404:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not answer in time"
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: no shutdown handler runs, open transactions die with the connections."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


@contextmanager
def server_process(database_url: str, port: int) -> Iterator[ServerProcess]:
    server = ServerProcess(database_url, port)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def shared_backend(template_database: str, data_dir: Path) -> Iterator[tuple[str, str]]:
    """A migrated database and a live server on it, for a whole test module (each test then works in
    an event of its own, see ``new_event``): starting them costs seconds a test on a loaded machine."""
    name = f"tg_sync_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template_database)
            )
        )
    database_url = url_for_database(name)
    try:
        with live_server(settings_for(database_url, data_dir)) as url:
            yield url, database_url
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def new_event(server_url: str, *, capacity: int = 500, signing: str = "hmac") -> str:
    """An event of this test's own on a shared server."""
    code = "E" + uuid.uuid4().hex[:9].upper()
    create_event(server_url, code, capacity=capacity, signing=signing)
    return code
