"""A stand-in for the gate's USB camera: people hold their tickets up, one after another.

``ShotCamera`` is a frame source like ``scanner.capture``'s (the reader cannot tell it from a camera
or a video): each shot is a few frames of a ticket's QR code (drawn by ``scanner.render`` with segno)
in a camera-sized picture, then empty frames while the next person steps up.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from scanner.render import render_ticket

WIDTH, HEIGHT = 640, 480
FRAMES_SHOWN = 2  # frames a code is in view
FRAMES_BETWEEN = 2  # empty frames after it: longer than the reader's "gone", so a repeat counts again


@dataclass(frozen=True)
class Shot:
    """Someone at the gate holding up ``payload``; ``expected`` is the verdict the design gives it."""

    payload: str
    who: str
    expected: str  # a Verdict value: ADMIT, ALREADY_USED, INVALID, REVOKED, WRONG_EVENT
    why: str  # what this shot shows, for the narration


def empty_frame() -> np.ndarray:
    """A BGR frame of the gate with nobody holding anything up: dim, unevenly lit."""
    ys, xs = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    frame: np.ndarray = cv2.cvtColor(
        (60 + 50 * xs / WIDTH + 20 * np.sin(ys / 53.0)).astype(np.uint8), cv2.COLOR_GRAY2BGR
    )
    return frame


def ticket_frame(payload: str) -> np.ndarray:
    """A BGR frame of a phone-sized QR code of ``payload`` held up at the gate."""
    frame = empty_frame()
    code = render_ticket(payload, scale=6)
    side = min(code.shape[0], HEIGHT - 40)
    code = cv2.resize(code, (side, side), interpolation=cv2.INTER_NEAREST)
    top, left = (HEIGHT - side) // 2, (WIDTH - side) // 2
    frame[top : top + side, left : left + side] = cv2.cvtColor(code, cv2.COLOR_GRAY2BGR)
    return frame


class ShotCamera:
    """Plays ``shots`` as a camera would see them, ``fps`` frames a second.

    ``realtime`` paces the frames (the gate app); otherwise they come as fast as they are decoded,
    timed by ``media_time`` (headless). ``on_shot(index)`` is called as shot ``index`` comes into
    view. ``linger``: after the last shot keep sending empty frames, like a camera at a quiet gate,
    until closed; else the stream ends.
    """

    live = False

    def __init__(
        self,
        shots: Sequence[Shot],
        *,
        fps: float,
        realtime: bool,
        on_shot: Callable[[int], None] | None = None,
        linger: bool = False,
        start_delay_s: float = 0.0,
    ) -> None:
        self.name = "demo camera"
        self.realtime = realtime
        self.media_time: float | None = None
        self._interval = 1.0 / fps
        self._on_shot = on_shot
        self._linger = linger
        self._closed = threading.Event()
        self._empty = empty_frame()
        self._plan: list[tuple[np.ndarray, int | None]] = []
        lead = int(start_delay_s * fps)
        self._plan.extend((self._empty, None) for _ in range(lead))
        for index, shot in enumerate(shots):
            frame = ticket_frame(shot.payload)
            self._plan.append((frame, index))
            self._plan.extend((frame, None) for _ in range(FRAMES_SHOWN - 1))
            self._plan.extend((self._empty, None) for _ in range(FRAMES_BETWEEN))
        self._next = 0
        self._due: float | None = None

    def read(self) -> np.ndarray | None:
        if self._closed.is_set():
            return None
        if self.realtime and self._due is not None:
            # Waits in small steps so close() is not held up by a slow frame rate.
            while (delay := self._due - time.monotonic()) > 0:
                if self._closed.wait(min(delay, 0.1)):
                    return None
        self._due = time.monotonic() + self._interval
        self.media_time = self._next * self._interval
        if self._next >= len(self._plan):
            if not self._linger:
                return None
            self._next += 1
            return self._empty
        frame, starts = self._plan[self._next]
        self._next += 1
        if starts is not None and self._on_shot is not None:
            self._on_shot(starts)
        return frame

    def close(self) -> None:
        self._closed.set()
