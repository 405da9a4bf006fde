"""The list of the last scans at this gate: time, serial and verdict, newest first."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from datetime import tzinfo

from rich.text import Text
from textual.widgets import Static

from scanner.tui.presentation import local_time, serial_text
from scanner.verdicts import Direction, ScanResult, Verdict

RECENT_LIMIT = 20

_VERDICT_STYLE = {
    Verdict.ADMIT: "bold green",
    Verdict.ALREADY_USED: "bold dark_orange",
    Verdict.UNKNOWN_KEY: "bold grey62",
}


class RecentScans(Static):
    """Not focusable on purpose: the Enter of a handheld scanner must reach the screen, not a list.

    Fixed-width text columns rather than a Rich table, which measured itself on every paint.
    """

    def __init__(self, *, tz: tzinfo | None = None, id: str | None = None) -> None:
        super().__init__("", id=id)
        self.tz = tz
        self.scans: deque[ScanResult] = deque(maxlen=RECENT_LIMIT)

    def on_mount(self) -> None:
        self._paint()

    def add(self, result: ScanResult) -> None:
        self.merge([result])

    def merge(self, scans: Iterable[ScanResult]) -> None:
        """Add scans, each once (the start-up load may race the first scans), newest first."""
        by_id = {scan.scan_id: scan for scan in self.scans}
        by_id.update((scan.scan_id, scan) for scan in scans)
        newest = sorted(by_id.values(), key=lambda scan: scan.scan_id, reverse=True)
        self.scans.clear()
        self.scans.extend(newest[:RECENT_LIMIT])
        self._paint()

    def _paint(self) -> None:
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(f"{'time':<9} {'#':<4} verdict", "bold dim")
        if not self.scans:
            text.append("\n\nno scans yet", "dim")
        for scan in self.scans:
            verdict = str(scan.verdict)
            if scan.verdict is Verdict.ADMIT and scan.direction is Direction.OUT:
                verdict = "EXIT"
            serial = serial_text(scan) or "-"
            text.append(f"\n{local_time(scan.scanned_at, self.tz):<9} {serial:<4} ")
            text.append(verdict, _VERDICT_STYLE.get(scan.verdict, "bold red"))
        self.update(text, layout=False)
