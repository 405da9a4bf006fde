"""Frame sources behind one interface: a USB camera, a video file (same OpenCV code path), a folder of images.

``open_source`` opens one and raises CaptureError with a message gate staff can act on when it cannot.
A source's ``read()`` returns the next frame, ``None`` once a file or folder has ended, and raises
CaptureError when a camera stops delivering frames (unplugged, taken by another program).
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from scanner.errors import CaptureError

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm"})
# A camera that fails this many reads in a row is treated as gone (unplugged, or taken by another program).
_CAMERA_FAILURES_BEFORE_GONE = 5


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
    width: int = 1280,
    height: int = 720,
    fps: float = 30.0,
    realtime: bool = True,
) -> FrameSource:
    """Open a camera (index or device path), a video file or a folder of images; CaptureError if not."""
    _quiet_opencv()
    if (camera is None) == (path is None):
        raise CaptureError("give either a camera or a video file / image folder, not both or neither")
    if camera is not None:
        return _open_camera(_camera_argument(camera), width=width, height=height, fps=fps)
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


def _open_camera(camera: int | str, *, width: int, height: int, fps: float) -> VideoCaptureSource:
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
    # Most USB cameras give 1280x720 at 30 fps only as MJPG (raw YUYV at that size manages ~10 fps);
    # a camera without MJPG ignores this.
    capture.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter.fourcc(*"MJPG"))
    capture.set(cv2.CAP_PROP_FRAME_WIDTH, width)
    capture.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
    capture.set(cv2.CAP_PROP_FPS, fps)
    # Keep the driver's queue short: an old frame is worse than no frame at a gate.
    capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)
    return VideoCaptureSource(capture, name=name, live=True, realtime=True, fps=fps)
