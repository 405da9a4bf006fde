"""The gate app: one pipeline from camera, handheld scanner and manual entry to a verdict on screen."""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import tzinfo
from pathlib import Path
from typing import ClassVar

import numpy as np
from PIL.Image import Image
from textual import on, work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Static
from textual.worker import Worker, WorkerState, get_current_worker

from scanner.capture import FrameSource
from scanner.errors import ScannerError, SyncError
from scanner.gate import Gate
from scanner.paths import settings_path
from scanner.preview import PreviewBox, Quad, draw, preview_wanted
from scanner.reader import CameraStatus, run_reader
from scanner.settings import GateSettings, save_settings
from scanner.sound import VerdictSounder
from scanner.sync.background import BackgroundSync
from scanner.sync.credentials import credentials_path, load_credentials
from scanner.sync.schedule import SyncSchedule
from scanner.tui.messages import (
    CameraStatusChanged,
    CodeTyped,
    FiguresLoaded,
    GateFigures,
    PairingDone,
    PairingScanned,
    PreviewDrawn,
    RecentLoaded,
    ScanDecided,
    ScanNotRecorded,
    StoreTrouble,
    SyncFinished,
)
from scanner.tui.presentation import VerdictView, not_recorded_view, ready_view, verdict_view
from scanner.tui.screens.confirm_quit import ConfirmQuitScreen
from scanner.tui.screens.gate_screen import GateScreen
from scanner.tui.screens.help import HelpScreen
from scanner.tui.screens.lookup import LookupScreen
from scanner.tui.screens.manual_entry import ManualEntryScreen
from scanner.tui.screens.pair import PairRequested, PairScreen
from scanner.tui.screens.passphrase import PassphraseScreen
from scanner.tui.screens.settings_form import SettingsScreen
from scanner.tui.widgets.camera_preview import CameraPreview
from scanner.tui.widgets.counters import CountersBox
from scanner.tui.widgets.recent_scans import RecentScans
from scanner.tui.widgets.status_line import GateStatus, StatusLine
from scanner.tui.widgets.verdict_panel import VerdictPanel
from scanner.verdicts import Direction, ScanResult, printable
from ticketcode.sync_protocol import PAIRING_PREFIX, Pairing

# Camera states that mean "the camera is not giving frames": shown as a problem until it is live.
_CAMERA_PROBLEMS = {"no camera", "retrying", "error"}
# Actions that only make sense on the gate screen (not while a dialog or the look-up is open).
_GATE_ACTIONS = {"manual", "toggle_mode", "lookup", "toggle_sound", "settings", "ready", "help", "pair"}
_QUEUE_POLL_SECONDS = 0.2  # how often the idle checker looks at cancellation
_FIGURES_DELAY_SECONDS = 0.15  # quiet time after a scan before the counters are re-read
PREVIEW_SECONDS = 0.2  # the live view is redrawn at most 5 times a second: enough to aim by
# After a scan is queued the live view draws and shows nothing for this long, so the verdict's paint
# never shares the CPU or a screen refresh with a picture (bench/gate_latency.py measures both ways).
PREVIEW_YIELDS_SECONDS = 0.3


@dataclass(frozen=True)
class _ScanJob:
    raw: str | bytes
    source: str
    direction: Direction
    started: float


