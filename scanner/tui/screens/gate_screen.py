"""The main gate screen: status line, verdict panel, counters and recent scans; catches wedge keystrokes."""

from __future__ import annotations

import time
from datetime import tzinfo

from textual import events
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Footer, Static

from scanner.tui.messages import CodeTyped
from scanner.tui.presentation import VerdictView
from scanner.tui.wedge import WedgeBuffer
from scanner.tui.widgets.camera_preview import CameraPreview
from scanner.tui.widgets.counters import CountersBox
from scanner.tui.widgets.recent_scans import RecentScans
from scanner.tui.widgets.status_line import GateStatus, StatusLine
from scanner.tui.widgets.verdict_panel import VerdictPanel

IDLE_HINT = "handheld scanner ready: scan a ticket, or F2 to type a code"
# Handheld scanners end a code with Enter (CR), a line feed or, configured so, a Tab.
_SUBMIT_KEYS = {"enter", "ctrl+m", "ctrl+j"}


class GateScreen(Screen[None]):
    """Nothing here takes focus, so every keystroke reaches :meth:`on_key`: a handheld scanner needs
    no field to be clicked first."""

    def __init__(
        self, *, status: GateStatus, view: VerdictView, tz: tzinfo | None, preview: bool = False
    ) -> None:
        super().__init__()
        self.preview = preview
        self._status = status
        self._view = view
        self._tz = tz
        self.wedge = WedgeBuffer()

    def compose(self) -> ComposeResult:
        yield StatusLine(self._status, tz=self._tz, id="status")
        yield Static("", id="notice")
        with Horizontal(id="main"):
            yield VerdictPanel(self._view, id="verdict")
            with Vertical(id="side"):
                camera = CameraPreview(id="preview")
                camera.display = self.preview
                yield camera
                yield CountersBox("", id="counters")
                yield RecentScans(tz=self._tz, id="recent")
        yield Static(IDLE_HINT, id="typed")
        yield Footer()

    def on_key(self, event: events.Key) -> None:
        if event.key in _SUBMIT_KEYS or (event.key == "tab" and self.wedge.text):
            event.stop()
            started = time.perf_counter()
            text = self.wedge.take()
            if text:
                self.post_message(CodeTyped(text, source="wedge", started=started))
            self._echo()
        elif event.key == "backspace":
            event.stop()
            self.wedge.backspace()
            self._echo()
        elif event.is_printable and event.character:
            event.stop()
            self.wedge.feed(event.character, time.monotonic())
            self._echo()

    def clear_typed(self) -> None:
        self.wedge.clear()
        self._echo()

    def _echo(self) -> None:
        typed = self.query_one("#typed", Static)
        text = self.wedge.text
        # One fixed line, never hidden: showing or hiding it would re-layout the screen per keystroke.
        # Plain Content: what a scanner types is data, never markup.
        typed.update(
            Content(f"typed: {text}▏  (Enter checks it, Esc clears)" if text else IDLE_HINT), layout=False
        )
        if typed.has_class("-active") != bool(text):
            typed.set_class(bool(text), "-active")
