"""Scale-out benchmark: the flash sale on one PostgreSQL served by one process, by one server with
``--workers 2``, by two separate ``ticketgate server`` processes on two ports (the load client spreads
its buyers over both), and optionally by those two through PgBouncer in transaction mode.

Each way gets a fresh database (the servers migrate it themselves, the two processes at once), one hot
event, a warm-up, then buyers until sold out; afterwards the invariants are checked from the database
(no ticket held or sold beyond capacity; capacity = available + held + sold for every event) and from
the API (GET /api/events/{code} adds up). Prints reservations/s, latency, the ratio against one process
measured in the same run, and CPU per reservation.

    .venv/bin/python bench/scale_out.py [--capacity 20000] [--connections 64] [--pgbouncer]
"""

from __future__ import annotations

import argparse
import os
import secrets
import shlex
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from flash_sale import (  # noqa: E402
    ADMIN_TOKEN,
    DEFAULT_BASE_URL,
    _children,
    _cpu_of,
    call,
    free_port,
    oversold,
    run_load,
    wait_ready,
    with_database,
)

from tests.integration.pgbouncer import binary as pgbouncer_binary  # noqa: E402
from tests.integration.pgbouncer import running_pgbouncer  # noqa: E402


@dataclass(frozen=True)
class Topology:
    label: str
    servers: int  # separate `ticketgate server` processes, each on its own port
    workers: int  # `--workers` of each
    through_pgbouncer: bool = False


TOPOLOGIES = [
    Topology("1 process", servers=1, workers=1),
    Topology("1 server, --workers 2", servers=1, workers=2),
    Topology("2 server processes", servers=2, workers=1),
]
VIA_PGBOUNCER = Topology("2 processes via PgBouncer", servers=2, workers=1, through_pgbouncer=True)


def _pids_of(root: int) -> list[int]:
    return [root, *_children(root)]


class Meter:
    """CPU seconds of the servers' processes, the PgBouncer process if any, and the database's backends."""

    def __init__(self, servers: list[int], admin_url: str, database: str, *, pooler: list[int]) -> None:
        self.servers = servers
        self.pooler = pooler
        self.admin_url = admin_url
        self.database = database

    def read(self) -> dict[str, dict[int, float]]:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (self.database,),
            ).fetchall()
        server = [pid for root in self.servers for pid in _pids_of(root)]
        return {
            "server": {p: c for p in server if (c := _cpu_of(p)) is not None},
            "postgres": {p: c for (p,) in rows if (c := _cpu_of(p)) is not None},
            "pgbouncer": {p: c for p in self.pooler if (c := _cpu_of(p)) is not None},
        }

    @staticmethod
    def used(before: dict[str, dict[int, float]], after: dict[str, dict[int, float]]) -> dict[str, float]:
        return {
            kind: sum(cpu - before[kind].get(pid, 0.0) for pid, cpu in after[kind].items())
            for kind in ("server", "postgres", "pgbouncer")
        }


@contextmanager
def database(admin_url: str) -> Iterator[tuple[str, str]]:
    name = f"tg_scale_{secrets.token_hex(4)}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')  # a generated identifier, not user input
    try:
        yield name, with_database(admin_url, name)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def servers(
    database_url: str, topology: Topology, env: dict[str, str]
) -> Iterator[list[tuple[subprocess.Popen[bytes], str]]]:
    """Start the topology's server processes (each migrates the database first); yield each with its
    base URL once every worker of every process listens."""
    ports = [free_port() for _ in range(topology.servers)]
    started: list[subprocess.Popen[bytes]] = []
    try:
        for port in ports:
            command = [
                sys.executable, "-m", "ticketgate", "server", "--database-url", database_url,
                "--host", "127.0.0.1", "--port", str(port), "--workers", str(topology.workers),
                "--no-reaper",
            ]  # fmt: skip
            started.append(subprocess.Popen(command, env=env, cwd=HERE.parent))
        bases = [f"http://127.0.0.1:{port}" for port in ports]
        for base, port, server in zip(bases, ports, started, strict=True):
            wait_ready(base, server, port=port, workers=topology.workers)
        yield list(zip(started, bases, strict=True))
    finally:
        for server in started:
            server.terminate()
        for server in started:
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def api_adds_up(bases: list[str], code: str) -> bool:
    """Every server answers the event's stock with capacity = available + held + sold (+ withdrawn)."""
    for base in bases:
        status, stock = call(base, "GET", f"/api/events/{code}")
        if status != 200:
            return False
        parts = stock["available"] + stock["held"] + stock["sold"] + stock.get("withdrawn", 0)
        if parts != stock["capacity"]:
            return False
    return True


