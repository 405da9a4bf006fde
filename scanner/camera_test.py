"""``ticketgate camera test``: what the camera really delivers (size, frame rate) and how well it decodes."""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass

import numpy as np

from scanner.capture import CameraControls, FrameSource, open_source, parse_control, parse_size
from scanner.decode import FrameDecoder
from scanner.errors import CaptureError


@dataclass(frozen=True)
class CameraReport:
    """What a few seconds of frames showed."""

    name: str
    frames: int
    seconds: float
    size: tuple[int, int] | None
    decoded_frames: int
    codes: int
    decode_ms: tuple[float, float]  # p50, p95
    refused: tuple[str, ...]

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def lines(self) -> list[str]:
        """The report as staff read it, one fact per line."""
        size = f"{self.size[0]}x{self.size[1]}" if self.size else "no frame"
        out = [f"{self.name}: {size}, {self.fps:.1f} frames/s measured over {self.seconds:.1f} s"]
        if self.refused:
            out.append(f"the driver refused: {', '.join(self.refused)} (the camera's own setting stays)")
        rate = 100.0 * self.decoded_frames / self.frames if self.frames else 0.0
        out.append(
            f"decoded a code in {self.decoded_frames} of {self.frames} frames ({rate:.0f}%),"
            f" {self.codes} different code(s)"
        )
        out.append(
            f"decoding took {self.decode_ms[0]:.1f} ms per frame (p50), {self.decode_ms[1]:.1f} ms (p95)"
        )
        return out


def measure(source: FrameSource, *, seconds: float, max_frames: int | None = None) -> CameraReport:
    """Read frames for ``seconds`` (or until a file ends), decoding each as the gate's camera loop does."""
    decoder = FrameDecoder()
    frames = decoded = 0
    codes: set[bytes] = set()
    costs: list[float] = []
    size: tuple[int, int] | None = None
    started = time.monotonic()
    try:
        while time.monotonic() - started < seconds and (max_frames is None or frames < max_frames):
            frame = source.read()
            if frame is None:
                break
            frames += 1
            size = (int(frame.shape[1]), int(frame.shape[0])) if isinstance(frame, np.ndarray) else size
            began = time.perf_counter()
            found = decoder(frame)
            costs.append((time.perf_counter() - began) * 1000)
            decoded += bool(found)
            codes.update(found)
        elapsed = time.monotonic() - started
    finally:
        source.close()
    ordered = sorted(costs) or [0.0]
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return CameraReport(
        name=source.name,
        frames=frames,
        seconds=elapsed,
        size=size,
        decoded_frames=decoded,
        codes=len(codes),
        decode_ms=(statistics.median(ordered), p95),
        refused=tuple(getattr(source, "refused", ())),
    )


def controls_from(args: argparse.Namespace) -> CameraControls:
    """The camera controls the command line asked for; CaptureError (one line, exit 2) for bad values."""
    size = getattr(args, "camera_size", None)
    width, height = parse_size(size) if size else (1280, 720)
    return CameraControls(
        width=width,
        height=height,
        exposure=parse_control("exposure", getattr(args, "exposure", None)),
        focus=parse_control("focus", getattr(args, "focus", None)),
    )


def camera_test(args: argparse.Namespace) -> int:
    """``ticketgate camera test``: open the camera (or ``--source``), report what it delivers. Exit 0
    when frames came, 1 when none did; a camera that cannot be opened is one line and exit 2."""
    controls = controls_from(args)
    if args.seconds <= 0 or args.seconds > 3600:
        raise CaptureError(f"--seconds must be more than 0 and at most 3600, not {args.seconds:g}")
    if args.source is not None:
        source = open_source(path=args.source, realtime=True)
    else:
        source = open_source(camera=args.camera if args.camera is not None else "0", controls=controls)
    report = measure(source, seconds=args.seconds)
    for line in report.lines():
        print(line, flush=True)
    return 0 if report.frames else 1
