"""The live camera view's data: the newest frame with its detected codes, and the picture drawn from it.

Pure of any UI: the camera thread ``offer``s every decoded frame (a reference swap, nothing more, so
the verdict path never waits for the preview); the preview's own thread ``take``s the newest a few
times a second and draws a small picture with each detected code outlined.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence

import cv2
import numpy as np
from PIL import Image

Quad = tuple[tuple[float, float], ...]
OUTLINE_BGR = (80, 220, 60)  # green: where the camera sees a code


def preview_wanted(setting: bool | None, environ: Mapping[str, str]) -> bool:
    """Whether to show the preview: the stored setting, else on, except over SSH (every frame would
    cross the network as terminal graphics)."""
    if setting is not None:
        return setting
    return not any(environ.get(name) for name in ("SSH_CONNECTION", "SSH_CLIENT", "SSH_TTY"))


class PreviewBox:
    """A one-frame mailbox between the camera thread and the preview: newest wins, nothing queues."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._frame: np.ndarray | None = None
        self._quads: tuple[Quad, ...] = ()
        self._version = 0

    def offer(self, frame: np.ndarray, quads: Sequence[Quad]) -> None:
        with self._lock:
            self._frame, self._quads = frame, tuple(quads)
            self._version += 1

    def take(self, seen: int) -> tuple[int, np.ndarray | None, tuple[Quad, ...]]:
        """The newest frame if it is newer than version ``seen``: (version, frame or None, quads)."""
        with self._lock:
            if self._version == seen:
                return seen, None, ()
            return self._version, self._frame, self._quads


def draw(frame: np.ndarray, quads: Sequence[Quad], *, width: int = 192) -> Image.Image:
    """``frame`` shrunk to ``width`` pixels wide, each code outlined, as an RGB picture."""
    height = max(1, round(frame.shape[0] * width / frame.shape[1]))
    scale = width / frame.shape[1]
    small = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
    if small.ndim == 2:
        small = cv2.cvtColor(small, cv2.COLOR_GRAY2BGR)
    elif small.shape[2] == 4:
        small = cv2.cvtColor(small, cv2.COLOR_BGRA2BGR)
    for quad in quads:
        points = np.round(np.array(quad, dtype=np.float32) * scale).astype(np.int32)
        cv2.polylines(small, [points], True, OUTLINE_BGR, max(1, width // 96), cv2.LINE_AA)
    return Image.fromarray(cv2.cvtColor(small, cv2.COLOR_BGR2RGB))
