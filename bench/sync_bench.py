"""Sync benchmark over real HTTP on this machine: a gate's initial pull of 100,000 tickets, an incremental
pull of 1,000 changes, a push of 10,000 scans — each beside a baseline measured in the same run.

Starts ``ticketgate server`` on a fresh database, sells the tickets (written in bulk as payment
confirmation writes them), pairs a gate in a temporary data folder by the real pairing call, then
times the gate's own code (``scanner.sync``: httpx, strict decoding, SQLite with synchronous=FULL):

- initial pull: every page from the empty cursor into the empty store; baselines: the same rows
  through a plain SELECT with psycopg, and the same pages fetched over HTTP and parsed as JSON only;
- incremental pull: 1,000 tickets revoked in one statement, pulled by the next round; baseline: the
  same page over HTTP, JSON only;
- push: 10,000 scans recorded at the gate, uploaded in batches of 1,000; baselines: the same rows
  through COPY into a scratch table, and the same request bodies sent again (the server then stores
  nothing new: HTTP, decoding and the duplicate check alone).

Then the flash sale beside syncing gates: ``ticketgate server --workers 2`` on another fresh database,
``bench/http_load.py`` (64 buyers) sells one hot event out three times — without gates, with 50
simulated gates syncing every 3 s (``bench/gate_load.py``: each pushes scans and pulls changes as a
real gate does), and without again — and the ratio of reservations/s with gates to the mean without
is printed, with the sale's invariant (0 oversold) and the gates' (every scan acknowledged).

    .venv/bin/python bench/sync_bench.py [--tickets 100000] [--changes 1000] [--scans 10000]
        [--sale-capacity 10000] [--gates 50] [--no-sale]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import secrets
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psycopg

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from backend import devices  # noqa: E402
from backend.db import make_pool  # noqa: E402
from bench import flash_sale  # noqa: E402
from bench.flash_sale import DEFAULT_BASE_URL, CpuMeter, free_port, with_database  # noqa: E402
from scanner.gate import Gate  # noqa: E402
from scanner.keystore import KeyStore  # noqa: E402
from scanner.paths import keys_dir, store_path  # noqa: E402
from scanner.store import Store  # noqa: E402
from scanner.sync.client import SyncClient  # noqa: E402
from scanner.sync.pairing import pair_device  # noqa: E402
from scanner.sync.round import RoundClock, pull_changes, push_scans, upload_of  # noqa: E402
from ticketcode import derive_event_key, issue_code, serial_width  # noqa: E402
from ticketcode.sync_protocol import (  # noqa: E402
    AUTH_SCHEME,
    MAX_PUSH_BATCH,
    PULL_PATH,
    PUSH_PATH,
    Pairing,
    PushRequest,
    encode_push_request,
)

T = TypeVar("T")
EVENT = "SYNCBENCH"
ADMIN_TOKEN = "bench-admin-token-" + secrets.token_hex(8)
MASTER_SECRET = secrets.token_hex(32)


@dataclass
class Figure:
    """Wall time, and CPU seconds of this (gate) process, the server's processes and PostgreSQL."""

    wall_s: float
    gate_cpu_s: float
    server_cpu_s: float
    postgres_cpu_s: float

    def cpu(self) -> str:
        return (
            f"CPU gate {self.gate_cpu_s:.2f} s, server {self.server_cpu_s:.2f} s,"
            f" PostgreSQL {self.postgres_cpu_s:.2f} s"
        )


class Meter:
    """Runs a step and measures it: on a shared machine CPU seconds vary far less than wall time."""

    def __init__(self, cpu: CpuMeter) -> None:
        self.cpu = cpu

    def run(self, fn: Callable[[], T]) -> tuple[T, Figure]:
        before, own = self.cpu.read(), time.process_time()
        started = time.perf_counter()
        result = fn()
        wall = time.perf_counter() - started
        used = CpuMeter.used(before, self.cpu.read())
        return result, Figure(wall, time.process_time() - own, used["server"], used["postgres"])


