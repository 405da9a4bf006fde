"""Frame sources behind one interface: a USB camera, a video file (same OpenCV code path), a folder of images.

``open_source`` opens one and raises CaptureError with a message gate staff can act on when it cannot.
A source's ``read()`` returns the next frame, ``None`` once a file or folder has ended, and raises
CaptureError when a camera stops delivering frames (unplugged, taken by another program).
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from scanner.errors import CaptureError

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm"})
# A camera that fails this many reads in a row is treated as gone (unplugged, or taken by another program).
_CAMERA_FAILURES_BEFORE_GONE = 5


@dataclass(frozen=True)
class CameraControls:
    """What the gate asks of the camera; None leaves a control to the camera's automatic mode.

    ``exposure`` and ``focus`` are in the driver's own units (V4L2: exposure in 100 µs steps, focus
    0-255 or so); a driver that refuses a control is reported, never fatal.
    """

    width: int = 1280
    height: int = 720
    fps: float = 30.0
    exposure: float | None = None
    focus: float | None = None


def parse_size(text: str) -> tuple[int, int]:
    """``"1280x720"`` as (1280, 720); CaptureError naming the value otherwise."""
    match = re.fullmatch(r"\s*(\d{2,5})\s*[xX×]\s*(\d{2,5})\s*", text)
    if match is None:
        raise CaptureError(f"camera size {text!r} is not WIDTHxHEIGHT, e.g. 1280x720")
    width, height = int(match.group(1)), int(match.group(2))
    if not (160 <= width <= 7680 and 120 <= height <= 4320):
        raise CaptureError(f"camera size {text!r} is out of range (160x120 to 7680x4320)")
    return width, height


def parse_control(name: str, text: str | None) -> float | None:
    """A control value from the command line: a number, or ``auto`` / nothing for the camera's own."""
    if text is None or text.strip().lower() == "auto":
        return None
    try:
        value = float(text)
    except ValueError:
        raise CaptureError(
            f"--{name} must be a number in the driver's units or 'auto', not {text!r}"
        ) from None
    if not (value == value and abs(value) < 1e6):  # NaN and absurd values never reach the driver
        raise CaptureError(f"--{name} {text!r} is out of range")
    return value


class FrameSource(Protocol):
    """Where frames come from; the reader only needs these."""

    name: str

    def read(self) -> np.ndarray | None:
        """The next BGR or gray frame; None when the stream has ended; CaptureError on failure."""
        ...

    def close(self) -> None: ...


def _quiet_opencv() -> None:
    # OpenCV and its FFmpeg print warnings straight to the terminal (a missing /dev/video7, a damaged
    # frame in a video), which would scribble over the gate's terminal UI; CaptureError messages say
    # what matters. FFmpeg reads its level when OpenCV first loads it, so this runs before any open;
    # setdefault: a developer can still ask for FFmpeg's messages with OPENCV_FFMPEG_LOGLEVEL.
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)


class VideoCaptureSource:
    """A camera (index or device path) or a video file, read through ``cv2.VideoCapture``."""

    def __init__(
        self,
        capture: cv2.VideoCapture,
        *,
        name: str,
        live: bool,
        realtime: bool,
        fps: float,
    ) -> None:
        self.name = name
        self.live = live
        # A camera paces itself; a file is paced here when realtime, else played as fast as it decodes.
        self.realtime = realtime or live
        self.media_time: float | None = None  # seconds into the file of the last frame (files only)
        self._capture: cv2.VideoCapture | None = capture
        self._frame_interval = 1.0 / fps if fps > 0 else 0.0
        self._next_due: float | None = None
        self._frames = 0
        self._failures = 0
        self.refused: tuple[str, ...] = ()  # controls the camera's driver did not accept

    def read(self) -> np.ndarray | None:
        if self._capture is None:
            raise CaptureError(f"{self.name} is closed")
        if self.live:
            return self._read_camera(self._capture)
        if self.realtime and self._next_due is not None:
            delay = self._next_due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        try:
            ok, frame = self._capture.read()
        except cv2.error:
            # A damaged or truncated file ends where it can no longer be decoded.
            ok, frame = False, None
        if not ok or frame is None:
            return None
        self.media_time = self._frames * self._frame_interval
        self._frames += 1
        now = time.monotonic()
        self._next_due = (self._next_due or now) + self._frame_interval
        if self._next_due < now - 1.0:
            self._next_due = now  # fell far behind (slow disk): do not race to catch up
        return frame

    def _read_camera(self, capture: cv2.VideoCapture) -> np.ndarray:
        while True:
            try:
                ok, frame = capture.read()
            except cv2.error as exc:
                raise CaptureError(f"{self.name} failed: {exc}") from exc
            if ok and frame is not None:
                self._failures = 0
                return frame
            self._failures += 1
            if self._failures >= _CAMERA_FAILURES_BEFORE_GONE or not capture.isOpened():
                raise CaptureError(f"{self.name} stopped delivering frames (unplugged or in use?)")
            time.sleep(0.05)

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None


