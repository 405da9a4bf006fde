"""Gate B's part of the demo in the real gate app: its camera is the demo camera, and a narration
panel under the verdict says who holds up what, and whether the verdict is the one the design gives.

The app is the gate staff's own (``scanner.tui.app.GateApp``) with one panel added: the scans go
through the same reader, checker, store and background sync as at a real gate.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on
from textual.message import Message
from textual.widgets import RichLog

from scanner.paths import settings_path
from scanner.settings import load_settings
from scanner.tui.app import GateApp
from scanner.tui.launch import logging_off_the_terminal
from scanner.tui.messages import ScanDecided
from scanner.tui.screens.gate_screen import GateScreen
from scanner.verdicts import ScanResult
from ticketgate.demo import gates
from ticketgate.demo.camera import Shot, ShotCamera
from ticketgate.demo.narration import PrintedNarration
from ticketgate.demo.story import GATE_B, Stage, describe

APP_FPS = 1.0  # camera frames a second: each person stands at the gate about four seconds
START_DELAY_S = 3.0  # time to read the panel before the first person steps up
SYNC_INTERVAL_S = 2.0


class Narrated(Message):
    """A line for the narration panel (posted from any thread)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class NarrationLog(RichLog):
    """The story so far, newest line last, wrapped; plain text (it quotes scanned payloads)."""

    DEFAULT_CSS = """
    NarrationLog {
        height: 10;
        border-top: solid $accent;
        padding: 0 1;
        background: $panel;
    }
    """


class NarratedGateScreen(GateScreen):
    """The gate screen with the narration panel above the typed-code line."""

    def on_mount(self) -> None:
        self.mount(NarrationLog(id="narration", wrap=True, markup=False, highlight=False), before="#typed")


class DemoGateApp(GateApp):
    """The gate app with the demo's camera and narration. ``shots`` is what the camera will see
    (``fps`` frames a second, after ``start_delay_s``); ``said`` collects every narrated line
    (printed again once the app has closed); the other options are GateApp's."""

    GATE_SCREEN = NarratedGateScreen
    # Textual resolves a relative CSS_PATH next to the subclass's module: point at the gate app's own.
    CSS_PATH = str(Path(inspect.getfile(GateApp)).with_name(str(GateApp.CSS_PATH)))
    TITLE = "ticketgate demo: Gate B"

    def __init__(
        self,
        *,
        shots: Sequence[Shot],
        intro: Sequence[str] = (),
        fps: float = APP_FPS,
        start_delay_s: float = START_DELAY_S,
        **options: Any,
    ) -> None:
        self.shots = tuple(shots)
        self.fps = fps
        self.start_delay_s = start_delay_s
        self.said: list[tuple[float, str]] = []  # (monotonic time, line)
        self.camera_results: list[ScanResult] = []
        self._intro = tuple(intro)
        # The demo camera, opened by the app's own camera worker like a USB camera.
        super().__init__(open_frames=self.camera, **options)

    def camera(self) -> ShotCamera:
        return ShotCamera(
            self.shots,
            fps=self.fps,
            realtime=True,
            on_shot=self._shot_shown,
            linger=True,
            start_delay_s=self.start_delay_s,
        )

    def say(self, text: str) -> None:
        """Narrate ``text``; safe from any thread (the camera calls it from its own)."""
        self.post_message(Narrated(text))

    def on_ready(self) -> None:
        super().on_ready()
        for line in self._intro:
            self.say(line)

    def _shot_shown(self, index: int) -> None:
        shot = self.shots[index]
        self.say(f"{shot.who} holds up {shot.payload} ({shot.why})")

    @on(Narrated)
    def narrated(self, message: Narrated) -> None:
        self.said.append((time.monotonic(), message.text))
        self.gate_screen.query_one(NarrationLog).write(Text(message.text))

    @on(ScanDecided)
    def camera_verdict(self, message: ScanDecided) -> None:
        """Beside the gate's own handling (the verdict panel): what the verdict shows."""
        result = message.result
        if result.source != "camera":
            self.say(describe(GATE_B, None, result))
            return
        index = len(self.camera_results)
        self.camera_results.append(result)
        shot = self.shots[index] if index < len(self.shots) else None
        self.say(describe(GATE_B, shot, result))
        if index + 1 == len(self.shots):
            self.say(
                "That was everyone. Gate B's background sync uploads its scans. Try F2 to type a code, "
                "F4 to look one up; Ctrl+Q ends the demo: both gates sync, then the checks run."
            )


def run_gate_app(stage: Stage, narrator: PrintedNarration) -> list[ScanResult]:
    """Run Gate B in the gate app until the user quits; the camera's verdicts, in order."""
    home: Path = stage.gate_b
    gate = gates.open_gate(home)
    app = DemoGateApp(
        shots=stage.shots,
        intro=(
            f"This is {GATE_B}, paired with the server and synced. Its camera is about to see "
            f"{len(stage.shots)} people, one every few seconds.",
        ),
        gate=gate,
        home=home,
        settings=load_settings(settings_path(home)),
        sync_interval_s=SYNC_INTERVAL_S,
        retry_forever=False,
    )
    try:
        with logging_off_the_terminal():
            app.run()
    finally:
        gate.close()
    narrator.chapter(f"{GATE_B} in the gate app")
    for at, line in app.said:
        narrator.say(line, at=at)
    return app.camera_results
