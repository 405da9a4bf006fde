"""Real parts for driving the gate app in tests: a data folder with a key, a gate with a stepping clock."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from rich.console import Console
from textual.app import App

from scanner.capture import FrameSource
from scanner.gate import Gate
from scanner.keystore import KeyStore
from scanner.paths import keys_dir, store_path
from scanner.render import render_ticket
from scanner.settings import GateSettings
from scanner.store import Store
from scanner.tui.app import GateApp
from scanner.verdicts import ScanResult
from ticketcode import EventKey, derive_event_key, issue_code

EVENT = "VL9IHU"
# Fixed secrets: codes, tags and therefore snapshots are the same on every run.
KEY = derive_event_key(b"ticketgate tui tests master secret", EVENT)
OTHER_KEY = derive_event_key(b"another organiser's master secret", "OTHERFEST")
FIRST_SCAN_AT = datetime(2026, 6, 20, 19, 42, 7, tzinfo=UTC)


def code(serial: int, key: EventKey = KEY) -> str:
    return issue_code(key, serial)


def forged(serial: int) -> str:
    """A well-formed code of the test event whose tag is wrong by one hex digit."""
    real = code(serial)
    return real[:-1] + ("0" if real[-1] != "0" else "1")


class SteppingClock:
    """Each scan happens a fixed step after the previous one: times on screen are known in advance."""

    def __init__(self, start: datetime = FIRST_SCAN_AT, step: timedelta = timedelta(seconds=65)) -> None:
        self.next = start
        self.step = step

    def __call__(self) -> datetime:
        now, self.next = self.next, self.next + self.step
        return now


@dataclass
class Harness:
    """A gate app over real files, plus what it painted."""

    app: GateApp
    gate: Gate
    home: Path
    painted: list[ScanResult] = field(default_factory=list)
    rings: list[float] = field(default_factory=list)


def make_home(tmp_path: Path, *, with_key: bool = True) -> Path:
    home = tmp_path / "gate-home"
    home.mkdir()
    if with_key:
        KeyStore(keys_dir(home)).add(KEY)
    return home


def make_harness(
    home: Path,
    *,
    event: str = EVENT,
    gate_name: str = "Gate B",
    open_frames: Callable[[], FrameSource] | None = None,
    settings: GateSettings | None = None,
    verdict_seconds: float = 0,
    retry_forever: bool = False,
    draw_preview: Callable[..., Any] | None = None,
) -> Harness:
    gate = Gate(
        store=Store.open(store_path(home)),
        keys=KeyStore(keys_dir(home)),
        event=event,
        gate_name=gate_name,
        clock=SteppingClock(),
    )
    painted: list[ScanResult] = []
    rings: list[float] = []
    app = GateApp(
        gate=gate,
        home=home,
        # The live view has its own tests (test_camera_preview.py); off here, so the other screens'
        # snapshots do not depend on it.
        settings=settings or GateSettings(gate_name=gate_name, event=event, preview=False),
        open_frames=open_frames,
        tz=UTC,
        verdict_seconds=verdict_seconds,
        ring=lambda: rings.append(time.monotonic()),
        retry_forever=retry_forever,
        retry_seconds=0.2,
        refresh_seconds=0,
        on_painted=lambda result, _started, _painted: painted.append(result),
        **({"draw_preview": draw_preview} if draw_preview is not None else {}),
    )
    return Harness(app=app, gate=gate, home=home, painted=painted, rings=rings)


async def wait_for(condition: Callable[[], bool], *, timeout: float = 10.0, what: str = "condition") -> None:
    """Let the app run until ``condition()`` holds; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)


async def wait_painted(harness: Harness, count: int, *, timeout: float = 10.0) -> list[ScanResult]:
    """Wait until ``count`` verdicts are on screen and the counters read after the last one are shown."""
    await wait_for(lambda: len(harness.painted) >= count, timeout=timeout, what=f"{count} verdict(s)")

    def counters_caught_up() -> bool:
        figures = harness.app.figures
        if figures is None or figures.counters is None:
            return False
        c = figures.counters
        return c.admitted + c.rejected + c.exits >= count

    await wait_for(counters_caught_up, timeout=timeout, what="counters after the last scan")
    return harness.painted


def screen_text(app: App[object]) -> str:
    """What the terminal shows right now, as plain text (the same render the SVG screenshots use)."""
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), record=True, legacy_windows=False)
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text()


def write_ticket_video(path: Path, codes: list[str], *, fps: float = 10.0) -> Path:
    """An MJPG video: each ticket held up for 1 s on a grey 640x480 scene, 2 s of empty scene between."""
    size = (640, 480)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    assert writer.isOpened(), "OpenCV cannot write MJPG video here"
    empty = np.full((size[1], size[0], 3), 170, dtype=np.uint8)
    try:
        for _ in range(int(fps)):
            writer.write(empty)
        for text in codes:
            qr = render_ticket(text, scale=8)
            frame = empty.copy()
            h, w = qr.shape
            y, x = (size[1] - h) // 2, (size[0] - w) // 2
            frame[y : y + h, x : x + w] = cv2.cvtColor(qr, cv2.COLOR_GRAY2BGR)
            for _ in range(int(fps)):
                writer.write(frame)
            for _ in range(int(2 * fps)):
                writer.write(empty)
    finally:
        writer.release()
    return path