class ImageFolderSource:
    """The images of a folder in name order (numbers as numbers), one every ``1/fps`` seconds.

    Not realtime: as fast as they load. An unreadable file is skipped, like a frame a camera drops.
    """

    def __init__(self, folder: Path, *, fps: float, realtime: bool) -> None:
        self.name = f"images {folder}"
        self.live = False
        self.realtime = realtime
        self.media_time: float | None = None
        self._files = sorted(
            (p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES), key=_name_order
        )
        if not self._files:
            raise CaptureError(f"{folder} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
        self._index = 0
        self._frame_interval = 1.0 / fps if fps > 0 else 0.0
        self._next_due: float | None = None

    def read(self) -> np.ndarray | None:
        while self._index < len(self._files):
            file = self._files[self._index]
            self._index += 1
            if self.realtime and self._next_due is not None:
                delay = self._next_due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            self._next_due = time.monotonic() + self._frame_interval
            self.media_time = (self._index - 1) * self._frame_interval
            raw = np.fromfile(str(file), dtype=np.uint8) if file.is_file() else None
            frame = cv2.imdecode(raw, cv2.IMREAD_COLOR) if raw is not None and raw.size else None
            if frame is not None:
                return frame
            # an unreadable file in the folder is skipped, like a frame the camera dropped
        return None

    def close(self) -> None:
        self._index = len(self._files)


def _name_order(path: Path) -> list[tuple[int, int | str]]:
    """Sort key for file names in which numbers compare as numbers: shot-2 before shot-10."""
    return [(0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", path.name) if part]


def _camera_argument(camera: int | str) -> int | str:
    if isinstance(camera, str) and camera.strip().isdigit():
        return int(camera.strip())
    return camera


def open_source(
    *,
    camera: int | str | None = None,
    path: str | Path | None = None,
    fps: float = 30.0,
    realtime: bool = True,
    controls: CameraControls | None = None,
) -> FrameSource:
    """Open a camera (index or device path), a video file or a folder of images; CaptureError if not.

    ``controls`` (size, frame rate, exposure, focus) apply to a camera; files play as they are.
    """
    _quiet_opencv()
    if (camera is None) == (path is None):
        raise CaptureError("give either a camera or a video file / image folder, not both or neither")
    if camera is not None:
        return _open_camera(_camera_argument(camera), controls or CameraControls(fps=fps))
    assert path is not None
    source_path = Path(path).expanduser()
    if source_path.is_dir():
        return ImageFolderSource(source_path, fps=fps, realtime=realtime)
    if not source_path.exists():
        raise CaptureError(f"{source_path}: no such video file or image folder")
    if source_path.suffix.lower() in IMAGE_SUFFIXES:
        raise CaptureError(f"{source_path} is a single image: use `ticketgate decode` or give its folder")
    # FFmpeg directly: OpenCV's own AVI reader, tried first otherwise, prints to the terminal on bad files
    capture = cv2.VideoCapture(str(source_path), cv2.CAP_FFMPEG)
    if not capture.isOpened():
        capture.release()
        raise CaptureError(f"{source_path}: not a video file OpenCV can play")
    file_fps = capture.get(cv2.CAP_PROP_FPS)
    # Play at the file's own rate when it declares one; `fps` is the fallback.
    rate = file_fps if file_fps and 1.0 <= file_fps <= 240.0 else fps
    return VideoCaptureSource(
        capture, name=f"video {source_path.name}", live=False, realtime=realtime, fps=rate
    )


def _open_camera(camera: int | str, controls: CameraControls) -> VideoCaptureSource:
    if isinstance(camera, int) and camera < 0:
        raise CaptureError(f"camera index must be 0 or more, not {camera}")
    if isinstance(camera, str) and not Path(camera).exists():
        raise CaptureError(f"no camera at {camera} (is it plugged in?)")
    name = f"camera {camera}"
    try:
        capture = cv2.VideoCapture(camera)
    except cv2.error as exc:
        raise CaptureError(f"{name} cannot be opened: {exc}") from exc
    if not capture.isOpened():
        capture.release()
        raise CaptureError(f"{name} cannot be opened (not plugged in, or used by another program)")
    refused = apply_controls(capture, controls)
    source = VideoCaptureSource(capture, name=name, live=True, realtime=True, fps=controls.fps)
    source.refused = tuple(refused)
    return source


def apply_controls(capture: cv2.VideoCapture, controls: CameraControls) -> list[str]:
    """Ask the driver for the controls; the names of those it refused (a camera without MJPG or
    manual focus simply says no)."""
    refused = []
    # Most USB cameras give 1280x720 at 30 fps only as MJPG (raw YUYV at that size manages ~10 fps).
    wanted: list[tuple[str, int, float]] = [
        ("MJPG", cv2.CAP_PROP_FOURCC, cv2.VideoWriter.fourcc(*"MJPG")),
        ("width", cv2.CAP_PROP_FRAME_WIDTH, controls.width),
        ("height", cv2.CAP_PROP_FRAME_HEIGHT, controls.height),
        ("frame rate", cv2.CAP_PROP_FPS, controls.fps),
        # Keep the driver's queue short: an old frame is worse than no frame at a gate.
        ("buffer size", cv2.CAP_PROP_BUFFERSIZE, 1),
    ]
    if controls.exposure is not None:
        # V4L2 takes 1 for manual exposure (3 is automatic); other back ends ignore or refuse it
        wanted += [
            ("manual exposure", cv2.CAP_PROP_AUTO_EXPOSURE, 1),
            ("exposure", cv2.CAP_PROP_EXPOSURE, controls.exposure),
        ]
    if controls.focus is not None:
        wanted += [("manual focus", cv2.CAP_PROP_AUTOFOCUS, 0), ("focus", cv2.CAP_PROP_FOCUS, controls.focus)]
    for label, prop, value in wanted:
        try:
            accepted = bool(capture.set(prop, value))
        except cv2.error:
            accepted = False
        if not accepted:
            refused.append(label)
    return refused
