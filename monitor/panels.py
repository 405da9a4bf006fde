"""The dashboard's panels: each draws its part of a ``Snapshot`` (sales, orders, attention, gate
entries, devices, conflicts). Text from users (emails, device and gate names, the event's name) is
shown literally, never as markup, and through ``backend.terminal.safe``."""

from __future__ import annotations

from datetime import tzinfo

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Sparkline, Static

from backend.dashboard import EXPIRING_SECONDS, SERIES_MINUTES, GateEntries, Snapshot
from backend.terminal import safe
from monitor.presentation import ago, clock, count, countdown, money, short_id, since


def _lines() -> Text:
    """Text of rows that each stay one line (monitor.tcss cuts them with an ellipsis)."""
    return Text(no_wrap=True, overflow="ellipsis")


class Panel(Vertical):
    """A bordered box with a title that shows one part of the snapshot."""

    TITLE = ""

    def on_mount(self) -> None:
        self.border_title = self.TITLE

    def show(self, snapshot: Snapshot, tz: tzinfo | None) -> None:
        raise NotImplementedError


class SalesPanel(Panel):
    TITLE = "Sales"

    def compose(self) -> ComposeResult:
        yield Static(id="sales-figures")
        yield Sparkline([], id="sales-plot")
        yield Static(id="sales-caption", classes="caption")

    def show(self, snapshot: Snapshot, tz: tzinfo | None) -> None:
        stock = snapshot.stock
        text = _lines()
        text.append("sold ", "dim")
        text.append(count(stock.sold), "bold green")
        text.append("  held ", "dim")
        text.append(count(stock.held), "bold yellow")
        text.append("  available ", "dim")
        text.append(count(stock.available), "bold")
        text.append(f"  of {count(stock.capacity)}", "dim")
        if stock.withdrawn:
            text.append(f"  withdrawn {count(stock.withdrawn)}", "dim")
        share = stock.sold / stock.capacity if stock.capacity else 0.0
        text.append(f"\n{share:.0%} sold", "dim")
        if stock.available == 0:
            text.append("  SOLD OUT", "bold red" if stock.held == 0 else "bold yellow")
        self.query_one("#sales-figures", Static).update(text)
        self.query_one("#sales-plot", Sparkline).data = list(snapshot.sales_per_minute)
        series = snapshot.sales_per_minute
        caption = _lines()
        caption.append(
            f"sold per minute, last {SERIES_MINUTES} min: now {series[-1] if series else 0}, "
            f"peak {max(series, default=0)}",
            "dim",
        )
        self.query_one("#sales-caption", Static).update(caption)


class OrdersPanel(Panel):
    TITLE = "Pending orders"

    def compose(self) -> ComposeResult:
        yield Static(id="orders-text")

    def show(self, snapshot: Snapshot, tz: tzinfo | None) -> None:
        text = _lines()
        text.append(count(snapshot.pending_orders), "bold")
        text.append(" pending; ", "dim")
        text.append(count(snapshot.expiring_count), "bold yellow" if snapshot.expiring_count else "bold")
        text.append(f" expire within {EXPIRING_SECONDS // 60} min", "dim")
        for order in snapshot.expiring:
            text.append("\n")
            text.append(f"{countdown(order.expires_at, snapshot.taken_at):>5}", "yellow")
            text.append(f"{order.quantity:>2} ticket(s)  {short_id(order.id)}  ")
            text.append(safe(order.email), "dim")
        if snapshot.expiring_count > len(snapshot.expiring):
            text.append(f"\n… and {snapshot.expiring_count - len(snapshot.expiring)} more", "dim")
        self.query_one("#orders-text", Static).update(text)


class AttentionPanel(Panel):
    TITLE = "Needs attention"

    def compose(self) -> ComposeResult:
        yield Static(id="attention-text")

    def show(self, snapshot: Snapshot, tz: tzinfo | None) -> None:
        text = _lines()
        if not snapshot.attention:
            text.append("nothing to act on", "green")
        else:
            text.append(f"{len(snapshot.attention)} order(s)", "bold yellow")
            text.append(": ticketgate orders attention / refund-due", "dim")
        for order in snapshot.attention:
            text.append("\n")
            text.append(f"{short_id(order.id)} ")
            text.append(f"{order.why:<16}", "yellow")
            text.append(f" {money(order.due_cents, order.currency) if order.due_cents else '':>12}", "bold")
            text.append(f" {ago(order.since, snapshot.taken_at):>11} ", "dim")
            text.append(safe(order.email), "dim")
        self.query_one("#attention-text", Static).update(text)


