"""The big panel that fills most of the gate screen: verdict colour, word, serial and reason."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from scanner.tui.presentation import VerdictView
from scanner.tui.widgets.big_word import BigWord

_STATE_CLASSES = ("-ready", "-admit", "-exit", "-used", "-reject", "-unknown", "-error")


class VerdictPanel(Vertical):
    """Shows one :class:`VerdictView`; the colour comes from its CSS class in ``gate.tcss``."""

    def __init__(self, view: VerdictView, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.view = view

    def compose(self) -> ComposeResult:
        yield BigWord(id="verdict-word")
        yield BigWord(id="verdict-serial")
        yield Static("", id="verdict-reason")
        yield Static("", id="verdict-detail")

    def on_mount(self) -> None:
        self.show(self.view)

    def show(self, view: VerdictView) -> None:
        """Paint ``view`` (called on the UI thread)."""
        self.view = view
        self.remove_class(*_STATE_CLASSES)
        self.add_class(view.style)
        self.query_one("#verdict-word", BigWord).word = view.word
        serial = self.query_one("#verdict-serial", BigWord)
        serial.word = view.serial
        serial.display = bool(view.serial)
        self.query_one("#verdict-reason", Static).update(view.reason)
        self.query_one("#verdict-detail", Static).update(view.detail)
