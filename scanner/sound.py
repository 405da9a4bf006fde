"""Verdict sounds: a distinct terminal-bell pattern per kind of verdict, switchable off.

The terminal bell is the one sound every terminal (and an SSH session) can make. Patterns differ in
count and rhythm so staff can tell them apart without looking: one ring admits, two quick rings
mean "already used", three quick rings reject, two slow rings mean "no key".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from scanner.verdicts import Verdict

# Seconds after the verdict at which each ring sounds.
ADMIT_PATTERN: tuple[float, ...] = (0.0,)
ALREADY_USED_PATTERN: tuple[float, ...] = (0.0, 0.18)
REJECT_PATTERN: tuple[float, ...] = (0.0, 0.12, 0.24)
UNKNOWN_KEY_PATTERN: tuple[float, ...] = (0.0, 0.6)
ERROR_PATTERN: tuple[float, ...] = (0.0, 0.12, 0.24, 0.36, 0.48)

_PATTERNS: dict[str, tuple[float, ...]] = {
    Verdict.ADMIT: ADMIT_PATTERN,
    Verdict.ALREADY_USED: ALREADY_USED_PATTERN,
    Verdict.INVALID: REJECT_PATTERN,
    Verdict.REVOKED: REJECT_PATTERN,
    Verdict.WRONG_EVENT: REJECT_PATTERN,
    Verdict.UNKNOWN_KEY: UNKNOWN_KEY_PATTERN,
}


def pattern_for(verdict: str | None) -> tuple[float, ...]:
    """The ring times of a verdict; ``None`` (a scan that could not be recorded) gets the error pattern.

    A verdict this module does not know (added later) sounds like a rejection: never like ADMIT.
    """
    if verdict is None:
        return ERROR_PATTERN
    return _PATTERNS.get(verdict, REJECT_PATTERN)


class VerdictSounder:
    """Plays verdict patterns through ``ring`` (one bell), spacing rings with ``schedule(delay, fn)``."""

    def __init__(
        self,
        *,
        ring: Callable[[], None],
        schedule: Callable[[float, Callable[[], None]], Any],
        enabled: bool = True,
    ) -> None:
        self._ring = ring
        self._schedule = schedule
        self.enabled = enabled

    def play(self, verdict: str | None) -> tuple[float, ...]:
        """Sound the pattern of ``verdict`` if sound is on; return the pattern played (empty when off)."""
        if not self.enabled:
            return ()
        pattern = pattern_for(verdict)
        for delay in pattern:
            if delay <= 0:
                self._ring()
            else:
                self._schedule(delay, self._ring)
        return pattern
