"""Debouncing camera scans: a code held in view is one scan; shown again after it left, it is a new one."""

from __future__ import annotations

from collections.abc import Sequence

# Decoding misses a held code in some frames (blur, glare, a thumb): it counts as gone only after
# it has not been seen for this long, so a flicker does not make a second scan.
DEFAULT_GONE_AFTER = 1.5


class Debouncer:
    """Turns the payloads seen in each decoded frame into new scans. Pure: time is passed in."""

    def __init__(self, *, gone_after: float = DEFAULT_GONE_AFTER) -> None:
        if gone_after < 0:
            raise ValueError(f"gone_after must be 0 or more seconds, not {gone_after}")
        self.gone_after = gone_after
        self._last_seen: dict[bytes, float] = {}

    def feed(self, payloads: Sequence[bytes], now: float) -> list[bytes]:
        """The payloads of one frame seen at ``now`` (seconds) that are NEW scans, in frame order.

        A payload is new when it was never seen, or was last seen more than ``gone_after`` seconds
        before ``now``. Every payload in the frame refreshes its last-seen time.
        """
        # forget codes that have left the view, so the table stays small over a long gate shift
        self._last_seen = {p: t for p, t in self._last_seen.items() if now - t <= self.gone_after}
        new = []
        for payload in payloads:
            if payload not in self._last_seen and payload not in new:
                new.append(payload)
            self._last_seen[payload] = now
        return new

    def reset(self) -> None:
        """Forget every code (e.g. after the camera was reopened)."""
        self._last_seen.clear()
