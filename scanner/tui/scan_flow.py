"""The scan flow: every scan (camera, handheld scanner, typed) queued, checked in order off the UI
thread, and its verdict painted, sounded and listed; a scan that could not be recorded says so."""

from __future__ import annotations

import queue
import time

from textual import on, work
from textual.worker import get_current_worker

from scanner.errors import ScannerError
from scanner.tui.gate_base import POLL_SECONDS, GateAppBase, ScanJob
from scanner.tui.messages import (
    CodeTyped,
    FiguresLoaded,
    PairingScanned,
    RecentLoaded,
    ScanDecided,
    ScanNotRecorded,
    StoreTrouble,
)
from scanner.tui.presentation import VerdictView, not_recorded_view, verdict_view
from scanner.tui.widgets.recent_scans import RecentScans
from scanner.verdicts import Direction, printable
from ticketcode.sync_protocol import PAIRING_PREFIX

_FIGURES_DELAY_SECONDS = 0.15  # quiet time after a scan before the counters are re-read


class ScanFlow(GateAppBase):
    """The one pipeline from camera, handheld scanner and manual entry to a verdict on screen."""

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
        self._jobs.put(ScanJob(raw, source, direction, time.perf_counter() if started is None else started))

    @work(thread=True, exclusive=True, exit_on_error=False, group="checker", name="checker")
    def run_checker(self) -> None:
        """Checks queued scans in order, off the UI thread: ``Gate.check`` waits for the disk."""
        worker = get_current_worker()
        figures_due = False
        while not worker.is_cancelled:
            try:
                job = self._jobs.get(timeout=_FIGURES_DELAY_SECONDS if figures_due else POLL_SECONDS)
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

    @on(ScanNotRecorded)
    def scan_not_recorded(self, message: ScanNotRecorded) -> None:
        view = not_recorded_view(message.raw, message.message)
        self._show_verdict(view)
        self._tell_if_hidden(view, error=True)
        self._set_problem("store", f"scan NOT recorded: {message.message}")
        self.sounder.play(None)

    @on(StoreTrouble)
    def store_trouble(self, message: StoreTrouble) -> None:
        self._set_problem("store", f"cannot read the store: {message.message}")

    @on(RecentLoaded)
    def recent_loaded(self, message: RecentLoaded) -> None:
        self.gate_screen.query_one(RecentScans).merge(message.scans)

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


def _is_pairing(raw: str | bytes) -> bool:
    head = raw[:40].decode("utf-8", "replace") if isinstance(raw, bytes) else raw[:40]
    return head.strip().lower().startswith(PAIRING_PREFIX)
