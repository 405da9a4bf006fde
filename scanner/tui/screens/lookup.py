"""Look-up: search the tickets the gate knows by serial or holder name, and show one ticket's history
(this gate's scans, other gates' entries and exits learnt by sync, conflicts)."""

from __future__ import annotations

from datetime import datetime, tzinfo
from functools import partial
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static

from scanner.store import Store
from scanner.store.remote import Conflict, RemoteMovement
from scanner.tui.presentation import local_time
from scanner.verdicts import KnownTicket, ScanResult


class TicketsFound(Message):
    def __init__(self, query: str, tickets: list[KnownTicket]) -> None:
        super().__init__()
        self.query = query
        self.tickets = tickets


class HistoryLoaded(Message):
    def __init__(
        self,
        ticket: tuple[str, int],
        scans: list[ScanResult],
        remote: list[RemoteMovement],
        conflicts: list[Conflict],
    ) -> None:
        super().__init__()
        self.ticket = ticket
        self.scans = scans
        self.remote = remote
        self.conflicts = conflicts


class LookupScreen(Screen[None]):
    """Reads run in app workers (group ``lookup``) so a slow disk never freezes the gate."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "close", "Back to gate")]

    def __init__(self, store: Store, *, tz: tzinfo | None) -> None:
        super().__init__()
        self._store = store
        self._tz = tz
        self._rows: dict[str, tuple[str, int]] = {}

    def compose(self) -> ComposeResult:
        yield Static(
            "Look-up: type a serial (e.g. 42) or part of a holder's name, then Enter", id="lookup-title"
        )
        yield Input(placeholder="serial or name", id="lookup-query")
        yield DataTable(id="lookup-results", cursor_type="row", zebra_stripes=True)
        yield Static("Select a ticket (arrows + Enter) to see its history", id="lookup-history-title")
        yield DataTable(id="lookup-history", cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        results = self.query_one("#lookup-results", DataTable)
        results.add_columns("event", "serial", "holder", "state")
        history = self.query_one("#lookup-history", DataTable)
        history.add_columns("time", "verdict", "dir", "gate", "reason")
        self.query_one(Input).focus()

    @on(Input.Submitted, "#lookup-query")
    def search(self, event: Input.Submitted) -> None:
        query = event.value.strip()
        if not query:
            return
        self.query_one("#lookup-history-title", Static).update("searching…")
        self.app.run_worker(
            partial(self._find, query), thread=True, group="lookup", exclusive=True, exit_on_error=False
        )

    def _find(self, query: str) -> None:
        self.post_message(TicketsFound(query, self._store.find_tickets(query, limit=50)))

    def _history(self, event: str, serial: int) -> None:
        self.post_message(
            HistoryLoaded(
                (event, serial),
                self._store.ticket_history(event, serial),
                self._store.remote_movements(event, serial),
                self._store.conflicts(event, serial=serial),
            )
        )

    @on(TicketsFound)
    def show_tickets(self, message: TicketsFound) -> None:
        table = self.query_one("#lookup-results", DataTable)
        table.clear()
        self._rows.clear()
        for ticket in message.tickets:
            state = f"REVOKED: {ticket.revoked_reason or ''}" if ticket.revoked else "valid"
            # Text cells, not str: a DataTable reads str cells as markup, and names come from files.
            key = table.add_row(ticket.event, f"{ticket.serial:03d}", Text(ticket.holder or ""), Text(state))
            self._rows[key.value or ""] = (ticket.event, ticket.serial)
        title = self.query_one("#lookup-history-title", Static)
        if message.tickets:
            title.update(
                Content(f"{len(message.tickets)} ticket(s) for {message.query!r}: select one for its history")
            )
            table.focus()
        else:
            title.update(
                Content(f"no known ticket matches {message.query!r} (known tickets come from sync or import)")
            )

    @on(DataTable.RowSelected, "#lookup-results")
    def ticket_chosen(self, event: DataTable.RowSelected) -> None:
        ticket = self._rows.get(event.row_key.value or "")
        if ticket is None:
            return
        self.app.run_worker(
            partial(self._history, *ticket), thread=True, group="lookup", exclusive=True, exit_on_error=False
        )

    @on(HistoryLoaded)
    def show_history(self, message: HistoryLoaded) -> None:
        event, serial = message.ticket
        title = f"history of {event} {serial:03d}: {len(message.scans)} scan(s) here"
        if message.remote:
            title += f", {len(message.remote)} at other gates"
        if message.conflicts:
            title += f", {len(message.conflicts)} CONFLICT(S)"
        self.query_one("#lookup-history-title", Static).update(Content(title))
        rows: list[tuple[datetime, tuple[str, str, str, Text, Text]]] = []
        for scan in message.scans:
            when = local_time(scan.scanned_at, self._tz)
            rows.append(
                (
                    scan.scanned_at,
                    (when, str(scan.verdict), str(scan.direction), Text(scan.gate), Text(scan.reason)),
                )
            )
        for move in message.remote:
            what = "entry" if move.direction == "in" else "exit"
            reason = Text(f"{what} at another gate (sync)")
            rows.append(
                (
                    move.at,
                    (local_time(move.at, self._tz), "ADMIT", str(move.direction), Text(move.gate), reason),
                )
            )
        for conflict in message.conflicts:
            gates = Text(" & ".join(conflict.gates))
            why = Text("admitted at two gates while inside (both offline?): both scans stand", "bold")
            rows.append(
                (conflict.at[1], (local_time(conflict.at[1], self._tz), "CONFLICT", "in", gates, why))
            )
        table = self.query_one("#lookup-history", DataTable)
        table.clear()
        for _, cells in sorted(rows, key=lambda row: row[0]):
            table.add_row(*cells)

    def action_close(self) -> None:
        self.dismiss(None)