def start_server(database_url: str, *, workers: int = 1) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TICKETGATE_")},
        "TICKETGATE_MASTER_SECRET": MASTER_SECRET,
        "TICKETGATE_WEBHOOK_SECRET": "whsec_" + secrets.token_hex(16),
        "TICKETGATE_ADMIN_TOKEN": ADMIN_TOKEN,
        # As bench/flash_sale.py: the checkout limits stay on, each load connection its own client
        # (X-Forwarded-For, trusted) under a rate above what one connection sends. Without this every
        # buyer was one client address and the rate limit refused nearly every checkout.
        "TICKETGATE_TRUST_PROXY": "1",
        "TICKETGATE_CHECKOUT_RATE": "100000/minute",
    }
    command = [
        sys.executable, "-m", "ticketgate", "server", "--database-url", database_url,
        "--host", "127.0.0.1", "--port", str(port), "--no-reaper", "--workers", str(workers),
    ]  # fmt: skip
    server = subprocess.Popen(command, env=env, cwd=HERE.parent, stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with {server.returncode}")
        try:
            if httpx.get(f"{base}/api/events/NOSUCHEVENT", timeout=2).status_code == 404:
                return server, base
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit("the server did not answer within 60 s")
        time.sleep(0.1)


def sell_in_bulk(database_url: str, count: int, *, event: str = EVENT) -> list[str]:
    """``count`` paid tickets in one order, inserted in one statement as payment confirmation does."""
    with psycopg.connect(database_url) as conn, conn.transaction():
        row = conn.execute(
            "UPDATE events SET next_serial = next_serial + %s WHERE code = %s"
            " RETURNING id, next_serial - %s, capacity, key_version",
            (count, event, count),
        ).fetchone()
        assert row is not None
        event_id, first, capacity, version = row
        shards = conn.execute(
            "SELECT shard, available FROM event_stock WHERE event_id = %s ORDER BY shard FOR UPDATE",
            (event_id,),
        ).fetchall()
        taken, alloc = 0, []
        for shard, available in shards:
            use = min(available, count - taken)
            if use:
                conn.execute(
                    "UPDATE event_stock SET available = available - %s, sold = sold + %s"
                    " WHERE event_id = %s AND shard = %s",
                    (use, use, event_id, shard),
                )
                alloc.append((shard, use))
                taken += use
        order_id = uuid.uuid4()
        conn.execute(
            "INSERT INTO orders (id, event_id, status, quantity, amount_cents, currency, email, expires_at,"
            " paid_at, alloc_shards, alloc_quantities)"
            " VALUES (%s, %s, 'paid', %s, 0, 'EUR', 'bench@example.org', now(), now(), %s, %s)",
            (order_id, event_id, count, [a[0] for a in alloc], [a[1] for a in alloc]),
        )
        key = derive_event_key(MASTER_SECRET.encode(), event, version)
        width = serial_width(capacity)
        serials = list(range(first, first + count))
        codes = [issue_code(key, s, width=width) for s in serials]
        conn.execute(
            "INSERT INTO tickets (order_id, event_id, serial, code)"
            " SELECT %s, %s, s, c FROM unnest(%s::integer[], %s::text[]) AS t(s, c)",
            (order_id, event_id, serials, codes),
        )
    return codes


def add_device(database_url: str, name: str) -> str:
    async def add() -> str:
        async with make_pool(database_url, min_size=1, max_size=1) as pool:
            pairing = await devices.add_device(pool, event_code=EVENT, name=name, valid_seconds=900)
            return pairing.code

    return asyncio.run(add())


def raw_pull(base: str, token: str, cursor: str) -> tuple[int, int, str]:
    """The same pages over HTTP, parsed as JSON only: (pages, bytes, cursor after)."""
    pages = size = 0
    with httpx.Client(headers={"Authorization": f"{AUTH_SCHEME} {token}"}, timeout=60) as client:
        while True:
            response = client.get(f"{base}{PULL_PATH}", params={"cursor": cursor, "limit": 5000})
            response.raise_for_status()
            page = json.loads(response.content)
            pages += 1
            size += len(response.content)
            cursor = page["cursor"]
            if not page["more"]:
                return pages, size, cursor


def select_baseline(database_url: str) -> float:
    """The ticket rows a pull carries, through a plain SELECT (psycopg, all rows to Python)."""
    with psycopg.connect(database_url) as conn:
        started = time.perf_counter()
        rows = conn.execute(
            "SELECT t.serial, t.code, t.status, t.status_changed_at, t.revoked_reason, t.order_id"
            " FROM tickets t JOIN events e ON e.id = t.event_id WHERE e.code = %s ORDER BY t.id",
            (EVENT,),
        ).fetchall()
        elapsed = time.perf_counter() - started
    assert rows
    return elapsed


def copy_baseline(database_url: str, bodies: list[dict[str, Any]]) -> float:
    """The pushed scans through COPY into a scratch table with the same columns (the insert floor)."""
    rows = [
        (
            s["id"],
            s["scanned_at"],
            s["gate"],
            s["direction"],
            s["verdict"],
            s["reason"],
            s["source"],
            s["code"],
        )
        for body in bodies
        for s in body["scans"]
    ]
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "CREATE TEMP TABLE scratch (scan_id bigint, scanned_at timestamptz, gate text, direction text,"
            " verdict text, reason text, source text, code text)"
        )
        started = time.perf_counter()
        with conn.cursor().copy("COPY scratch FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        conn.commit()
        return time.perf_counter() - started


def create_event(base: str, code: str, capacity: int) -> None:
    created = httpx.post(
        f"{base}/api/events",
        json={"code": code, "name": code, "capacity": capacity},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    assert created.status_code == 201, created.text


def sale_beside_gates(admin_url: str, *, capacity: int, gates: int) -> dict[str, Any]:
    """Reservations/s of three sell-outs of a hot event: without gates, with ``gates`` syncing, without."""
    name = f"tg_salebench_{secrets.token_hex(4)}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')  # a generated identifier, not user input
    database_url = with_database(admin_url, name)
    server, base = start_server(database_url, workers=2)
    load: subprocess.Popen[str] | None = None
    try:
        flash_sale.wait_ready(base, server, port=int(base.rsplit(":", 1)[1]), workers=2)
        for code, size in [("WARMUP", 2000), ("GATEEV", 5000)] + [
            (c, capacity) for c in ("SALEA", "SALEB", "SALEC")
        ]:
            create_event(base, code, size)
        sell_in_bulk(database_url, 5000, event="GATEEV")
        options: dict[str, Any] = {"connections": 64, "time_limit": 120.0}
        meter = CpuMeter(server.pid, admin_url, name)
        flash_sale.run_load(base, ["WARMUP"], **options)

        def sale(event: str) -> dict[str, Any]:
            cpu = meter.read()
            result = flash_sale.run_load(base, [event], **options)
            result["cpu"] = CpuMeter.used(cpu, meter.read())
            return result

        before = sale("SALEA")
        load = subprocess.Popen(
            [
                sys.executable,
                str(HERE / "gate_load.py"),
                "--url",
                base,
                "--database-url",
                database_url,
                "--event",
                "GATEEV",
                "--gates",
                str(gates),
                "--interval",
                "3",
                "--duration",
                "600",
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert load.stdout is not None
        paired = json.loads(load.stdout.readline())
        assert paired == {"paired": gates}, paired
        time.sleep(4)  # every gate through its first round (its initial pull of 5,000 tickets)
        during = sale("SALEB")
        load.send_signal(signal.SIGTERM)
        out, _ = load.communicate(timeout=120)
        gates_report = json.loads(out.strip().splitlines()[-1])
        after = sale("SALEC")
        over, broken = flash_sale.oversold(database_url)
    finally:
        if load is not None and load.poll() is None:
            load.kill()
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    baseline = (before["per_second"] + after["per_second"]) / 2
    return {
        "before": before,
        "during": during,
        "after": after,
        "ratio": during["per_second"] / baseline if baseline else 0.0,
        "gates": gates_report,
        "oversold": over,
        "broken": broken,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--changes", type=int, default=1_000)
    parser.add_argument("--scans", type=int, default=10_000)
    parser.add_argument("--sale-capacity", type=int, default=10_000, help="tickets of each sell-out")
    parser.add_argument("--gates", type=int, default=50, help="simulated gates syncing beside the sale")
    parser.add_argument("--no-sale", action="store_true", help="skip the flash sale beside syncing gates")
    parser.add_argument(
        "--database-url", default=os.environ.get("TICKETGATE_TEST_DATABASE_URL", DEFAULT_BASE_URL)
    )
    args = parser.parse_args()
    where = shlex.quote(str(HERE.parent))
    reproduce = f"cd {where} && .venv/bin/python bench/sync_bench.py {shlex.join(sys.argv[1:])}".rstrip()

    name = f"tg_syncbench_{secrets.token_hex(4)}"
    with psycopg.connect(args.database_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')  # a generated identifier, not user input
    database_url = with_database(args.database_url, name)
    server, base = start_server(database_url)
    home = Path(tempfile.mkdtemp(prefix="syncbench-"))
    try:
        created = httpx.post(
            f"{base}/api/events",
            json={"code": EVENT, "name": "Sync bench", "capacity": args.tickets + args.scans},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        )
        assert created.status_code == 201, created.text
        codes = sell_in_bulk(database_url, args.tickets)
        store = Store.open(store_path(home))
        keys = KeyStore(keys_dir(home))
        credentials = pair_device(home, Pairing(add_device(database_url, "Bench Gate"), base), store=store)
        client = SyncClient(base, token=credentials.token)
        clock = RoundClock(store.clock_offset_ms())
        meter = Meter(CpuMeter(server.pid, args.database_url, name))

        # 1. initial pull into the empty store
        (pages, applied), initial = meter.run(
            lambda: pull_changes(store, keys, credentials, client, clock, on_progress=None, limit=5000)
        )
        assert applied.tickets == args.tickets, applied
        cursor_after = store.sync_cursor()
        (_, raw_bytes, _), raw = meter.run(lambda: raw_pull(base, credentials.token, ""))
        select_s = select_baseline(database_url)

        # 2. incremental pull of N changes
        with psycopg.connect(database_url) as conn:
            conn.execute(
                "UPDATE tickets SET status = 'revoked', revoked_reason = 'bench refund',"
                " status_changed_at = now() WHERE code = ANY(%s)",
                (codes[: args.changes],),
            )
        (_, inc), incremental = meter.run(
            lambda: pull_changes(store, keys, credentials, client, clock, on_progress=None, limit=5000)
        )
        assert inc.revoked == args.changes, inc
        _, inc_raw = meter.run(lambda: raw_pull(base, credentials.token, cursor_after))

        # 3. push of N scans, recorded first (without an fsync per scan: not what is measured)
        with Store.open(store_path(home), synchronous="OFF") as fast:
            gate = Gate(store=fast, keys=keys, event=EVENT, gate_name="Bench Gate")
            for code in codes[args.changes : args.changes + args.scans]:
                gate.check(code)
        batches = []
        after = 0
        while chunk := store.unsynced_scans(MAX_PUSH_BATCH, after=after):
            batches.append(encode_push_request(PushRequest(tuple(upload_of(s, 0) for s in chunk))))
            after = chunk[-1].scan_id
        pushed, push = meter.run(lambda: push_scans(store, client, clock))
        assert pushed == args.scans, pushed
        copy_s = copy_baseline(database_url, batches)
        with httpx.Client(
            headers={"Authorization": f"{AUTH_SCHEME} {credentials.token}"}, timeout=60
        ) as http:
            _, repost = meter.run(
                lambda: [http.post(f"{base}{PUSH_PATH}", json=body).raise_for_status() for body in batches]
            )
        client.close()
        store.close()
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        with psycopg.connect(args.database_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    sale = None
    if not args.no_sale:
        sale = sale_beside_gates(args.database_url, capacity=args.sale_capacity, gates=args.gates)
    load = os.getloadavg()

    print(
        f"sync over real HTTP on 127.0.0.1, {dt.date.today()}, {os.cpu_count()} CPUs shared with PostgreSQL"
    )
    print(f"  initial pull, {args.tickets:,} tickets in {pages} pages: {initial.wall_s:.2f} s (aim < 3 s)")
    print(f"    {initial.cpu()}")
    print(
        f"    baselines: the same pages over HTTP, JSON parsed only: {raw.wall_s:.2f} s"
        f" ({raw_bytes / 1e6:.1f} MB; {raw.cpu()}), x{initial.wall_s / raw.wall_s:.2f};"
        f" a plain SELECT of the rows: {select_s:.2f} s, x{initial.wall_s / select_s:.1f}"
    )
    print(
        f"  incremental pull, {args.changes:,} revocations: {incremental.wall_s * 1000:.0f} ms (aim < 200 ms)"
    )
    print(f"    {incremental.cpu()}")
    print(
        f"    baseline: the same page over HTTP, JSON parsed only: {inc_raw.wall_s * 1000:.0f} ms,"
        f" x{incremental.wall_s / inc_raw.wall_s:.2f}"
    )
    print(f"  push, {args.scans:,} scans in {len(batches)} batches: {push.wall_s:.2f} s (aim < 1 s)")
    print(f"    {push.cpu()}")
    print(
        f"    baselines: COPY of the rows {copy_s:.2f} s, x{push.wall_s / copy_s:.0f};"
        f" the same bodies again (all duplicates) {repost.wall_s:.2f} s ({repost.cpu()}),"
        f" x{push.wall_s / repost.wall_s:.2f}"
    )
    ok = True
    if sale is not None:
        print(
            f"  flash sale beside {args.gates} gates syncing every 3 s: 64 buyers, {args.sale_capacity:,}"
            " tickets per sell-out, server --workers 2"
        )
        for label, what in (("before", "no gates"), ("during", f"{args.gates} gates"), ("after", "no gates")):
            run = sale[label]
            cpu_us = sum(run["cpu"].values()) / max(1, run["ok"]) * 1e6
            print(
                f"    {label} ({what}): {run['per_second']:.0f} reservations/s, p50 {run['p50_ms']:.1f} ms,"
                f" p99 {run['p99_ms']:.1f} ms, errors {run['errors']},"
                f" sold out: {'yes' if run['all_sold_out'] else 'NO'};"
                f" server + PostgreSQL CPU {cpu_us:.0f} us per reservation"
            )
        gates = sale["gates"]
        print(
            f"    ratio with / without gates (mean of before and after): {sale['ratio']:.2f} (aim >= 0.8);"
            f" oversold {sale['oversold']}"
        )
        print(
            f"    gates: {gates['rounds']} rounds, {gates['failed_rounds']} failed,"
            f" {gates['scans_acknowledged']} scans acknowledged, {gates['scans_pending']} pending;"
            f" push p99 {gates['push_ms_p99']} ms, pull p99 {gates['pull_ms_p99']} ms"
        )
        ok = sale["oversold"] == 0 and not sale["broken"] and gates["scans_pending"] == 0
    print(f"  load average (1, 5, 15 min): {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    print(f"  reproduce: {reproduce}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
