"""The camera loop on generated gate videos: scans after debouncing, dropped frames, failures as status."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from scanner.capture import FrameSource, open_source
from scanner.decode import decode_frame
from scanner.errors import CaptureError
from scanner.reader import CameraStatus, run_reader
from tests.gatecams import GATE_CONDITIONS, Shot, write_video
from ticketcode import derive_event_key, issue_code

KEY = derive_event_key(b"reader tests master secret", "GATE24")
A, B, C = (issue_code(KEY, serial, width=4) for serial in (1, 2, 3))
NOT_A_TICKET = "https://example.org/menu"
BINARY = b"\x00\xff\xfe binary \x80"


class Recorder:
    """Collects what run_reader reports, with the time each scan arrived."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.scans: list[bytes] = []
        self.scan_times: list[float] = []
        self.statuses: list[CameraStatus] = []

    def on_payload(self, payload: bytes) -> None:
        self.scans.append(payload)
        self.scan_times.append(time.monotonic() - self.started)

    def on_status(self, status: CameraStatus) -> None:
        self.statuses.append(status)

    @property
    def states(self) -> list[str]:
        return [status.state for status in self.statuses]


def run(open_frames: Callable[[], FrameSource], recorder: Recorder, **options: object) -> None:
    stop = options.pop("should_stop", lambda: False)
    run_reader(
        open_frames,
        on_payload=recorder.on_payload,
        on_status=recorder.on_status,
        should_stop=stop,  # type: ignore[arg-type]
        **options,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def gate_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tickets with gaps and repeats, as a gate camera sees a queue of people (15 fps, 13.5 s)."""
    folder = tmp_path_factory.mktemp("reader")
    shots = [
        Shot(None, 0.5),
        Shot(A, 3.0),  # held for 3 s: one scan
        Shot(None, 2.0),  # A leaves the view
        Shot(B, 1.0, GATE_CONDITIONS["tilted"]),
        Shot(C, 1.0, GATE_CONDITIONS["dark mode phone"]),  # right after B, no gap
        Shot(C, 0.5, GATE_CONDITIONS["tilted"]),  # C moves: same scan
        Shot(None, 2.0),
        Shot(A, 1.0),  # A again after it left: a new scan (the gate will say ALREADY_USED)
        Shot(None, 0.4),  # a flicker shorter than the debounce window
        Shot(A, 0.6),
        Shot(NOT_A_TICKET, 1.0),
        Shot(BINARY, 1.0),
        Shot(None, 0.5),
    ]
    return write_video(folder / "queue.avi", shots, fps=15)


def test_video_of_a_queue_gives_the_expected_scans_after_debouncing(gate_video: Path) -> None:
    recorder = Recorder()
    run(lambda: open_source(path=gate_video, realtime=False), recorder)
    assert recorder.scans == [A.encode(), B.encode(), C.encode(), A.encode(), NOT_A_TICKET.encode(), BINARY]
    assert recorder.states == ["starting", "live", "ended"]
    assert recorder.statuses[-1].message == "video queue.avi ended"


@pytest.fixture(scope="module")
def short_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1 s of nothing, 1 s of ticket A, 2 s of nothing, at 30 fps."""
    folder = tmp_path_factory.mktemp("reader-short")
    return write_video(folder / "short.avi", [Shot(None, 1.0), Shot(A, 1.0), Shot(None, 2.0)])


def test_slow_decoding_drops_frames_instead_of_falling_behind(short_video: Path) -> None:
    decoded = 0

    def slow_decode(frame: np.ndarray) -> list[bytes]:
        nonlocal decoded
        decoded += 1
        time.sleep(0.2)  # a decoder five times slower than the camera's frame rate allows
        return decode_frame(frame)

    recorder = Recorder()
    run(lambda: open_source(path=short_video, realtime=True), recorder, decode=slow_decode)
    elapsed = time.monotonic() - recorder.started
    assert recorder.scans == [A.encode()]
    # 120 frames; a queue would take 120 x 0.2 s = 24 s to drain and show A about 6 s late
    assert decoded <= 4.0 / 0.2 + 3
    assert elapsed < 4.0 + 1.0
    assert 1.0 <= recorder.scan_times[0] < 1.0 + 2 * 0.2 + 0.5  # A shows up at 1 s
    assert recorder.states == ["starting", "live", "ended"]


def test_realtime_video_with_the_default_decoder_scans_each_ticket_once(short_video: Path) -> None:
    recorder = Recorder()
    run(lambda: open_source(path=short_video, realtime=True), recorder)
    assert recorder.scans == [A.encode()]
    assert 1.0 <= recorder.scan_times[0] < 1.5


def test_missing_camera_is_reported_and_retried_until_stopped() -> None:
    recorder = Recorder()

    def stop() -> bool:
        return recorder.states.count("no camera") >= 3

    run(lambda: open_source(camera=7), recorder, should_stop=stop, retry_seconds=0.1)
    assert recorder.states == ["starting", "no camera"] * 3
    assert recorder.statuses[1].message == (
        "camera 7 cannot be opened (not plugged in, or used by another program); retrying in 0.1 s"
    )
    assert recorder.scans == []


def test_missing_device_path_without_retry_returns_with_a_clear_status() -> None:
    recorder = Recorder()
    run(lambda: open_source(camera="/dev/video-gate-b"), recorder, retry_forever=False)
    assert recorder.statuses == [
        CameraStatus("starting", "opening the camera"),
        CameraStatus("no camera", "no camera at /dev/video-gate-b (is it plugged in?)"),
    ]


def test_camera_unplugged_mid_stream_is_reported_and_reopened(tmp_path: Path) -> None:
    # the camera code path on a device path that is a video file: when it runs out of frames it
    # behaves as an unplugged camera, and reopening it is the camera coming back
    clip = write_video(tmp_path / "cam.avi", [Shot(A, 0.5), Shot(None, 0.5)])
    recorder = Recorder()

    def stop() -> bool:
        return recorder.states.count("retrying") >= 2

    run(lambda: open_source(camera=str(clip)), recorder, should_stop=stop, retry_seconds=0.2)
    assert recorder.states == ["starting", "live", "retrying"] * 2
    assert "stopped delivering frames" in recorder.statuses[2].message
    assert recorder.statuses[2].message.endswith("retrying in 0.2 s")
    assert recorder.scans[0] == A.encode()


def test_truncated_video_scans_what_it_holds_then_ends(gate_video: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.avi"
    data = gate_video.read_bytes()
    cut.write_bytes(data[: len(data) // 3])  # about the first 4.5 s: A held, then nothing
    recorder = Recorder()
    run(lambda: open_source(path=cut, realtime=False), recorder)
    assert recorder.scans == [A.encode()]
    assert recorder.states == ["starting", "live", "ended"]


def test_unopenable_file_without_retry_is_a_status_not_an_exception(tmp_path: Path) -> None:
    junk = tmp_path / "junk.avi"
    junk.write_bytes(b"RIFF" + bytes(100))
    recorder = Recorder()
    run(lambda: open_source(path=junk, realtime=False), recorder, retry_forever=False)
    assert recorder.states == ["starting", "no camera"]
    assert "not a video file" in recorder.statuses[1].message


def test_should_stop_ends_a_live_stream_promptly_and_closes_the_source(short_video: Path) -> None:
    recorder = Recorder()
    sources: list[FrameSource] = []

    def open_frames() -> FrameSource:
        sources.append(open_source(camera=str(short_video)))
        return sources[-1]

    run(open_frames, recorder, should_stop=lambda: bool(recorder.scans))
    assert recorder.scans == [A.encode()]
    assert time.monotonic() - recorder.started < 2.5  # A appears at 1 s; the video lasts 4 s
    time.sleep(0.1)
    with pytest.raises(CaptureError, match="closed"):
        sources[0].read()


def test_failing_callbacks_and_failing_open_never_escape(short_video: Path) -> None:
    recorder = Recorder()

    def explode(payload: bytes) -> None:
        recorder.scans.append(payload)
        raise RuntimeError("the gate UI choked")

    def bad_status(status: CameraStatus) -> None:
        recorder.statuses.append(status)
        raise ValueError("status line gone")

    run_reader(
        lambda: open_source(path=short_video, realtime=False),
        on_payload=explode,
        on_status=bad_status,
        should_stop=lambda: False,
    )
    assert recorder.scans == [A.encode()]
    assert [s.state for s in recorder.statuses] == ["starting", "live", "error", "ended"]
    assert recorder.statuses[2].message == "handling a scan failed: the gate UI choked"

    def broken_open() -> FrameSource:
        raise OSError("driver crashed")

    recorder = Recorder()
    run(broken_open, recorder)
    assert recorder.statuses[-1] == CameraStatus("error", "the camera loop stopped: driver crashed")


def test_reader_runs_in_a_thread_and_stops_when_asked(short_video: Path) -> None:
    # how the TUI uses it: a worker thread, cancelled from the UI thread
    recorder = Recorder()
    cancelled = threading.Event()
    worker = threading.Thread(
        target=run,
        args=(lambda: open_source(camera=str(short_video)), recorder),
        kwargs={"should_stop": cancelled.is_set, "retry_seconds": 0.1},
    )
    worker.start()
    time.sleep(0.5)
    cancelled.set()
    worker.join(timeout=2.0)
    assert not worker.is_alive()
    assert recorder.states[:2] == ["starting", "live"]


class HangingCamera:
    """A camera whose driver hangs: real frames through the camera code path, then read() blocks."""

    def __init__(self, path: Path, *, frames_before_hang: int, release: threading.Event) -> None:
        self._camera = open_source(camera=str(path))
        self.name = self._camera.name
        self.live = True
        self.realtime = True
        self._left = frames_before_hang
        self._release = release

    def read(self) -> np.ndarray | None:
        if self._left <= 0:
            self._release.wait(timeout=30)
            raise CaptureError("driver reset")
        self._left -= 1
        return self._camera.read()

    def close(self) -> None:
        self._camera.close()


def test_camera_that_hangs_without_failing_is_reported_and_reopened(short_video: Path) -> None:
    release = threading.Event()
    recorder = Recorder()
    opened: list[HangingCamera] = []

    def open_frames() -> FrameSource:
        opened.append(HangingCamera(short_video, frames_before_hang=10, release=release))
        return opened[-1]

    def stop() -> bool:
        return "retrying" in recorder.states and len(opened) >= 2

    try:
        run(open_frames, recorder, should_stop=stop, stall_seconds=0.5, retry_seconds=0.1)
    finally:
        release.set()
    assert recorder.states[:3] == ["starting", "live", "retrying"]
    assert recorder.statuses[2].message == (
        f"camera {short_video} sent no frame for 0.5 s; retrying in 0.1 s"
    )
    assert len(opened) >= 2  # reopened after the hang