class GateApp(App[int]):
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
        self._jobs: queue.Queue[_ScanJob] = queue.Queue()
        self._ready_timer: Timer | None = None
        self._camera_problem: str | None = None
        self.problems: dict[str, str] = {}
        self.figures: GateFigures | None = None  # the latest counters and key state shown
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
        self.gate_screen = GateScreen(
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

    def submit(self, raw: str | bytes, *, source: str, started: float | None = None) -> None:
        """Queue a scan for checking. Thread-safe: the camera thread calls it too.

        A pairing text is never a ticket: it goes to the pair dialog (or a hint), not the checker.
        """
        if _is_pairing(raw):
            self.post_message(
                PairingScanned(raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw)
            )
            return
        direction = Direction.OUT if self.exit_mode else Direction.IN
        self._last_scan_at = time.perf_counter()  # one float: safe to write from any thread
        self._jobs.put(_ScanJob(raw, source, direction, time.perf_counter() if started is None else started))

    @work(thread=True, exclusive=True, exit_on_error=False, group="checker", name="checker")
    def run_checker(self) -> None:
        """Checks queued scans in order, off the UI thread: ``Gate.check`` waits for the disk."""
        worker = get_current_worker()
        figures_due = False
        while not worker.is_cancelled:
            try:
                job = self._jobs.get(timeout=_FIGURES_DELAY_SECONDS if figures_due else _QUEUE_POLL_SECONDS)
            except queue.Empty:
                if figures_due:
                    # Counters are read once scans pause, so the read never delays a verdict's paint.
                    figures_due = False
                    try:
                        self.post_message(FiguresLoaded(self._read_figures(check_keys=False)))
                    except ScannerError as exc:
                        self.post_message(StoreTrouble(str(exc)))
                continue
            try:
                result = self.gate.check(job.raw, direction=job.direction, source=job.source)
            except Exception as exc:  # whatever failed, this scan was not recorded
                # Not recorded means no verdict may be shown: say so and keep checking later scans.
                # Not only ScannerError: an unforeseen failure must not swallow the scan either
                # (the worker used to die and restart, and staff saw neither verdict nor warning).
                message = str(exc) if isinstance(exc, ScannerError) else f"{type(exc).__name__}: {exc}"
                if not isinstance(exc, ScannerError):
                    self.log.error(f"checking a scan failed: {message}")
                self.post_message(
                    ScanNotRecorded(
                        printable(job.raw), source=job.source, message=message, started=job.started
                    )
                )
                continue
            self.post_message(ScanDecided(result, started=job.started))
            figures_due = True

    @work(thread=True, exclusive=True, exit_on_error=False, group="camera", name="camera")
    def run_camera(self) -> None:
        """The camera loop (decoding and debouncing are the reader's); stops when the worker is cancelled."""
        assert self._open_frames is not None
        worker = get_current_worker()
        run_reader(
            self._open_frames,
            on_payload=lambda payload: self.submit(payload, source="camera"),
            on_status=self._camera_status,
            should_stop=lambda: worker.is_cancelled,
            retry_seconds=self._retry_seconds,
            retry_forever=self._retry_forever,
            # a reference swap: the camera thread never waits for the live view
            on_frame=lambda frame, symbols: self.preview_box.offer(frame, [s.corners for s in symbols]),
        )

    @work(thread=True, exclusive=True, exit_on_error=False, group="preview", name="preview")
    def run_preview(self) -> None:
        """Draws the newest camera frame a few times a second in its own thread, off the verdict path."""
        worker = get_current_worker()
        seen = 0
        while not worker.is_cancelled:
            time.sleep(PREVIEW_SECONDS)
            seen, frame, quads = self.preview_box.take(seen)
            if frame is not None and self.preview_on and not self._preview_yields():
                self.post_message(PreviewDrawn(self._draw_preview(frame, quads), codes=len(quads)))

    def _preview_yields(self) -> bool:
        """Whether a verdict may be on its way to the screen: the live view then waits."""
        return time.perf_counter() - self._last_scan_at < PREVIEW_YIELDS_SECONDS

    @work(thread=True, exclusive=True, exit_on_error=False, group="sync", name="sync")
    def run_sync(self) -> None:
        """Sync rounds every interval while the server answers, backing off while it does not. The
        network is touched here only: the checker never waits for it."""
        assert self._sync_interval_s is not None
        worker = get_current_worker()
        schedule = SyncSchedule(interval_s=self._sync_interval_s)
        while not worker.is_cancelled:
            self._sync_now.clear()
            outcome = self.syncer.run_once()
            self.post_message(SyncFinished(outcome))
            link = outcome.report.link if outcome.report else "never"
            deadline = time.monotonic() + schedule.next_delay(link)
            while not worker.is_cancelled and not self._sync_now.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._sync_now.wait(min(remaining, _QUEUE_POLL_SECONDS))

    def on_unmount(self) -> None:
        # A round blocked on a slow server would otherwise hold the exit until its deadline.
        self.syncer.stop()

    def sync_soon(self) -> None:
        """Wake the sync worker now (after pairing, or when staff ask)."""
        self._sync_now.set()

    @work(thread=True, exclusive=True, exit_on_error=False, group="pairing", name="pairing")
    def pair_now(self, pairing: Pairing) -> None:
        try:
            credentials, report = self.syncer.pair(pairing)
        except SyncError as exc:
            self.post_message(PairingDone(summary="", error=str(exc), event=None, gate=None))
            return
        summary = f"paired as {credentials.device_name} for {credentials.event}: "
        if report.ok:
            summary += f"{report.pulled.tickets} ticket(s) and the event's keys pulled"
        else:
            summary += f"the first sync failed ({report.problem}); it is retried in the background"
        self.post_message(
            PairingDone(summary=summary, error=None, event=credentials.event, gate=credentials.device_name)
        )

    def _camera_status(self, status: CameraStatus) -> None:
        self.post_message(CameraStatusChanged(status.state, status.message))

    @work(thread=True, exclusive=True, exit_on_error=False, group="figures", name="figures")
    def load_figures(self, with_recent: bool = False) -> None:
        """Counters, keys and key problems, sync state (at start also recent scans), off the UI thread."""
        figures = self._read_figures(check_keys=True)
        if with_recent:
            self.post_message(RecentLoaded(self.gate.store.recent_scans(20)))
        self.post_message(FiguresLoaded(figures))

    def _read_figures(self, *, check_keys: bool) -> GateFigures:
        gate = self.gate
        key_problems = gate.keys.problems() if check_keys else []
        paired = credentials_path(self.home).exists()
        return GateFigures(
            counters=gate.store.counters(event=gate.event),
            pending_upload=gate.store.pending_upload_count(),
            last_sync_at=gate.store.last_sync_at(),
            key_versions=tuple(k.version for k in gate.keys.keys_for(gate.event)),
            keys_checked=check_keys,
            problem="; ".join(key_problems) if key_problems else None,
            paired=paired,
            sync=gate.store.sync_state(gate.event) if paired else None,
        )

    @work(thread=True, exit_on_error=False, group="settings", name="save settings")
    def save_settings(self, settings: GateSettings) -> None:
        save_settings(settings_path(self.home), settings)

    # -- results on the UI thread --------------------------------------------------------------

    @on(CodeTyped)
    def code_typed(self, message: CodeTyped) -> None:
        self.submit(message.text, source=message.source, started=message.started)

    @on(ScanDecided)
    def scan_decided(self, message: ScanDecided) -> None:
        result = message.result
        view = verdict_view(result, self.tz)
        self._show_verdict(view)
        self._tell_if_hidden(view, error=not result.admitted)
        self.gate_screen.query_one(RecentScans).add(result)
        self.sounder.play(result.verdict)
        if self._on_painted is not None:
            callback, started = self._on_painted, message.started
            self.call_after_refresh(lambda: callback(result, started, time.perf_counter()))

    @on(PreviewDrawn)
    def preview_drawn(self, message: PreviewDrawn) -> None:
        if not self.preview_on or self._preview_yields():
            return  # off, or drawn just before a scan: the next picture comes in PREVIEW_SECONDS
        try:
            preview = self.gate_screen.query_one(CameraPreview)
            preview.show(message.picture, codes=message.codes)
        except NoMatches:
            return  # the app is closing: its widgets are already gone

    def set_preview(self, on: bool) -> None:
        """Show or hide the live camera view now (there is none without a camera)."""
        on = on and self._open_frames is not None
        if on == self.preview_on:
            return
        self.preview_on = on
        self.gate_screen.query_one(CameraPreview).display = on
        if on:
            self.run_preview()
        else:
            self.workers.cancel_group(self, "preview")

    @on(ScanNotRecorded)
    def scan_not_recorded(self, message: ScanNotRecorded) -> None:
        view = not_recorded_view(message.raw, message.message)
        self._show_verdict(view)
        self._tell_if_hidden(view, error=True)
        self._set_problem("store", f"scan NOT recorded: {message.message}")
        self.sounder.play(None)

    @on(FiguresLoaded)
    def figures_loaded(self, message: FiguresLoaded) -> None:
        figures = self.figures = message.figures
        self.gate_screen.query_one(CountersBox).show(figures.counters)
        self.gate_screen.query_one(StatusLine).change(
            key_versions=figures.key_versions,
            last_sync_at=figures.last_sync_at,
            pending_upload=figures.pending_upload,
            paired=figures.paired,
        )
        if figures.sync is not None:
            sync = figures.sync
            self.gate_screen.query_one(StatusLine).change(
                link=sync.link,
                link_since=sync.link_since,
                conflicts=sync.conflicts,
                clock_offset_ms=sync.clock_offset_ms,
            )
        if figures.keys_checked:
            self._set_problem("keys", f"key folder: {figures.problem}" if figures.problem else None)
        # A store that answers again has recovered from whatever made a scan fail.
        self._set_problem("store", None)

    @on(SyncFinished)
    def sync_finished(self, message: SyncFinished) -> None:
        """Offline is normal at a venue (the status line says since when); what staff must act on —
        a revoked device, a key that does not match, unusable credentials — is a notice."""
        outcome = message.outcome
        report = outcome.report
        problem = outcome.problem
        if report is not None and report.exit_code == 2:
            problem = report.problem
        self._set_problem("sync", f"sync: {problem}" if problem else None)
        self.load_figures()

    @on(PairRequested)
    def pair_requested(self, message: PairRequested) -> None:
        self.pair_now(message.pairing)

    @on(PairingDone)
    def pairing_done(self, message: PairingDone) -> None:
        dialog = self.screen if isinstance(self.screen, PairScreen) else None
        if message.error is not None:
            if dialog is not None:
                dialog.finished(ok=False, text=message.error)
            else:
                self.notify(f"pairing failed: {message.error}", severity="error", timeout=10, markup=False)
            return
        if dialog is not None:
            dialog.finished(ok=True, text=message.summary)
        # The device's name and event are the gate's from now on (also saved for the next start).
        if message.gate and message.event:
            self.gate.gate_name = message.gate
            self.gate.event = message.event
            self.settings = self.settings.merged(gate_name=message.gate, event=message.event)
            self.gate_screen.query_one(StatusLine).change(gate=message.gate, event=message.event)
        self._set_problem("sync", None)
        self.notify(message.summary, timeout=8, markup=False)
        self.load_figures()
        self.sync_soon()

    @on(PairingScanned)
    def pairing_scanned(self, message: PairingScanned) -> None:
        if isinstance(self.screen, PairScreen):
            self.screen.use(message.text)
        else:
            # Never acted on from the gate screen: a stranger's QR code must not re-pair a gate.
            self.notify(
                "a pairing code was scanned: to pair this gate, open F6 Settings → Pair and scan it again",
                timeout=8,
                markup=False,
            )

    @on(StoreTrouble)
    def store_trouble(self, message: StoreTrouble) -> None:
        self._set_problem("store", f"cannot read the store: {message.message}")

    @on(RecentLoaded)
    def recent_loaded(self, message: RecentLoaded) -> None:
        self.gate_screen.query_one(RecentScans).merge(message.scans)

    @on(CameraStatusChanged)
    def camera_changed(self, message: CameraStatusChanged) -> None:
        if message.state == "starting" and self._camera_problem is not None:
            # A retry is under way: keep showing the problem until the camera is live again, rather
            # than flickering between "starting" and "no camera" every retry.
            return
        self.gate_screen.query_one(StatusLine).change(camera=message.state)
        if message.state in _CAMERA_PROBLEMS:
            self._camera_problem = message.message
            label = message.state if message.state == "no camera" else f"camera {message.state}"
            self._set_problem("camera", f"{label}: {message.message}")
        else:
            self._camera_problem = None
            if message.state == "ended":
                self._set_problem("camera", f"{message.message} (manual entry still works)")
            else:
                self._set_problem("camera", None)
        if self._panel.view.style == "-ready":
            self._show_ready()

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

    def action_pair(self) -> None:
        try:
            paired_with: str | None = load_credentials(self.home).server_url
        except ScannerError:
            paired_with = None
        self.push_screen(PairScreen(paired_with=paired_with))

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

    # -- painting ------------------------------------------------------------------------------

    @property
    def _panel(self) -> VerdictPanel:
        return self.gate_screen.query_one(VerdictPanel)

    def _show_verdict(self, view: VerdictView) -> None:
        self._panel.show(view)
        if self._ready_timer is not None:
            self._ready_timer.stop()
        if self.verdict_seconds > 0:
            self._ready_timer = self.set_timer(self.verdict_seconds, self._show_ready)

    def _tell_if_hidden(self, view: VerdictView, *, error: bool) -> None:
        """A verdict reached while the look-up covers the gate screen (the camera keeps scanning) is
        also shown where staff are looking: otherwise an ADMIT is recorded that nobody saw, and the
        person's next scan says ALREADY USED."""
        if self.screen is self.gate_screen:
            return
        self.notify(
            f"{view.serial} {view.reason}".strip(),
            title=view.word,
            severity="error" if error else "information",
            timeout=max(self.verdict_seconds, 4.0),
            markup=False,
        )

    def _show_ready(self) -> None:
        self._ready_timer = None
        self._panel.show(ready_view(exit_mode=self.exit_mode, camera_problem=self._camera_problem))

    def _set_problem(self, kind: str, text: str | None) -> None:
        if text is None:
            if self.problems.pop(kind, None) is None:
                return
        else:
            if self.problems.get(kind) == text:
                return
            self.problems[kind] = text
        self._show_problems()

    def _show_problems(self) -> None:
        notice = self.gate_screen.query_one("#notice", Static)
        # Plain Content: messages quote paths, camera names and errors, which may hold "[".
        notice.update(Content("\n".join(f"⚠ {text}" for text in self.problems.values())))
        notice.display = bool(self.problems)


def _is_pairing(raw: str | bytes) -> bool:
    head = raw[:40].decode("utf-8", "replace") if isinstance(raw, bytes) else raw[:40]
    return head.strip().lower().startswith(PAIRING_PREFIX)
