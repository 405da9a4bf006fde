"""The gate app: one pipeline from camera, handheld scanner and manual entry to a verdict on screen.

This module is the shell (state, start, keys, settings, worker failures); the parts it is built from
are the scan flow (scan_flow.py), sync status and pairing (sync_wiring.py) and the camera with its
live view (camera_wiring.py), over the shared state and painting in gate_base.py.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable
from datetime import tzinfo
from pathlib import Path
from typing import ClassVar

import numpy as np
from PIL.Image import Image
from textual import on, work
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from scanner.capture import FrameSource
from scanner.errors import ScannerError
from scanner.gate import Gate
from scanner.paths import settings_path
from scanner.preview import PreviewBox, Quad, draw, preview_wanted
from scanner.settings import GateSettings, save_settings
from scanner.sound import VerdictSounder
from scanner.sync.background import BackgroundSync
from scanner.tui.camera_wiring import CameraWiring
from scanner.tui.messages import CameraStatusChanged
from scanner.tui.presentation import ready_view
from scanner.tui.scan_flow import ScanFlow
from scanner.tui.screens.confirm_quit import ConfirmQuitScreen
from scanner.tui.screens.gate_screen import GateScreen
from scanner.tui.screens.help import HelpScreen
from scanner.tui.screens.lookup import LookupScreen
from scanner.tui.screens.manual_entry import ManualEntryScreen
from scanner.tui.screens.passphrase import PassphraseScreen
from scanner.tui.screens.settings_form import SettingsScreen
from scanner.tui.sync_wiring import SyncWiring
from scanner.tui.widgets.status_line import GateStatus, StatusLine
from scanner.verdicts import ScanResult

# Actions that only make sense on the gate screen (not while a dialog or the look-up is open).
_GATE_ACTIONS = {"manual", "toggle_mode", "lookup", "toggle_sound", "settings", "ready", "help", "pair"}


class GateApp(ScanFlow, SyncWiring, CameraWiring):
    """The gate staff's screen. Built by :func:`scanner.tui.launch.scan` or by tests with real parts.

    ``open_frames`` opens the camera (or a file) for the reader; None means no camera (handheld
    scanner and manual entry only). ``ring`` sounds one bell (default: the terminal bell).
    ``on_painted(result, started, painted)`` is called once a verdict is on screen (benchmark).
    ``sync_interval_s`` runs the background sync every so many seconds (None: no background sync).
    """

    CSS_PATH = "gate.tcss"
    TITLE = "ticketgate gate"
    ENABLE_COMMAND_PALETTE = False
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]  # noqa: RUF012 (Textual declares it)
    VERTICAL_BREAKPOINTS = [(0, "-short"), (36, "-tall")]  # noqa: RUF012
    # The screen the gate works on; the whole-system demo uses one with a narration panel added.
    GATE_SCREEN: ClassVar[type[GateScreen]] = GateScreen
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f1", "help", "Help"),
        Binding("f2", "manual", "Type"),
        Binding("f3", "toggle_mode", "In/Out"),
        Binding("f4", "lookup", "Look-up"),
        Binding("f5", "toggle_sound", "Sound"),
        Binding("f6", "settings", "Setup"),
        Binding("escape", "ready", "Clear", show=False),
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]

    def __init__(
        self,
        *,
        gate: Gate,
        home: Path,
        settings: GateSettings,
        open_frames: Callable[[], FrameSource] | None = None,
        tz: tzinfo | None = None,
        verdict_seconds: float = 4.0,
        ring: Callable[[], None] | None = None,
        retry_forever: bool = True,
        retry_seconds: float = 2.0,
        refresh_seconds: float = 30.0,
        on_painted: Callable[[ScanResult, float, float], None] | None = None,
        startup_problem: str | None = None,
        draw_preview: Callable[[np.ndarray, tuple[Quad, ...]], Image] = draw,
        sync_interval_s: float | None = None,
    ) -> None:
        super().__init__()
        self.gate = gate
        self.home = home
        self.settings = settings
        self.tz = tz
        self.exit_mode = False
        self.verdict_seconds = verdict_seconds
        self._open_frames = open_frames
        self._retry_forever = retry_forever
        self._retry_seconds = retry_seconds
        self._refresh_seconds = refresh_seconds
        self._on_painted = on_painted
        self._jobs = queue.Queue()
        self._ready_timer = None
        self._camera_problem = None
        self.problems = {}
        self.figures = None
        if startup_problem:
            self.problems["settings"] = startup_problem
        self.syncer = BackgroundSync(home=home, store=gate.store, keys=gate.keys)
        self._sync_interval_s = sync_interval_s
        self._sync_now = threading.Event()
        self.sounder = VerdictSounder(
            ring=ring or self.bell,
            schedule=lambda delay, fn: self.set_timer(delay, fn),
            enabled=settings.sound,
        )
        self.preview_box = PreviewBox()
        self._last_scan_at = float("-inf")  # perf_counter of the last scan queued, for the live view
        self._draw_preview = draw_preview
        self.preview_on = open_frames is not None and preview_wanted(settings.preview, os.environ)
        self.gate_screen = self.GATE_SCREEN(
            status=GateStatus(
                event=gate.event,
                gate=gate.gate_name,
                camera="starting" if open_frames else "off",
                sound=settings.sound,
            ),
            view=ready_view(exit_mode=False),
            tz=tz,
            preview=self.preview_on,
        )

    # -- start ---------------------------------------------------------------------------------

    def get_default_screen(self) -> Screen[None]:
        return self.gate_screen

    def on_ready(self) -> None:
        # Ready, not Mount: the gate screen's widgets exist only once the first frame is up.
        self._show_problems()
        self.run_checker()
        self.load_figures(with_recent=True)
        if self._open_frames is not None:
            self.run_camera()
            if self.preview_on:
                self.run_preview()
        if self.gate.keys.locked:
            # Sealed key files: ask first; sync would have to seal what it pulls, so it waits too.
            self.push_screen(
                PassphraseScreen(unlock=self.gate.keys.unlock, folder=str(self.gate.keys.directory)),
                self._keys_unlocked,
            )
        elif self._sync_interval_s is not None:
            self.run_sync()
        if self._refresh_seconds > 0:
            # Keys imported or a sync run by another process show up without a restart.
            self.set_interval(self._refresh_seconds, self.load_figures)

    def _keys_unlocked(self, _unlocked: bool | None) -> None:
        self.notify("key files unlocked", timeout=3)
        self.load_figures()
        if self._sync_interval_s is not None:
            self.run_sync()

    # -- the one pipeline ----------------------------------------------------------------------
    def on_unmount(self) -> None:
        # A round blocked on a slow server would otherwise hold the exit until its deadline.
        self.syncer.stop()

    @work(thread=True, exit_on_error=False, group="settings", name="save settings")
    def save_settings(self, settings: GateSettings) -> None:
        save_settings(settings_path(self.home), settings)

    @on(Worker.StateChanged)
    def worker_changed(self, event: Worker.StateChanged) -> None:
        """Every worker failure ends here and becomes something staff can see."""
        if event.state is not WorkerState.ERROR:
            return
        worker, error = event.worker, event.worker.error
        text = str(error) if isinstance(error, ScannerError) else f"{type(error).__name__}: {error}"
        self.log.error(f"worker {worker.name!r} failed: {text}")
        if worker.group == "checker":
            self._set_problem("checker", f"scan checking failed and was restarted: {text}")
            self.run_checker()
        elif worker.group == "camera":
            self.camera_changed(CameraStatusChanged("error", text))
        elif worker.group == "figures":
            self._set_problem("store", f"cannot read the store or keys: {text}")
        elif worker.group == "sync":
            self._set_problem("sync", f"background sync failed and was restarted: {text}")
            self.set_timer(self._sync_interval_s or 10.0, self.run_sync)
        elif worker.group == "settings":
            self.notify(f"settings not saved: {text}", severity="error", timeout=10, markup=False)
        else:
            self.notify(
                f"{worker.name or worker.group} failed: {text}", severity="error", timeout=10, markup=False
            )

    # -- actions -------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Gate keys do nothing while a dialog or the look-up is on top.
        return not (action in _GATE_ACTIONS and self.screen is not self.gate_screen)

    def action_manual(self) -> None:
        def entered(text: str | None) -> None:
            if text:
                self.submit(text, source="manual")

        try:
            held = self.gate.keys.keys_for(self.gate.event)
        except ScannerError:
            held = []  # the key folder's problem is on the status line already; typing still works
        ed25519 = bool(held) and all(not k.can_issue for k in held)
        self.push_screen(ManualEntryScreen(event=self.gate.event, ed25519=ed25519), entered)

    def action_toggle_mode(self) -> None:
        self.exit_mode = not self.exit_mode
        self.gate_screen.query_one(StatusLine).change(exit_mode=self.exit_mode)
        self.notify("EXIT mode: scans record people leaving" if self.exit_mode else "ENTRY mode", timeout=3)
        if self._panel.view.style == "-ready":
            self._show_ready()

    def action_toggle_sound(self) -> None:
        self.settings = self.settings.merged(sound=not self.settings.sound)
        self.sounder.enabled = self.settings.sound
        self.gate_screen.query_one(StatusLine).change(sound=self.settings.sound)
        self.notify("sound on" if self.settings.sound else "sound off", timeout=2)
        self.save_settings(self.settings)

    def action_lookup(self) -> None:
        self.push_screen(LookupScreen(self.gate.store, tz=self.tz))

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_settings(self) -> None:
        def edited(new: GateSettings | None) -> None:
            if new is None:
                return
            later = []
            if (new.event or self.gate.event) != self.gate.event:
                later.append("event")
            if new.camera != self.settings.camera:
                later.append("camera")
            if new.gate_name and new.gate_name != self.gate.gate_name:
                self.gate.gate_name = new.gate_name
                self.gate_screen.query_one(StatusLine).change(gate=new.gate_name)
            self.settings = new
            self.set_preview(preview_wanted(new.preview, os.environ))
            self.sounder.enabled = new.sound
            self.gate_screen.query_one(StatusLine).change(sound=new.sound)
            self.save_settings(new)
            note = f"; {' and '.join(later)} apply at the next start" if later else ""
            self.notify(f"settings saved{note}", timeout=5)

        self.push_screen(
            SettingsScreen(
                self.settings, gate_name=self.gate.gate_name, event=self.gate.event, preview=self.preview_on
            ),
            edited,
        )

    def action_ready(self) -> None:
        self.gate_screen.clear_typed()
        self._show_ready()

    async def action_quit(self) -> None:
        def answered(quit_app: bool | None) -> None:
            if quit_app:
                self.exit(0)

        if isinstance(self.screen, ConfirmQuitScreen):
            return
        self.push_screen(ConfirmQuitScreen(), answered)
