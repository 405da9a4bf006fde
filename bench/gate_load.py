"""Simulated gates: N paired devices that each push scans and pull changes every few seconds over HTTP.

Each gate speaks the sync protocol as a real one does (``ticketcode.sync_protocol``): it pulls its
event's tickets, scans tickets it knows (entries, exits, now and then a rejection), pushes what it
recorded with its own scan ids and keeps whatever was not acknowledged for the next round, then pulls
from its cursor until no page is ready. At the end every gate runs a last round, so that every scan
it recorded is on the server and it holds every ticket.

A library for tests and ``bench/sync_bench.py`` (``pair_gates`` then ``run_gates``), and a command
that runs beside a server and prints one JSON report line:

    .venv/bin/python bench/gate_load.py --url http://127.0.0.1:8000 --database-url URL \\
        --event CODE [--gates 50] [--interval 3] [--duration 30] [--scans 5] [--details]

It prints {"paired": N} once its gates are paired (start the other load then), and its report when
the duration is over or on SIGTERM / SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import signal
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backend import devices
from backend.db import make_pool
from ticketcode.sync_protocol import (
    PAIR_PATH,
    PULL_PATH,
    PUSH_PATH,
    Direction,
    MovementChange,
    PairRequest,
    PushRequest,
    ScanUpload,
    TicketChange,
    decode_pair_response,
    decode_pull_page,
    decode_push_response,
    encode_pair_request,
    encode_push_request,
)


@dataclass
class SimulatedGate:
    """One paired device and what it holds: tickets, its cursor, scans not yet acknowledged."""

    device_id: str
    name: str
    token: str
    event: str
    cursor: str = ""
    tickets: dict[int, str] = field(default_factory=dict)  # serial -> code, valid ones
    inside: set[int] = field(default_factory=set)  # by this gate's scans and the movements pulled
    next_scan_id: int = 1
    pending: list[ScanUpload] = field(default_factory=list)
    acknowledged: set[int] = field(default_factory=set)
    changes: int = 0

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Device {self.token}"}

    def record(self, rnd: random.Random, count: int) -> None:
        """``count`` scans as a busy gate records them: entries, exits, a rejection now and then.

        A ticket this gate knows to be inside (its own entry, or another gate's pulled) leaves; any
        other enters. So, as at a real venue, two gates let one ticket in only when neither had
        heard of the other's entry yet.
        """
        now = datetime.now(UTC)
        serials = list(self.tickets)
        for _ in range(count):
            scan_id = self.next_scan_id
            self.next_scan_id += 1
            if not serials or rnd.random() < 0.1:
                self.pending.append(
                    ScanUpload(scan_id, now, self.name, "in", "INVALID", "not a ticket code", "camera")
                )
                continue
            serial = rnd.choice(serials)
            direction: Direction = "out" if serial in self.inside else "in"
            if direction == "out":
                self.inside.discard(serial)
            else:
                self.inside.add(serial)
            self.pending.append(
                ScanUpload(
                    id=scan_id,
                    scanned_at=now,
                    gate=self.name,
                    direction=direction,
                    verdict="ADMIT",
                    reason="exit" if direction == "out" else "first entry",
                    source="camera",
                    clock_offset_ms=0,
                    code=self.tickets[serial],
                    event=self.event,
                    serial=serial,
                )
            )


@dataclass
class LoadReport:
    gates: int
    seconds: float
    rounds: int = 0
    failed_rounds: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    push_ms: list[float] = field(default_factory=list)
    pull_ms: list[float] = field(default_factory=list)

    def summary(self, gates: list[SimulatedGate]) -> dict[str, Any]:
        def pct(values: list[float], q: float) -> float | None:
            if not values:
                return None
            return round(statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0], 1)

        return {
            "gates": self.gates,
            "seconds": round(self.seconds, 1),
            "rounds": self.rounds,
            "failed_rounds": self.failed_rounds,
            "errors": dict(self.errors),
            "scans_acknowledged": sum(len(g.acknowledged) for g in gates),
            "scans_pending": sum(len(g.pending) for g in gates),
            "changes_pulled": sum(g.changes for g in gates),
            "push_ms_p50": pct(self.push_ms, 50),
            "push_ms_p99": pct(self.push_ms, 99),
            "pull_ms_p50": pct(self.pull_ms, 50),
            "pull_ms_p99": pct(self.pull_ms, 99),
        }


async def pair_gates(
    base_url: str, database_url: str, event: str, count: int, *, prefix: str = "Load gate"
) -> list[SimulatedGate]:
    """``count`` devices of ``event`` added (as ``ticketgate device add`` does) and paired over HTTP."""
    gates = []
    async with (
        make_pool(database_url, min_size=1, max_size=2) as pool,
        httpx.AsyncClient(base_url=base_url, timeout=30) as client,
    ):
        for n in range(1, count + 1):
            pairing = await devices.add_device(pool, event_code=event, name=f"{prefix} {n}")
            response = await client.post(PAIR_PATH, json=encode_pair_request(PairRequest(code=pairing.code)))
            response.raise_for_status()
            paired = decode_pair_response(response.json())
            gates.append(SimulatedGate(paired.device_id, paired.device_name, paired.token, paired.event.code))
    return gates


class RoundFailed(Exception):
    """The server did not answer a call of the round as the protocol says (kept for the report)."""


async def _call(client: httpx.AsyncClient, report: LoadReport, request: httpx.Request) -> httpx.Response:
    try:
        response = await client.send(request)
    except httpx.HTTPError as exc:
        report.errors[type(exc).__name__] += 1
        raise RoundFailed from exc
    if response.status_code != 200:
        report.errors[str(response.status_code)] += 1
        raise RoundFailed(response.text)
    return response


async def sync_round(
    gate: SimulatedGate, client: httpx.AsyncClient, report: LoadReport, *, batch: int = 1000
) -> None:
    """Push every pending scan (in batches), then pull until no page is ready. RoundFailed on any error."""
    while gate.pending:
        scans = gate.pending[:batch]
        started = time.perf_counter()
        body = encode_push_request(PushRequest(scans=tuple(scans)))
        response = await _call(
            client, report, client.build_request("POST", PUSH_PATH, json=body, headers=gate.headers)
        )
        report.push_ms.append((time.perf_counter() - started) * 1000)
        stored = set(decode_push_response(response.json()).acknowledged)
        gate.acknowledged |= stored
        gate.pending = [s for s in gate.pending if s.id not in stored]
        if not stored & {s.id for s in scans}:
            raise RoundFailed("nothing of the batch was acknowledged")
    more = True
    while more:
        started = time.perf_counter()
        request = client.build_request("GET", PULL_PATH, params={"cursor": gate.cursor}, headers=gate.headers)
        page = decode_pull_page((await _call(client, report, request)).json())
        report.pull_ms.append((time.perf_counter() - started) * 1000)
        for change in page.changes:
            if isinstance(change, TicketChange):
                if change.status == "valid":
                    gate.tickets[change.serial] = change.code
                else:
                    gate.tickets.pop(change.serial, None)
            elif isinstance(change, MovementChange):
                if change.direction == "in":
                    gate.inside.add(change.serial)
                else:
                    gate.inside.discard(change.serial)
        gate.changes += len(page.changes)
        gate.cursor = page.cursor
        more = page.more


async def run_gates(
    base_url: str,
    gates: list[SimulatedGate],
    *,
    duration: float,
    interval: float = 3.0,
    scans_per_round: int = 20,
    seed: int = 8,
    stop: asyncio.Event | None = None,
) -> LoadReport:
    """Every gate syncs about every ``interval`` seconds for ``duration`` seconds (or until ``stop``),
    recording ``scans_per_round`` scans before each round; then a last round each, retried until it
    succeeds (at most 10 times), so every recorded scan is acknowledged and every ticket held."""
    report = LoadReport(gates=len(gates), seconds=0.0)
    stop = stop or asyncio.Event()
    started = time.monotonic()
    deadline = started + duration

    async def one(gate: SimulatedGate, client: httpx.AsyncClient, rnd: random.Random) -> None:
        await asyncio.sleep(rnd.uniform(0, interval))  # gates do not all start at once
        while time.monotonic() < deadline and not stop.is_set():
            gate.record(rnd, scans_per_round)
            try:
                await sync_round(gate, client, report)
                report.rounds += 1
            except RoundFailed:
                report.failed_rounds += 1
            pause = interval * rnd.uniform(0.5, 1.5)
            try:
                await asyncio.wait_for(stop.wait(), timeout=pause)
            except TimeoutError:
                pass
        for attempt in range(10):
            try:
                await sync_round(gate, client, report)
                report.rounds += 1
                return
            except RoundFailed:
                report.failed_rounds += 1
                await asyncio.sleep(0.2 * (attempt + 1))

    # One client (an SSL context each costs ~50 ms of CPU), a keep-alive connection per gate. Idle
    # connections are dropped before the server's keep-alive (uvicorn: 5 s) would close them under a
    # request in flight.
    limits = httpx.Limits(
        max_connections=len(gates) + 4, max_keepalive_connections=len(gates) + 4, keepalive_expiry=2.0
    )
    async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) as client:
        await asyncio.gather(
            *(one(gate, client, random.Random(seed * 1000 + n)) for n, gate in enumerate(gates))
        )
    report.seconds = time.monotonic() - started
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="the server, e.g. http://127.0.0.1:8000")
    parser.add_argument("--database-url", required=True, help="its database (to add the devices)")
    parser.add_argument("--event", required=True, help="the event the gates check tickets of")
    parser.add_argument("--gates", type=int, default=50)
    parser.add_argument("--interval", type=float, default=3.0, help="seconds between a gate's rounds")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of load")
    parser.add_argument("--scans", type=int, default=5, help="scans recorded per gate and round")
    parser.add_argument(
        "--details", action="store_true", help="add each gate's scan ids and tickets to the report"
    )
    args = parser.parse_args()

    async def go() -> dict[str, Any]:
        prefix = f"Load {random.randrange(16**4):04x}"  # several runs against one database
        gates = await pair_gates(args.url, args.database_url, args.event, args.gates, prefix=prefix)
        print(json.dumps({"paired": len(gates)}), flush=True)
        stop = asyncio.Event()
        # SIGTERM or SIGINT end the load early: each gate then runs its last round and the report follows.
        for signum in (signal.SIGTERM, signal.SIGINT):
            asyncio.get_running_loop().add_signal_handler(signum, stop.set)
        report = await run_gates(
            args.url,
            gates,
            duration=args.duration,
            interval=args.interval,
            scans_per_round=args.scans,
            stop=stop,
        )
        summary = report.summary(gates)
        if args.details:
            summary["details"] = [
                {
                    "device_id": g.device_id,
                    "name": g.name,
                    "recorded": g.next_scan_id - 1,
                    "acknowledged": sorted(g.acknowledged),
                    "pending": len(g.pending),
                    "tickets": sorted(g.tickets),
                }
                for g in gates
            ]
        return summary

    print(json.dumps(asyncio.run(go())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
