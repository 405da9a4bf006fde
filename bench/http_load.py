"""A lean HTTP/1.1 load generator for the flash-sale benchmark: keep-alive connections buying until sold out.

Run by ``bench/flash_sale.py`` in its own process so that its CPU use is visible and apart from the
server's. Raw asyncio protocols on uvloop rather than an HTTP client library: a request costs a few
microseconds here, so the generator does not eat the CPU the server needs. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import random
import resource
import time
from urllib.parse import urlsplit

import uvloop


class Connection(asyncio.Protocol):
    """One keep-alive connection; ``request`` sends a prebuilt request and returns (status, body)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("connection closed by the server"))

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0 or self.waiter is None:
            return
        head = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
        length = 0
        for line in head[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        if len(self.buffer) < end + 4 + length:
            return
        body = bytes(self.buffer[end + 4 : end + 4 + length])
        del self.buffer[: end + 4 + length]
        status = int(head[0].split(" ", 2)[1])
        waiter, self.waiter = self.waiter, None
        if not waiter.done():
            waiter.set_result((status, body))

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(raw)
        return await self.waiter


def order_request(host: str, event: str, n: int, client: str) -> bytes:
    # Every order is a new buyer's (the hold limit counts pending tickets per email) and each
    # connection says it is its own client behind the proxy (the rate limit counts per address).
    body = json.dumps({"quantity": 1, "email": f"buyer{n}@example.com"}).encode()
    return (
        f"POST /api/events/{event}/orders HTTP/1.1\r\nHost: {host}\r\nX-Forwarded-For: {client}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


async def buyer(
    index: int,
    host: str,
    port: int,
    events: list[str],
    sold_out: set[str],
    stats: dict[str, object],
    deadline: float,
) -> None:
    loop = asyncio.get_running_loop()
    _, conn = await loop.create_connection(Connection, host, port)
    client = f"198.18.{index // 250}.{index % 250 + 1}"  # RFC 2544 benchmark addresses, never routed
    serial = itertools.count(index * 10_000_000)
    latencies: list[float] = stats["latencies"]  # type: ignore[assignment]
    try:
        while time.monotonic() < deadline:
            open_events = [e for e in events if e not in sold_out]
            if not open_events:
                return
            event = open_events[0] if len(open_events) == 1 else random.choice(open_events)
            started = time.perf_counter()
            status, body = await conn.request(order_request(host, event, next(serial), client))
            finished = time.perf_counter()
            if status == 201:
                latencies.append(finished - started)
                stats["ok"] += 1  # type: ignore[operator]
                stats["last_ok"] = finished
            elif status == 409 and b"sold_out" in body:
                sold_out.add(event)
                stats["sold_out"] += 1  # type: ignore[operator]
            else:
                stats["errors"] += 1  # type: ignore[operator]
                stats.setdefault("first_error", f"{status} {body[:200]!r}")
    finally:
        if conn.transport is not None:
            conn.transport.close()


async def main_async(args: argparse.Namespace) -> dict[str, object]:
    # Several servers: connection i goes to server i mod n, so the load is spread evenly over them.
    servers = [urlsplit(url) for url in args.url.split(",")]
    targets = [(url.hostname or "127.0.0.1", url.port or 80) for url in servers]
    events = args.events.split(",")
    stats: dict[str, object] = {"ok": 0, "sold_out": 0, "errors": 0, "latencies": []}
    sold_out: set[str] = set()
    started = time.perf_counter()
    deadline = time.monotonic() + args.time_limit
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    await asyncio.gather(
        *(
            buyer(i, *targets[i % len(targets)], events, sold_out, stats, deadline)
            for i in range(args.connections)
        )
    )
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    latencies = sorted(stats.pop("latencies"))  # type: ignore[call-overload]
    elapsed = float(stats.get("last_ok", started)) - started  # type: ignore[arg-type]

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000 if latencies else 0.0

    return {
        **stats,
        "elapsed_s": elapsed,
        "per_second": stats["ok"] / elapsed if elapsed > 0 else 0.0,  # type: ignore[operator]
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "all_sold_out": len(sold_out) == len(events),
        "client_cpu_s": (cpu_after.ru_utime + cpu_after.ru_stime)
        - (cpu_before.ru_utime + cpu_before.ru_stime),
        "last_ok": None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--url",
        required=True,
        help="server base URL, e.g. http://127.0.0.1:8000; several comma-separated to spread the buyers",
    )
    parser.add_argument("--events", required=True, help="comma-separated event codes to buy from")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--time-limit", type=float, default=60.0)
    args = parser.parse_args()
    print(json.dumps(uvloop.run(main_async(args))))


if __name__ == "__main__":
    main()
