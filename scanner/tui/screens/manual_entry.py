"""A small dialog to type a code by hand (cracked phone screen, unreadable print); any case is accepted."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label


class ManualEntryScreen(ModalScreen[str | None]):
    """Dismisses with the typed text (stripped), or None when cancelled."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label("Type the ticket code (any case), then Enter:")
            yield Input(placeholder="EVENT-SERIAL-TAG, e.g. VL9IHU-001-f3a2b1c0", id="code")
            yield Label("[dim]Esc cancels[/]")

    @on(Input.Submitted)
    def submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)
