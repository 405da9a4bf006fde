"""What every part of the gate app shares: its state, the verdict panel, the notices and the counters.

The gate app is one App built from parts, each in its own module: the scan flow (scan_flow.py), the
sync status and pairing (sync_wiring.py), the camera and its live view (camera_wiring.py), and the
shell that starts them and holds the keys (app.py). Each part is a subclass of this base, so Textual
collects its ``@on`` handlers and mypy sees the state it uses; GateApp in app.py assigns that state.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import tzinfo
from pathlib import Path

import numpy as np
from PIL.Image import Image
from textual import work
from textual.app import App
from textual.content import Content
from textual.timer import Timer
from textual.widgets import Static

from scanner.capture import FrameSource
from scanner.gate import Gate
from scanner.preview import PreviewBox, Quad
from scanner.settings import GateSettings
from scanner.sound import VerdictSounder
from scanner.sync.background import BackgroundSync
from scanner.sync.credentials import credentials_path
from scanner.tui.messages import FiguresLoaded, GateFigures, RecentLoaded
from scanner.tui.presentation import VerdictView, ready_view
from scanner.tui.screens.gate_screen import GateScreen
from scanner.tui.widgets.verdict_panel import VerdictPanel
from scanner.verdicts import Direction, ScanResult

POLL_SECONDS = 0.2  # how often an idle worker (checker, sync) looks at cancellation


@dataclass(frozen=True)
class ScanJob:
    """One scan waiting for the checker, in the order it was made."""

    raw: str | bytes
    source: str
    direction: Direction
    started: float


class GateAppBase(App[int]):
    """The gate app's shared state and painting; see the module docstring for the parts."""

    gate: Gate
    home: Path
    settings: GateSettings
    tz: tzinfo | None
    exit_mode: bool
    verdict_seconds: float
    problems: dict[str, str]
    figures: GateFigures | None  # the latest counters and key state shown
    syncer: BackgroundSync
    sounder: VerdictSounder
    preview_box: PreviewBox
    preview_on: bool
    gate_screen: GateScreen
    _open_frames: Callable[[], FrameSource] | None
    _retry_forever: bool
    _retry_seconds: float
    _on_painted: Callable[[ScanResult, float, float], None] | None
    _jobs: queue.Queue[ScanJob]
    _ready_timer: Timer | None
    _camera_problem: str | None
    _sync_interval_s: float | None
    _sync_now: threading.Event
    _last_scan_at: float  # perf_counter of the last scan queued, for the live view
    _draw_preview: Callable[[np.ndarray, tuple[Quad, ...]], Image]

    def submit(self, raw: str | bytes, *, source: str, started: float | None = None) -> None:
        """Queue a scan for checking: the scan flow's (scan_flow.py), which the camera feeds too."""
        raise NotImplementedError

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
