"""The settings dialog: gate name, event, sound, camera and its live view, saved in the data folder;
pairing with the backend from here."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Switch

from scanner.gate import gate_name_problem
from scanner.settings import GateSettings
from ticketcode.keys import EVENT_CODE_RE


class SettingsScreen(ModalScreen[GateSettings | None]):
    """Dismisses with the edited settings, or None when cancelled."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, settings: GateSettings, *, gate_name: str, event: str, preview: bool = False) -> None:
        super().__init__()
        self._preview = preview
        self._settings = settings
        self._gate_name = gate_name
        self._event = event

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label("Gate name (applies now)")
            yield Input(self._gate_name, id="gate-name")
            yield Label("Event code (applies at the next start)")
            yield Input(self._event, id="event")
            yield Label("Camera index or device path (applies at the next start)")
            yield Input(self._settings.camera or "", id="camera")
            with Horizontal(id="sound-row"):
                yield Label("Sound ")
                yield Switch(self._settings.sound, id="sound")
                yield Label("  Camera view ")
                yield Switch(self._preview, id="preview")
            yield Label("", id="settings-error")
            with Horizontal(id="buttons"):
                yield Button("Save", id="save", variant="primary")
                yield Button("Cancel", id="cancel")
                yield Button("Pair…", id="pair-open")

    @on(Button.Pressed, "#save")
    @on(Input.Submitted)
    def save(self) -> None:
        camera = self.query_one("#camera", Input).value.strip() or None
        gate_name = " ".join(self.query_one("#gate-name", Input).value.split()) or None
        event = self.query_one("#event", Input).value.strip().upper() or None
        problem = None
        if gate_name is not None and gate_name_problem(gate_name) is not None:
            problem = gate_name_problem(gate_name)
        elif event is not None and not EVENT_CODE_RE.fullmatch(event):
            problem = f"{event!r} is not an event code (4 to 12 of A-Z and 0-9)"
        if problem is not None:
            # Refused here, with the reason, rather than at the next start of the gate.
            # Styled, not markup: the problem quotes what was typed, which may hold "[/]".
            self.query_one("#settings-error", Label).update(Content.styled(problem, "bold red"))
            return
        self.dismiss(
            GateSettings(
                gate_name=gate_name,
                event=event,
                sound=self.query_one("#sound", Switch).value,
                camera=camera,
                preview=self.query_one("#preview", Switch).value,
                # A camera chosen here replaces a file source remembered from an earlier start.
                source=None if camera else self._settings.source,
            )
        )

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#pair-open")
    def open_pairing(self) -> None:
        """Pairing replaces the settings dialog: it sets the gate name and event itself."""
        self.dismiss(None)
        self.app.call_later(self.app.run_action, "pair")
