"""Flash-sale benchmark: reservations/s over real HTTP on one hot event vs the same load over 64 events.

Starts ``ticketgate server`` on 127.0.0.1 against a fresh database, creates the events through the API,
then runs ``bench/http_load.py`` (a separate process) until everything is sold out: first one hot
event, then the same capacity spread over 64 events. Prints reservations/s, p50/p99 latency, the
hot/spread ratio and the number of tickets oversold, counted from the orders table (must be 0).

    .venv/bin/python bench/flash_sale.py [--capacity 30000] [--connections 64] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shlex
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import psycopg

HERE = Path(__file__).resolve().parent
DEFAULT_BASE_URL = "postgresql://postgres@127.0.0.1:5432/test"
ADMIN_TOKEN = "bench-admin-token-" + secrets.token_hex(8)
SPREAD_EVENTS = 64


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def with_database(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


def call(base: str, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        base + path,
        data=data,
        method=method,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def listening_sockets(port: int) -> int:
    """How many sockets listen on ``port`` (one per server worker process)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            count += int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A"
    return count


def wait_ready(
    base: str, server: subprocess.Popen[bytes], *, port: int, workers: int, timeout: float = 60
) -> None:
    """Until the API answers and every worker listens (before that, the first takes all connections)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with {server.returncode} before it was ready")
        try:
            status, _ = call(base, "GET", "/api/events/NOSUCHEVENT")
            if status == 404 and listening_sockets(port) >= workers:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit("the server did not become ready in time")


def run_load(base: str, events: list[str], *, connections: int, time_limit: float) -> dict[str, Any]:
    command = [
        sys.executable,
        str(HERE / "http_load.py"),
        "--url",
        base,
        "--events",
        ",".join(events),
        "--connections",
        str(connections),
        "--time-limit",
        str(time_limit),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=time_limit + 60, check=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_of(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime + stime


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == pid:
                found.append(int(entry.name))
    return found


class CpuMeter:
    """CPU seconds used by the server's processes and by the PostgreSQL backends of one database.

    Throughput on a shared 2-core machine swings with whatever else runs; CPU per reservation does
    much less, and says what the same run would reach on two idle cores.
    """

    def __init__(self, server_pid: int, database_url: str, database_name: str) -> None:
        self.server_pid = server_pid
        self.database_url = database_url
        self.database_name = database_name

    def _pids(self) -> tuple[list[int], list[int]]:
        server = [self.server_pid, *_children(self.server_pid)]
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (self.database_name,),
            ).fetchall()
        return server, [pid for (pid,) in rows]

    def read(self) -> dict[str, dict[int, float]]:
        server, backends = self._pids()
        return {
            "server": {p: c for p in server if (c := _cpu_of(p)) is not None},
            "postgres": {p: c for p in backends if (c := _cpu_of(p)) is not None},
        }

    @staticmethod
    def used(before: dict[str, dict[int, float]], after: dict[str, dict[int, float]]) -> dict[str, float]:
        return {
            kind: sum(cpu - before[kind].get(pid, 0.0) for pid, cpu in after[kind].items())
            for kind in ("server", "postgres")
        }


def oversold(database_url: str) -> tuple[int, list[str]]:
    """Tickets held or sold beyond capacity, counted from the orders themselves, and any broken stock sums."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT e.code, e.capacity,"
            " coalesce((SELECT sum(quantity) FROM orders o WHERE o.event_id = e.id"
            "           AND o.status IN ('pending', 'paid')), 0)::bigint,"
            " (SELECT sum(available + held + sold) FROM event_stock s WHERE s.event_id = e.id)::bigint"
            " FROM events e"
        ).fetchall()
    over = sum(max(0, taken - capacity) for _, capacity, taken, _ in rows)
    broken = [code for code, capacity, _, total in rows if total != capacity]
    return over, broken


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--capacity", type=int, default=30_000, help="tickets on sale in each phase")
    parser.add_argument("--connections", type=int, default=64, help="concurrent buyers (keep-alive)")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes")
    parser.add_argument("--time-limit", type=float, default=60.0, help="seconds per phase at most")
    parser.add_argument(
        "--checkout-rate",
        default="100000/minute",
        help="TICKETGATE_CHECKOUT_RATE per client (off: no limiter)",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("TICKETGATE_TEST_DATABASE_URL", DEFAULT_BASE_URL),
        help="a PostgreSQL database to create the benchmark's own database from",
    )
    args = parser.parse_args()
    where = shlex.quote(str(HERE.parent))
    reproduce = f"cd {where} && .venv/bin/python bench/flash_sale.py {shlex.join(sys.argv[1:])}".rstrip()

    name = f"tg_bench_{secrets.token_hex(4)}"
    with psycopg.connect(args.database_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')  # a generated identifier, not user input
    database_url = with_database(args.database_url, name)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "TICKETGATE_MASTER_SECRET": secrets.token_hex(32),
        "TICKETGATE_WEBHOOK_SECRET": "whsec_" + secrets.token_hex(16),
        "TICKETGATE_ADMIN_TOKEN": ADMIN_TOKEN,
        # The limits stay on and do their full work per checkout: each load connection is its own
        # client address (X-Forwarded-For, trusted) and buyer (email); the rate is set above what one
        # connection sends (~60/s), so the limiter counts every checkout but refuses none.
        "TICKETGATE_TRUST_PROXY": "1",
        "TICKETGATE_CHECKOUT_RATE": args.checkout_rate,
    }
    server_command = [
        sys.executable, "-m", "ticketgate", "server", "--database-url", database_url,
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(args.workers), "--no-reaper",
    ]  # fmt: skip
    server = subprocess.Popen(server_command, env=env, cwd=HERE.parent)
    try:
        wait_ready(base, server, port=port, workers=args.workers)
        per_event = max(1, args.capacity // SPREAD_EVENTS)
        spread = [f"SPREAD{i:02d}" for i in range(SPREAD_EVENTS)]
        for code, capacity in [("WARMUP", 2000), ("HOTSALE", args.capacity)] + [
            (c, per_event) for c in spread
        ]:
            status, body = call(
                base, "POST", "/api/events", {"code": code, "name": code, "capacity": capacity}
            )
            if status != 201:
                raise SystemExit(f"could not create event {code}: {status} {body}")
        options = {"connections": args.connections, "time_limit": args.time_limit}
        meter = CpuMeter(server.pid, args.database_url, name)
        run_load(base, ["WARMUP"], **options)
        before = meter.read()
        hot = run_load(base, ["HOTSALE"], **options)
        middle = meter.read()
        spread_result = run_load(base, spread, **options)
        after = meter.read()
        hot["cpu"] = CpuMeter.used(before, middle)
        spread_result["cpu"] = CpuMeter.used(middle, after)
        load_average = os.getloadavg()
        over, broken = oversold(database_url)
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        with psycopg.connect(args.database_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    ratio = hot["per_second"] / spread_result["per_second"] if spread_result["per_second"] else 0.0
    print(
        f"flash sale over HTTP: {args.connections} keep-alive buyers, quantity 1 per order, "
        f"{args.workers} server worker(s), {os.cpu_count()} CPUs shared with PostgreSQL and the client"
    )
    for label, result, capacity in (
        ("hot (1 event)", hot, args.capacity),
        (f"spread ({SPREAD_EVENTS} events)", spread_result, per_event * SPREAD_EVENTS),
    ):
        print(
            f"  {label:<20} {result['ok']:>6}/{capacity} reserved in {result['elapsed_s']:.1f} s:"
            f" {result['per_second']:>7.0f} reservations/s, p50 {result['p50_ms']:.1f} ms,"
            f" p99 {result['p99_ms']:.1f} ms, errors {result['errors']},"
            f" sold out: {'yes' if result['all_sold_out'] else 'NO (time limit)'},"
            f" load generator CPU {result['client_cpu_s']:.1f} s"
        )
        ok = max(1, result["ok"])
        per = {kind: seconds / ok * 1e6 for kind, seconds in result["cpu"].items()}
        client = result["client_cpu_s"] / ok * 1e6
        total = per["server"] + per["postgres"] + client
        cpus = os.cpu_count() or 1
        print(
            f"    CPU per reservation: server {per['server']:.0f} us, PostgreSQL {per['postgres']:.0f} us,"
            f" load generator {client:.0f} us = {total:.0f} us, i.e. at most"
            f" {cpus * 1e6 / total if total else 0:.0f} reservations/s on {cpus} idle CPUs"
        )
        if result.get("first_error"):
            print(f"    first error: {result['first_error']}")
    print(f"  hot/spread ratio     {ratio:.2f}")
    print(
        f"  load average after the run (1, 5, 15 min): {load_average[0]:.1f} {load_average[1]:.1f}"
        f" {load_average[2]:.1f} (above ~1.5, other work shared these 2 CPUs)"
    )
    print(
        f"  oversold             {over} ticket(s){'' if not broken else f'; stock sums broken for {broken}'}"
    )
    print(f"  reproduce: {reproduce}")
    return 0 if over == 0 and not broken else 1


if __name__ == "__main__":
    raise SystemExit(main())
