"""The big panel that fills most of the gate screen: verdict colour, word, serial and reason."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.widgets import Static

from scanner.tui.presentation import VerdictView
from scanner.tui.widgets.big_word import BigWord

# (background, text) per VerdictView.style. Set as inline styles rather than CSS classes: swapping a
# class re-applies the stylesheet to the whole panel, which cost ~20 ms per verdict on the gate laptop.
PALETTE: dict[str, tuple[str, str]] = {
    "-ready": ("#1f2329", "#b8bec7"),
    "-admit": ("#1d8a3a", "#ffffff"),
    "-exit": ("#1f5fa8", "#ffffff"),
    "-used": ("#e07b00", "#000000"),
    "-reject": ("#c62828", "#ffffff"),
    "-unknown": ("#6b6b6b", "#ffffff"),
    "-error": ("#8e0f6b", "#ffffff"),
}


class VerdictPanel(Vertical):
    """Shows one :class:`VerdictView` in its colours."""

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
        background, text = PALETTE.get(view.style, PALETTE["-reject"])
        self.styles.background = background
        self.styles.color = text
        self.query_one("#verdict-word", BigWord).word = view.word
        self.query_one("#verdict-serial", BigWord).word = view.serial
        # Fixed heights (gate.tcss) and no layout pass: a verdict must reach the screen in a blink.
        # Plain Content, never markup: the detail holds whatever was scanned ("[/]" in a QR code
        # would otherwise raise MarkupError and take the gate app down).
        self.query_one("#verdict-reason", Static).update(Content(view.reason), layout=False)
        self.query_one("#verdict-detail", Static).update(Content(view.detail), layout=False)
        for child in self.children:
            # Children inherit the colours but cache their computed style: drop that cache and repaint,
            # even a child whose text is unchanged (the serial of a ticket scanned twice).
            child.notify_style_update()
            child.refresh()
