"""The counters box: admitted, rejected and currently inside."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from scanner.verdicts import Counters


class CountersBox(Static):
    """Admitted / rejected / inside, updated after each scan from the store's own counts.

    Plain text lines, not a Rich table: a table measures itself on every paint, which made this
    little box the most expensive thing on the screen.
    """

    counters: Counters | None = None

    def show(self, counters: Counters | None) -> None:
        self.counters = counters
        width = max(self.size.width, 20)
        text = Text()
        if counters is None:
            rows = [("counters", "?", "")]
        else:
            rows = [
                ("admitted", str(counters.admitted), "green"),
                ("rejected", str(counters.rejected), "red"),
                ("inside now", str(counters.inside), ""),
            ]
        for i, (label, value, style) in enumerate(rows):
            if i:
                text.append("\n")
            text.append(label, style)
            text.append(" " * max(1, width - len(label) - len(value)))
            text.append(value, "bold")
        self.update(text, layout=False)

    def on_resize(self) -> None:
        self.show(self.counters)
