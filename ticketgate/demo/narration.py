"""Telling what the demo does as it happens: printed lines (headless, and before the gate app opens)
or the gate app's side panel. The story only ever calls ``say`` and ``chapter``."""

from __future__ import annotations

import sys
import time
from typing import Protocol, TextIO

from ticketgate.terminal import terminal_safe


class Narrator(Protocol):
    def chapter(self, title: str) -> None:
        """A new part of the story begins."""
        ...

    def say(self, text: str) -> None:
        """One thing that just happened."""
        ...


class PrintedNarration:
    """Each line printed at once, with the seconds since the story began."""

    def __init__(self, out: TextIO | None = None) -> None:
        self._out = out
        self._started = time.monotonic()
        self.lines: list[str] = []  # everything said, for tests and the closing summary

    def chapter(self, title: str) -> None:
        self._write(f"\n== {title}")

    def say(self, text: str, *, at: float | None = None) -> None:
        """``at``: when it happened (``time.monotonic()``), if it is told later (the gate app's lines)."""
        moment = time.monotonic() if at is None else at
        self._write(f"[{moment - self._started:6.1f}s] {text}")

    def _write(self, line: str) -> None:
        self.lines.append(line)
        out = self._out or sys.stdout
        # Texts quote server answers and scanned payloads: nothing in them may act on the terminal.
        print(terminal_safe(line), file=out, flush=True)
