"""The sync status and pairing: the background sync worker, pairing a gate with a scanned code, and
the counters, link and conflicts the status line shows."""

from __future__ import annotations

import time

from textual import on, work
from textual.worker import get_current_worker

from scanner.errors import ScannerError, SyncError
from scanner.sync.credentials import load_credentials
from scanner.sync.schedule import SyncSchedule
from scanner.tui.gate_base import POLL_SECONDS, GateAppBase
from scanner.tui.messages import FiguresLoaded, PairingDone, PairingScanned, SyncFinished
from scanner.tui.screens.pair import PairRequested, PairScreen
from scanner.tui.widgets.counters import CountersBox
from scanner.tui.widgets.status_line import StatusLine
from ticketcode.sync_protocol import Pairing


class SyncWiring(GateAppBase):
    """Keeps the gate in step with the server without ever making a scan wait for the network."""

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
                self._sync_now.wait(min(remaining, POLL_SECONDS))

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

    def action_pair(self) -> None:
        try:
            paired_with: str | None = load_credentials(self.home).server_url
        except ScannerError:
            paired_with = None
        self.push_screen(PairScreen(paired_with=paired_with))