class GateRow(Horizontal):
    """One gate's entries per minute: its name and total, and the plot."""

    def __init__(self, gate: str) -> None:
        super().__init__(classes="gate-row")
        self.gate = gate

    def compose(self) -> ComposeResult:
        yield Static(classes="gate-name")
        yield Sparkline([], classes="gate-plot")

    def show(self, entries: GateEntries) -> None:
        label = Text(f"{safe(entries.gate)[:12]:<12}", "bold", no_wrap=True, overflow="ellipsis")
        label.append(f" {count(entries.total):>6}", "dim")
        self.query_one(".gate-name", Static).update(label)
        self.query_one(Sparkline).data = list(entries.per_minute)


class EntriesPanel(Panel):
    TITLE = "Entries"

    def compose(self) -> ComposeResult:
        yield Static(id="entries-figures")
        yield Vertical(id="gate-rows")
        yield Static(id="entries-caption", classes="caption")

    def show(self, snapshot: Snapshot, tz: tzinfo | None) -> None:
        text = _lines()
        text.append("inside now ", "dim")
        text.append(count(snapshot.inside), "bold green")
        text.append("  admitted ", "dim")
        text.append(count(snapshot.admitted), "bold")
        self.query_one("#entries-figures", Static).update(text)
        rows = self.query_one("#gate-rows", Vertical)
        shown = [row.gate for row in rows.query(GateRow)]
        wanted = [entries.gate for entries in snapshot.entries]
        if shown != wanted:
            # A new gate appeared (they are few): rebuild the rows, then fill them once mounted.
            rows.remove_children()
            rows.mount_all([GateRow(gate) for gate in wanted])
            self.call_after_refresh(self._fill, snapshot)
        else:
            self._fill(snapshot)
        caption = (
            f"entries per minute per gate, last {SERIES_MINUTES} min"
            if snapshot.entries
            else "no entries uploaded by the gates yet"
        )
        self.query_one("#entries-caption", Static).update(Text(caption, "dim"))

    def _fill(self, snapshot: Snapshot) -> None:
        rows = list(self.query_one("#gate-rows", Vertical).query(GateRow))
        for row, entries in zip(rows, snapshot.entries, strict=False):
            row.show(entries)


class DevicesPanel(Panel):
    TITLE = "Gate devices"

    def compose(self) -> ComposeResult:
        yield Static(id="devices-text")

    def show(self, snapshot: Snapshot, tz: tzinfo | None) -> None:
        text = _lines()
        if not snapshot.devices:
            text.append("no devices: ticketgate device add --event " + snapshot.event_code, "dim")
        online = sum(1 for device in snapshot.devices if device.online)
        if snapshot.devices:
            text.append(f"{online} of {len(snapshot.devices)} online", "bold")
            text.append(" (seen within 60 s)", "dim")
            text.append(f"\n  {'gate':<11} {'seen':>6} {'synced':>6} {'scans':>6}", "dim")
        now = snapshot.taken_at
        for device in snapshot.devices:
            text.append("\n")
            name = f"{safe(device.name)[:11]:<11}"
            if device.state == "waiting":
                text.append(f"○ {name} waiting to pair", "dim")
                continue
            text.append("● " if device.online else "○ ", "green" if device.online else "red")
            text.append(name, "bold")
            text.append(f" {since(device.last_seen_at, now):>6} {since(device.last_sync_at, now):>6}")
            text.append(f" {count(device.scans):>6}", "dim")
        self.query_one("#devices-text", Static).update(text)


class ConflictsPanel(Panel):
    TITLE = "Conflicts"

    def compose(self) -> ComposeResult:
        yield Static(id="conflicts-text")

    def show(self, snapshot: Snapshot, tz: tzinfo | None) -> None:
        text = _lines()
        if not snapshot.conflict_count:
            text.append("none: no ticket was let in twice", "green")
        else:
            text.append(f"{snapshot.conflict_count} ticket(s) let in by two gates", "bold red")
            text.append(": ticketgate conflicts", "dim")
        for conflict in snapshot.conflicts:
            text.append("\n")
            text.append(conflict.code or f"serial {conflict.serial}")
            text.append(f"  {safe(conflict.first_gate)} {clock(conflict.first_at, tz)}", "dim")
            text.append(" → ")
            text.append(f"{safe(conflict.second_gate)} {clock(conflict.second_at, tz)}", "red")
        if snapshot.conflict_count > len(snapshot.conflicts):
            text.append(f"\n… and {snapshot.conflict_count - len(snapshot.conflicts)} more", "dim")
        self.query_one("#conflicts-text", Static).update(text)


ALL_PANELS: tuple[type[Panel], ...] = (
    SalesPanel,
    EntriesPanel,
    OrdersPanel,
    AttentionPanel,
    DevicesPanel,
    ConflictsPanel,
)