def run_one(topology: Topology, args: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    with ExitStack() as stack:
        name, direct_url = stack.enter_context(database(args.database_url))
        url, server_env, pooler_pids = direct_url, env, []
        if topology.through_pgbouncer:
            url, pooler_pid = stack.enter_context(
                running_pgbouncer(direct_url, pool_size=args.pgbouncer_pool)
            )
            server_env, pooler_pids = {**env, "TICKETGATE_DATABASE_POOLER": "1"}, [pooler_pid]
        started = stack.enter_context(servers(url, topology, server_env))
        bases = [base for _, base in started]
        for code, capacity in (("WARMUP", 2000), ("HOTSALE", args.capacity)):
            status, body = call(
                bases[0], "POST", "/api/events", {"code": code, "name": code, "capacity": capacity}
            )
            if status != 201:
                raise SystemExit(f"could not create event {code}: {status} {body}")
        options = {"connections": args.connections, "time_limit": args.time_limit}
        meter = Meter([server.pid for server, _ in started], args.database_url, name, pooler=pooler_pids)
        run_load(",".join(bases), ["WARMUP"], **options)
        before = meter.read()
        result = run_load(",".join(bases), ["HOTSALE"], **options)
        result["cpu"] = Meter.used(before, meter.read())
        over, broken = oversold(direct_url)
        result["oversold"] = over
        result["sums_ok"] = not broken and all(api_adds_up(bases, code) for code in ("WARMUP", "HOTSALE"))
        return result


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--capacity", type=int, default=20_000, help="tickets of the hot event (default: 20000)"
    )
    parser.add_argument(
        "--connections", type=int, default=64, help="concurrent keep-alive buyers (default: 64)"
    )
    parser.add_argument(
        "--time-limit", type=float, default=60.0, help="seconds per sale at most (default: 60)"
    )
    parser.add_argument(
        "--pgbouncer",
        action="store_true",
        help="also run the two processes through PgBouncer in transaction mode (needs the pgbouncer binary)",
    )
    parser.add_argument(
        "--pgbouncer-pool", type=int, default=8, help="PgBouncer server connections per database (default: 8)"
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("TICKETGATE_TEST_DATABASE_URL", DEFAULT_BASE_URL),
        help="a PostgreSQL database to create each run's own database from",
    )
    args = parser.parse_args()
    where = shlex.quote(str(HERE.parent))
    reproduce = f"cd {where} && .venv/bin/python bench/scale_out.py {shlex.join(sys.argv[1:])}".rstrip()
    topologies = list(TOPOLOGIES)
    if args.pgbouncer:
        if pgbouncer_binary() is None:
            raise SystemExit("--pgbouncer: the pgbouncer binary is not installed (apt-get install pgbouncer)")
        topologies.append(VIA_PGBOUNCER)
    env = {
        **os.environ,
        "TICKETGATE_MASTER_SECRET": secrets.token_hex(32),
        "TICKETGATE_WEBHOOK_SECRET": "whsec_" + secrets.token_hex(16),
        "TICKETGATE_ADMIN_TOKEN": ADMIN_TOKEN,
        # As in flash_sale.py: every connection is its own client; the limiter counts, refuses none.
        "TICKETGATE_TRUST_PROXY": "1",
        "TICKETGATE_CHECKOUT_RATE": "100000/minute",
    }
    results = [(topology, run_one(topology, args, env)) for topology in topologies]
    load = os.getloadavg()

    baseline = results[0][1]["per_second"] or 1.0
    cpus = os.cpu_count() or 1
    print(
        f"flash sale on one PostgreSQL: {args.capacity} tickets of one event, {args.connections} keep-alive "
        f"buyers, quantity 1; {cpus} CPUs shared by servers, PostgreSQL and the load client"
    )
    print(
        f"  {'served by':<27} {'reserved':>9} {'per s':>7} {'x 1 proc':>8} {'p50 ms':>7} {'p99 ms':>7}"
        f" {'CPU us/res: server':>19} {'PG':>5} {'bouncer':>7} {'client':>7}  invariants"
    )
    failed = False
    for topology, result in results:
        ok = max(1, result["ok"])
        server_us = result["cpu"]["server"] / ok * 1e6
        pg_us = result["cpu"]["postgres"] / ok * 1e6
        client_us = result["client_cpu_s"] / ok * 1e6
        bouncer_us = result["cpu"]["pgbouncer"] / ok * 1e6
        good = result["oversold"] == 0 and result["sums_ok"] and result["errors"] == 0
        failed |= not good
        print(
            f"  {topology.label:<27} {result['ok']:>9} {result['per_second']:>7.0f}"
            f" {result['per_second'] / baseline:>8.2f} {result['p50_ms']:>7.1f} {result['p99_ms']:>7.1f}"
            f" {server_us:>19.0f} {pg_us:>5.0f} {bouncer_us:>7.0f} {client_us:>7.0f}"
            f"  {'ok' if good else 'BROKEN'}: oversold {result['oversold']},"
            f" sums {'ok' if result['sums_ok'] else 'BROKEN'}, errors {result['errors']},"
            f" sold out {'yes' if result['all_sold_out'] else 'NO (time limit)'}"
        )
        if result.get("first_error"):
            print(f"    first error: {result['first_error']}")
    print(
        f"  load average after the run (1, 5, 15 min): {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}"
        " (above ~1.5, other work shared these CPUs)"
    )
    print(f"  reproduce: {reproduce}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
