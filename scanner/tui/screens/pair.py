"""Pairing from the gate app: type the pairing text, or scan its QR code with the camera or the
handheld scanner while this dialog is open."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label

from ticketcode.sync_protocol import Pairing, ProtocolError, parse_pairing


class PairRequested(Message):
    """Staff gave a well-formed pairing: the app pairs in a worker and answers with ``finished``."""

    def __init__(self, pairing: Pairing) -> None:
        super().__init__()
        self.pairing = pairing


class PairScreen(ModalScreen[bool]):
    """Dismisses with True once paired, False when closed without pairing."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "close", "Close")]

    def __init__(self, *, paired_with: str | None = None) -> None:
        super().__init__()
        self._paired_with = paired_with
        self.busy = False

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label("Pair this gate with the backend")
            if self._paired_with:
                yield Label(Content(f"now paired with {self._paired_with}; a new pairing replaces it"))
            yield Label("Scan the pairing QR code (camera or handheld), or type the pairing text:")
            yield Input(placeholder="ticketgate-pair:1:K7QX-M2PA-9TRD:http://10.0.0.5:8000", id="pairing")
            yield Label("", id="pair-status")
            with Horizontal(id="buttons"):
                yield Button("Pair", id="pair", variant="primary")
                yield Button("Close", id="close")

    def on_mount(self) -> None:
        self.query_one("#pairing", Input).focus()

    def use(self, text: str) -> None:
        """A pairing text scanned by the camera while this dialog is open."""
        if self.busy:
            return
        self.query_one("#pairing", Input).value = text
        self.submit()

    @on(Button.Pressed, "#pair")
    @on(Input.Submitted, "#pairing")
    def submit(self) -> None:
        if self.busy:
            return
        text = self.query_one("#pairing", Input).value
        try:
            pairing = parse_pairing(text)
        except ProtocolError as exc:
            self._say(str(exc), "bold red")
            return
        if pairing.server_url is None:
            self._say("a bare code needs the server: type the whole pairing text", "bold red")
            return
        self.busy = True
        self.query_one("#pair", Button).disabled = True
        self._say(f"pairing with {pairing.server_url}…", "yellow")
        self.post_message(PairRequested(pairing))

    def finished(self, *, ok: bool, text: str) -> None:
        """The app's answer: paired (and the first round's result), or why not."""
        self.busy = False
        self.query_one("#pair", Button).disabled = False
        if ok:
            self.dismiss(True)
        else:
            self._say(text, "bold red")
            self.query_one("#pairing", Input).focus()

    def _say(self, text: str, style: str) -> None:
        # Styled, not markup: the text quotes what was typed or scanned.
        self.query_one("#pair-status", Label).update(Content.styled(text, style))

    @on(Button.Pressed, "#close")
    def action_close(self) -> None:
        # Also while a pairing is under way: its outcome then arrives as a toast on the gate screen.
        self.dismiss(False)
