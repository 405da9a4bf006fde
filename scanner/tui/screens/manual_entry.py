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
    """Dismisses with the typed text (stripped), or None when cancelled.

    ``event`` and ``ed25519``: the gate's event signs with Ed25519, whose codes are too long to type,
    so the dialog asks for ``EVENT-SERIAL`` and says that only tickets known from sync are admitted.
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    ManualEntryScreen #typed-reference-note {
        width: 100%;
        height: auto;
        color: $warning;
    }
    """

    def __init__(self, *, event: str = "VL9IHU", ed25519: bool = False) -> None:
        super().__init__()
        self.event = event
        self.ed25519 = ed25519

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            if self.ed25519:
                yield Label("Type the ticket's EVENT-SERIAL (any case), then Enter:", markup=False)
                yield Label(
                    "This event's codes are too long to type. Typed, only a ticket this gate knows"
                    " from sync is admitted.",
                    id="typed-reference-note",
                    markup=False,
                )
                yield Input(placeholder=f"EVENT-SERIAL, e.g. {self.event}-042", id="code")
            else:
                yield Label("Type the ticket code (any case), then Enter:")
                yield Input(placeholder=f"EVENT-SERIAL-TAG, e.g. {self.event}-001-f3a2b1c0", id="code")
            yield Label("[dim]Esc cancels[/]")

    @on(Input.Submitted)
    def submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)
