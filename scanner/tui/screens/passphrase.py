"""The passphrase dialog shown at start when the key files are sealed (``ticketgate keys protect``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Input, Label

from scanner.errors import ScannerError


class PassphraseScreen(ModalScreen[bool]):
    """Asks until ``unlock`` accepts the passphrase (it raises ScannerError for a wrong one), then
    dismisses with True. The gate checks no ticket before: without its keys every verdict would be wrong."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "stay", "Stay", show=False)]

    def __init__(self, *, unlock: Callable[[str], None], folder: str) -> None:
        super().__init__()
        self._unlock = unlock
        self._folder = folder
        self.busy = False

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label("The key files are protected: type the passphrase, then Enter")
            yield Label(Content(f"({self._folder})"), id="passphrase-folder")
            yield Input(password=True, placeholder="passphrase", id="passphrase")
            yield Label("", id="passphrase-status")
            yield Label("[dim]No ticket is checked until then. Ctrl+Q quits.[/]")

    def on_mount(self) -> None:
        self.query_one("#passphrase", Input).focus()

    @on(Input.Submitted, "#passphrase")
    def submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self.busy or not event.value:
            return
        self.busy = True
        self._say("checking…", "yellow")
        self.check(event.value)

    @work(thread=True, exclusive=True, exit_on_error=False, group="passphrase")
    def check(self, passphrase: str) -> None:
        """scrypt takes a good part of a second by design: off the UI thread."""
        try:
            self._unlock(passphrase)
        except ScannerError as exc:
            self.app.call_from_thread(self._refused, str(exc))
            return
        self.app.call_from_thread(self.dismiss, True)

    def _refused(self, why: str) -> None:
        self.busy = False
        self._say(why, "bold red")
        entry = self.query_one("#passphrase", Input)
        entry.value = ""
        entry.focus()

    def _say(self, text: str, style: str) -> None:
        self.query_one("#passphrase-status", Label).update(Content.styled(text, style))

    def action_stay(self) -> None:
        self._say("the gate needs the passphrase to check tickets (Ctrl+Q quits)", "yellow")
