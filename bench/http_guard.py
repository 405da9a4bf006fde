"""HTTP head guard benchmark: CPU per request through uvicorn's httptools protocol and through
backend.http_limits' subclass, with the same keep-alive checkout request and an app that answers at
once, so only the protocol's own work differs. Interleaved rounds; medians.

    .venv/bin/python bench/http_guard.py
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

import uvloop
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from backend.http_limits import GuardedHttpToolsProtocol

BODY = b'{"quantity": 1, "email": "buyer@example.org"}'
REQ = (
    b"POST /api/events/HOT1/orders HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nContent-Type: application/json\r\n"
    b"Idempotency-Key: k-0123456789\r\nContent-Length: " + str(len(BODY)).encode() + b"\r\n\r\n" + BODY
)


async def app(scope: Any, receive: Any, send: Any) -> None:
    await receive()
    await send(
        {"type": "http.response.start", "status": 201, "headers": [(b"content-type", b"application/json")]}
    )
    await send({"type": "http.response.body", "body": b"{}"})


class Transport:
    """Enough of an asyncio transport for the protocol: writes go nowhere."""

    def __init__(self) -> None:
        self.closing = False

    def write(self, data: bytes) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 8000) if name in ("sockname", "peername") else default

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def run(cls: type[HttpToolsProtocol], n: int) -> float:
    config = Config(app, http=cls, lifespan="off", access_log=False, log_config=None)
    config.load()
    state = ServerState()
    proto = cls(config=config, server_state=state, app_state={})
    proto.connection_made(Transport())  # type: ignore[arg-type]
    start = time.process_time()
    for _ in range(n):
        proto.data_received(REQ)
        while state.tasks:
            await asyncio.sleep(0)
    return (time.process_time() - start) / n * 1e6


async def main() -> None:
    results: dict[str, list[float]] = {"httptools": [], "guarded": []}
    for _ in range(9):
        results["httptools"].append(await run(HttpToolsProtocol, 20000))
        results["guarded"].append(await run(GuardedHttpToolsProtocol, 20000))
    for k, v in results.items():
        runs = ", ".join(f"{x:.2f}" for x in v)
        print(f"{k:10s} median {statistics.median(v):.2f} us CPU per request (runs: {runs})")
    ratio = statistics.median(results["guarded"]) / statistics.median(results["httptools"])
    print(f"guarded/httptools {ratio:.3f}")
    print("reproduce: .venv/bin/python bench/http_guard.py")


if __name__ == "__main__":
    uvloop.run(main())
