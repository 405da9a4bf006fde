"""When the gate app's background worker syncs next: every interval while the server answers,
backing off (doubling, up to a ceiling) while it does not. Pure."""

from __future__ import annotations

import os
from dataclasses import dataclass

from scanner.errors import GateConfigError
from scanner.store.sync_state import Link

DEFAULT_INTERVAL_S = 10.0
MAX_BACKOFF_S = 120.0
INTERVAL_ENV = "TICKETGATE_SYNC_INTERVAL_SECONDS"


@dataclass
class SyncSchedule:
    """``next_delay(link)`` after each round. A refused device (revoked) is asked at the ceiling:
    there is nothing to do until it is paired again, which wakes the worker at once."""

    interval_s: float = DEFAULT_INTERVAL_S
    max_backoff_s: float = MAX_BACKOFF_S
    failures: int = 0

    def next_delay(self, link: Link) -> float:
        if link in ("online", "never"):
            self.failures = 0
            return self.interval_s
        if link == "refused":
            return max(self.interval_s, self.max_backoff_s)
        self.failures += 1
        backoff = self.interval_s * float(2 ** min(self.failures, 16))
        return max(self.interval_s, min(backoff, self.max_backoff_s))


def interval_from_env(environ: dict[str, str] | None = None) -> float:
    """``TICKETGATE_SYNC_INTERVAL_SECONDS`` (1 to 3600, default 10); GateConfigError naming it otherwise."""
    raw = (environ if environ is not None else dict(os.environ)).get(INTERVAL_ENV, "").strip()
    if not raw:
        return DEFAULT_INTERVAL_S
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not 1 <= value <= 3600:
        raise GateConfigError(f"{INTERVAL_ENV} must be a number of seconds from 1 to 3600, not {raw!r}")
    return value
