"""The help screen: what each key does and how scanning works at this gate."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

HELP_TEXT = """\
# Gate app — help

**Scanning.** Hold the ticket's QR code in front of the camera, or scan it with the handheld
scanner: it types the code and Enter (or Tab) straight into this screen, no field to click. The verdict
fills the screen with its colour and a sound:

| colour | verdict | what to do |
| --- | --- | --- |
| green | ADMIT | let them in |
| blue | EXIT | exit recorded (exit mode); they may come back in |
| orange | ALREADY USED | this ticket is inside already: the panel says when and at which gate |
| red | INVALID / REVOKED / WRONG EVENT | do not admit; the reason is on screen |
| grey | UNKNOWN KEY | this laptop has no key for that event: sync or import a key |

Sounds (when on): one ring admits, two quick rings = already used, three quick rings = refused,
two slow rings = no key, five rings = the scan was **not recorded** (scan again).

## Keys

| key | action |
| --- | --- |
| F1 | this help |
| F2 | type a code by hand (any case) |
| F3 | switch between ENTRY and EXIT mode |
| F4 | look up a ticket by serial or holder name, with its history |
| F5 | sound on / off |
| F6 | settings: gate name, event, sound, camera |
| Esc | clear what was typed, back to READY |
| Ctrl+Q | quit (asks first) |

Press Esc or F1 to close this help.
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,f1,q", "close", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="dialog"):
            yield Markdown(HELP_TEXT)

    def action_close(self) -> None:
        self.dismiss(None)
