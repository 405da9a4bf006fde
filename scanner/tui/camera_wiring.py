"""The camera and its live view: the reader loop in its own thread, the camera's state on the status
line, and a preview that steps aside while a verdict is on its way to the screen."""

from __future__ import annotations

import time

from textual import on, work
from textual.css.query import NoMatches
from textual.worker import get_current_worker

from scanner.reader import CameraStatus, run_reader
from scanner.tui.gate_base import GateAppBase
from scanner.tui.messages import CameraStatusChanged, PreviewDrawn
from scanner.tui.widgets.camera_preview import CameraPreview
from scanner.tui.widgets.status_line import StatusLine

# Camera states that mean "the camera is not giving frames": shown as a problem until it is live.
_CAMERA_PROBLEMS = {"no camera", "retrying", "error"}
PREVIEW_SECONDS = 0.2  # the live view is redrawn at most 5 times a second: enough to aim by
# After a scan is queued the live view draws and shows nothing for this long, so the verdict's paint
# never shares the CPU or a screen refresh with a picture (bench/gate_latency.py measures both ways).
PREVIEW_YIELDS_SECONDS = 0.3


class CameraWiring(GateAppBase):
    """Frames in, decoded payloads to the scan flow, and the picture staff aim by."""

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

    def _camera_status(self, status: CameraStatus) -> None:
        self.post_message(CameraStatusChanged(status.state, status.message))

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
