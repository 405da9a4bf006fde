"""The per-client checkout rate limit (``TICKETGATE_CHECKOUT_RATE``), kept by the ``limits`` library.

A sliding window (a weighted pair of fixed-window counters, so no double burst at a window's edge; the
library floors the weighted count, so just past a clock-aligned edge one request more may pass) per client
address, in this process's memory, on the event loop: about 13 us per checkout, no thread, no round
trip. (The moving window of ``limits`` keeps its entries with a timer thread started every 10 ms,
and ``Thread.start`` blocked the event loop: 25% of a worker's samples in the flash sale.)

With ``--workers N`` each worker keeps its own window, so one client may get up to N times the rate
(connections are spread over the workers by the kernel); the per-email hold limit, kept in the
database, holds across workers.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from starlette.requests import Request

from backend.errors import RateLimited


def client_address(request: Request, *, trust_proxy: bool) -> str:
    """The address a checkout is counted against: the peer, or behind a trusted proxy the first
    ``X-Forwarded-For`` hop (the client as the first proxy saw it)."""
    if trust_proxy:
        forwarded = request.headers.get("x-forwarded-for", "")
        first = forwarded.split(",", 1)[0].strip()
        if first:
            return first[:100]
    return request.client.host if request.client else "unknown"


class CheckoutRateLimit:
    """``await check(request)`` raises RateLimited (with the seconds to wait) past the configured rate."""

    def __init__(self, rate: str, *, trust_proxy: bool) -> None:
        self.items: list[RateLimitItem] = parse_many(rate)
        self.trust_proxy = trust_proxy
        self.limiter = SlidingWindowCounterRateLimiter(MemoryStorage())

    async def check(self, request: Request) -> None:
        who = client_address(request, trust_proxy=self.trust_proxy)
        for item in self.items:
            if not await self.limiter.hit(item, "checkout", who):
                reset, _ = await self.limiter.get_window_stats(item, "checkout", who)
                wait = max(1, math.ceil(reset - time.time()))
                raise RateLimited(
                    f"too many checkouts from {who}: at most {item} allowed; retry in {wait} s",
                    retry_after=wait,
                )
