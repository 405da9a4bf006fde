"""The camera loop: open a frame source, decode the latest frame, debounce, report scans and camera status.

``run_reader`` blocks (the TUI runs it in a thread worker) and never raises. For a camera (or a file
played in real time) a grabber thread keeps only the newest frame: frames that arrive while one is
being decoded are dropped, not queued, so a verdict is never behind the camera. A file played as fast
as it decodes (``realtime=False``, for tests) is read frame by frame and timed by its own clock.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from scanner.capture import FrameSource
from scanner.debounce import Debouncer
from scanner.decode import FrameDecoder, Symbol
from scanner.errors import CaptureError

log = logging.getLogger(__name__)

STARTING = "starting"
LIVE = "live"
RETRYING = "retrying"
NO_CAMERA = "no camera"
ENDED = "ended"
ERROR = "error"

_POLL_SECONDS = 0.05  # how often a waiting loop looks at should_stop()


@dataclass(frozen=True)
class CameraStatus:
    """What the camera is doing, for the status line: one of the states above and a human message."""

    state: str
    message: str


class _Stopped(Exception):
    """should_stop() said so while waiting."""


def run_reader(
    open_frames: Callable[[], FrameSource],
    *,
    on_payload: Callable[[bytes], None],
    on_status: Callable[[CameraStatus], None],
    should_stop: Callable[[], bool],
    retry_seconds: float = 2.0,
    retry_forever: bool = True,
    debouncer: Debouncer | None = None,
    decode: Callable[[np.ndarray], list[bytes]] | None = None,
    clock: Callable[[], float] = time.monotonic,
    stall_seconds: float = 5.0,
    on_frame: Callable[[np.ndarray, list[Symbol]], None] | None = None,
) -> None:
    """Read frames until ``should_stop()``, a file ends, or (``retry_forever=False``) the source fails.

    ``on_payload`` gets each NEW scan (raw bytes) once; ``on_status`` gets every change of camera
    state. A camera that is missing, busy or unplugged is reported and reopened every
    ``retry_seconds``; so is a camera that sends no frame for ``stall_seconds`` (a hung driver). Nothing
    escapes: unexpected failures are logged and reported as "error". ``decode`` defaults to a
    FrameDecoder (the fast pass on every frame, fallbacks within a time budget).
    """
    debounce = debouncer if debouncer is not None else Debouncer()
    decoder = _with_frames(decode, on_frame)

    def status(state: str, message: str) -> None:
        try:
            on_status(CameraStatus(state, message))
        except Exception:
            log.exception("the status callback failed on %s: %s", state, message)

    def scans(payloads: list[bytes], now: float) -> None:
        for payload in debounce.feed(payloads, now):
            try:
                on_payload(payload)
            except Exception as exc:
                log.exception("the scan callback failed on %r", payload)
                status(ERROR, f"handling a scan failed: {exc}")

    def pause(seconds: float) -> None:
        deadline = clock() + seconds
        while clock() < deadline:
            if should_stop():
                raise _Stopped
            time.sleep(min(_POLL_SECONDS, max(0.0, deadline - clock())))

    try:
        while not should_stop():
            status(STARTING, "opening the camera")
            try:
                source = open_frames()
            except CaptureError as exc:
                status(NO_CAMERA, _with_retry(str(exc), retry_seconds, retry_forever))
                if not retry_forever:
                    return
                pause(retry_seconds)
                continue
            try:
                ended = _pump(source, _Loop(scans, status, should_stop, decoder, clock, stall_seconds))
            except CaptureError as exc:
                status(RETRYING, _with_retry(str(exc), retry_seconds, retry_forever))
                if not retry_forever:
                    return
                pause(retry_seconds)
                continue
            if ended:
                status(ENDED, f"{source.name} ended")
            return
    except _Stopped:
        return
    except Exception as exc:
        log.exception("the camera loop failed")
        status(ERROR, f"the camera loop stopped: {exc}")


def _with_frames(
    decode: Callable[[np.ndarray], list[bytes]] | None,
    on_frame: Callable[[np.ndarray, list[Symbol]], None] | None,
) -> Callable[[np.ndarray], list[bytes]]:
    """The decode step, telling ``on_frame`` what it saw; a failing ``on_frame`` never costs a scan."""
    frames = FrameDecoder() if decode is None else None

    def tell(frame: np.ndarray, symbols: list[Symbol]) -> None:
        if on_frame is not None:
            try:
                on_frame(frame, symbols)
            except Exception:
                log.exception("the frame callback failed")

    def step(frame: np.ndarray) -> list[bytes]:
        if frames is not None:
            symbols = frames.symbols(frame)
            tell(frame, symbols)
            return [symbol.data for symbol in symbols]
        assert decode is not None
        payloads = decode(frame)
        tell(frame, [])
        return payloads

    if on_frame is None and decode is not None:
        return decode
    return step


def _with_retry(message: str, retry_seconds: float, retry_forever: bool) -> str:
    return f"{message}; retrying in {retry_seconds:g} s" if retry_forever else message


@dataclass(frozen=True)
class _Loop:
    """What the frame pumps need from run_reader."""

    scans: Callable[[list[bytes], float], None]
    status: Callable[[str, str], None]
    should_stop: Callable[[], bool]
    decode: Callable[[np.ndarray], list[bytes]]
    clock: Callable[[], float]
    stall_seconds: float


def _pump(source: FrameSource, loop: _Loop) -> bool:
    """Decode frames of an open source; True when it ended, False when stopped; CaptureError on failure."""
    if getattr(source, "realtime", True):
        return _pump_latest(source, loop)
    try:
        first = True
        while not loop.should_stop():
            frame = source.read()
            if frame is None:
                return True
            if first:
                loop.status(LIVE, f"{source.name}: reading")
                first = False
            media_time = getattr(source, "media_time", None)
            loop.scans(loop.decode(frame), media_time if media_time is not None else loop.clock())
        return False
    finally:
        _close(source)


class _LatestFrame:
    """A one-frame mailbox: the grabber overwrites, the decoder takes; what was not taken is dropped."""

    def __init__(self) -> None:
        self.changed = threading.Condition()
        self.frame: np.ndarray | None = None
        self.ended = False
        self.error: CaptureError | None = None
        self.stop = False
        self.dropped = 0


def _grab(source: FrameSource, box: _LatestFrame) -> None:
    try:
        while True:
            with box.changed:
                if box.stop:
                    return
            try:
                frame = source.read()
            except CaptureError as exc:
                failure: CaptureError | None = exc
                frame = None
            except Exception as exc:
                log.exception("reading from %s failed", source.name)
                failure = CaptureError(f"{source.name} failed: {exc}")
                frame = None
            else:
                failure = None
            with box.changed:
                if failure is not None:
                    box.error = failure
                elif frame is None:
                    box.ended = True
                else:
                    if box.frame is not None:
                        box.dropped += 1
                    box.frame = frame
                box.changed.notify_all()
                if failure is not None or frame is None:
                    return
    finally:
        # The grabber closes the source itself: releasing a capture while another thread is inside
        # its read() is not safe in OpenCV.
        _close(source)


def _pump_latest(source: FrameSource, loop: _Loop) -> bool:
    box = _LatestFrame()
    grabber = threading.Thread(target=_grab, args=(source, box), name=f"grab {source.name}", daemon=True)
    grabber.start()
    # Only a camera can hang without failing; a file's pace is its own.
    watch_stall = bool(getattr(source, "live", True))
    first = True
    last_frame_at = loop.clock()
    try:
        while True:
            with box.changed:
                while box.frame is None and not box.ended and box.error is None:
                    if loop.should_stop():
                        return False
                    if watch_stall and loop.clock() - last_frame_at > loop.stall_seconds:
                        raise CaptureError(f"{source.name} sent no frame for {loop.stall_seconds:g} s")
                    box.changed.wait(_POLL_SECONDS)
                frame, box.frame = box.frame, None
                if frame is None:
                    if box.error is not None:
                        raise box.error
                    return True
            last_frame_at = loop.clock()
            if loop.should_stop():
                return False
            if first:
                loop.status(LIVE, f"{source.name}: live")
                first = False
            loop.scans(loop.decode(frame), loop.clock())
    finally:
        with box.changed:
            box.stop = True
            box.changed.notify_all()
        # A grabber stuck inside a hung driver's read() stays behind (a daemon); it closes the
        # source itself if that read ever returns.
        grabber.join(timeout=2.0)
        if box.dropped:
            log.debug("%s: %d frames dropped while decoding", source.name, box.dropped)


def _close(source: FrameSource) -> None:
    try:
        source.close()
    except Exception:
        log.exception("closing %s failed", source.name)
