"""The counters box: admitted, rejected and currently inside."""

from __future__ import annotations

from rich.table import Table
from textual.widgets import Static

from scanner.verdicts import Counters


class CountersBox(Static):
    """Admitted / rejected / inside, updated after each scan from the store's own counts."""

    def show(self, counters: Counters | None) -> None:
        table = Table.grid(expand=True, padding=(0, 1))
        table.add_column(ratio=1)
        table.add_column(justify="right")
        if counters is None:
            table.add_row("counters", "?")
        else:
            table.add_row("[green]admitted[/]", f"[bold]{counters.admitted}[/]")
            table.add_row("[red]rejected[/]", f"[bold]{counters.rejected}[/]")
            table.add_row("inside now", f"[bold]{counters.inside}[/]")
        self.update(table)
