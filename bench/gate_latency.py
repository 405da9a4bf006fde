"""Gate latency: from the camera frame that holds a code (or a handheld scanner's Enter) to the verdict
painted on the gate screen, p50/p95 over a video of 200 tickets, with the app running headless.

Baseline, measured in the same run: the same video through the same reader and ``Gate.check`` with no
user interface (frame read -> scan recorded). The ratio says what the terminal UI adds. Then a queue
with pauses (tickets 0.8 s apart) through the app with the live camera view off and on, in
alternating rounds of the same video, so the two see the same machine: the ratio says what the live
view costs the verdict path.
Also saves an SVG screenshot of each verdict state, and of the gate with its live camera view, into
docs/screenshots/ for the README.

    .venv/bin/python bench/gate_latency.py [--tickets 200] [--spaced 60] [--rounds 4] [--no-screenshots]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL.Image import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# The gate app's own setting (scanner/tui/launch.py), applied before Textual is imported.
os.environ.setdefault("TEXTUAL_FPS", "120")

from textual import events  # noqa: E402
from textual_image.widget import HalfcellImage  # noqa: E402

from scanner.capture import FrameSource, open_source  # noqa: E402
from scanner.gate import Gate  # noqa: E402
from scanner.keystore import KeyStore  # noqa: E402
from scanner.paths import keys_dir, store_path  # noqa: E402
from scanner.preview import Quad, draw  # noqa: E402
from scanner.reader import CameraStatus, run_reader  # noqa: E402
from scanner.render import render_ticket  # noqa: E402
from scanner.settings import GateSettings  # noqa: E402
from scanner.store import Store  # noqa: E402
from scanner.tui.app import GateApp  # noqa: E402
from scanner.tui.widgets import camera_preview  # noqa: E402
from scanner.verdicts import ScanResult  # noqa: E402
from tests.gatecams import Conditions, gate_frame  # noqa: E402
from ticketcode import derive_event_key, issue_code  # noqa: E402

EVENT = "BENCH26"
KEY = derive_event_key(b"gate latency benchmark secret!!", EVENT)
FPS = 30.0
TICKET_FRAMES = 4  # 133 ms in view: a brisk flash of a phone
GAP_FRAMES = 2
# The live view rests while a verdict is on its way (scanner/tui/camera_wiring.py), so it is compared on a
# queue with the pauses of a real one: each person 0.8 s after the previous, the view drawing between.
SPACED_GAP_FRAMES = 24
SIZE = (1280, 720)
COMMAND = "  .venv/bin/python bench/gate_latency.py"


class TimedSource:
    """Wraps a frame source: remembers when each frame was read (the camera's delivery time)."""

    def __init__(self, inner: FrameSource) -> None:
        self._inner = inner
        self.name = inner.name
        self.read_at: list[float] = []

    def __getattr__(self, name: str) -> Any:  # realtime, media_time... as the reader asks
        return getattr(self._inner, name)

    def read(self) -> np.ndarray | None:
        frame = self._inner.read()
        if frame is not None:
            self.read_at.append(time.perf_counter())
        return frame

    def close(self) -> None:
        self._inner.close()


def write_video(path: Path, codes: list[str], *, gap: int = GAP_FRAMES) -> dict[str, int]:
    """A 1280x720 MJPG video at 30 fps, ``gap`` empty frames between tickets; returns the first frame
    index holding each code."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, SIZE)
    if not writer.isOpened():
        raise SystemExit("OpenCV cannot write MJPG video on this machine")
    scene = np.full((SIZE[1], SIZE[0], 3), 150, dtype=np.uint8)
    first_frame: dict[str, int] = {}
    index = 0
    try:
        for _ in range(gap):
            writer.write(scene)
            index += 1
        for text in codes:
            qr = cv2.cvtColor(render_ticket(text, scale=6), cv2.COLOR_GRAY2BGR)
            frame = scene.copy()
            h, w = qr.shape[:2]
            y, x = (SIZE[1] - h) // 2, (SIZE[0] - w) // 2
            frame[y : y + h, x : x + w] = qr
            first_frame[text] = index
            for _ in range(TICKET_FRAMES):
                writer.write(frame)
                index += 1
            for _ in range(gap):
                writer.write(scene)
                index += 1
    finally:
        writer.release()
    return first_frame


def new_home(root: Path, name: str) -> Path:
    home = root / name
    home.mkdir()
    KeyStore(keys_dir(home)).add(KEY)
    return home


def new_gate(home: Path, *, clock: Callable[[], datetime] | None = None) -> Gate:
    return Gate(
        store=Store.open(store_path(home)),
        keys=KeyStore(keys_dir(home)),
        event=EVENT,
        gate_name="Gate B",
        clock=clock,
    )


def percentiles(values: list[float]) -> tuple[float, float, float]:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered), p95, ordered[-1]


def baseline(video: Path, home: Path, first_frame: dict[str, int]) -> list[float]:
    """Frame read -> scan recorded, same reader and gate, no UI."""
    gate = new_gate(home)
    timed: list[TimedSource] = []
    latencies: list[float] = []

    def opener() -> FrameSource:
        source = TimedSource(open_source(path=video, realtime=True))
        timed.append(source)
        return source

    def on_payload(payload: bytes) -> None:
        result = gate.check(payload, source="camera")
        done = time.perf_counter()
        index = first_frame.get(result.code or "")
        if index is not None and index < len(timed[-1].read_at):
            latencies.append((done - timed[-1].read_at[index]) * 1000)

    def on_status(_status: CameraStatus) -> None:
        return None

    run_reader(
        opener, on_payload=on_payload, on_status=on_status, should_stop=lambda: False, retry_forever=False
    )
    gate.close()
    return latencies


async def through_app(
    video: Path, home: Path, first_frame: dict[str, int], *, preview: bool
) -> tuple[list[float], list[float], list[int], int]:
    """Frame read -> verdict painted, the real app headless, its live camera view on or off; also how
    many pictures the live view drew."""
    gate = new_gate(home)
    timed: list[TimedSource] = []
    latencies: list[float] = []
    ui_part: list[float] = []
    seen: list[ScanResult] = []

    def opener() -> FrameSource:
        source = TimedSource(open_source(path=video, realtime=True))
        timed.append(source)
        return source

    def painted(result: ScanResult, started: float, at: float) -> None:
        seen.append(result)
        ui_part.append((at - started) * 1000)
        index = first_frame.get(result.code or "")
        if index is not None and index < len(timed[-1].read_at):
            latencies.append((at - timed[-1].read_at[index]) * 1000)

    drawn: list[float] = []

    def draw_counted(frame: np.ndarray, quads: tuple[Quad, ...]) -> Image:
        drawn.append(time.perf_counter())
        return draw(frame, quads)

    app = GateApp(
        gate=gate,
        home=home,
        settings=GateSettings(sound=False, preview=preview),
        open_frames=opener,
        retry_forever=False,
        refresh_seconds=0,
        on_painted=painted,
        draw_preview=draw_counted,
    )
    async with app.run_test(size=(120, 36)) as pilot:
        status = app.gate_screen.query_one("#status")
        while getattr(status, "status").camera != "ended":  # noqa: B009
            await asyncio.sleep(0.1)
        await pilot.pause(0.5)
    gate.close()
    return latencies, ui_part, sorted(r.serial or 0 for r in seen), len(drawn)


async def handheld(home: Path, count: int) -> list[float]:
    """A handheld scanner's burst of keys + Enter -> verdict painted."""
    gate = new_gate(home)
    latencies: list[float] = []
    app = GateApp(
        gate=gate,
        home=home,
        settings=GateSettings(sound=False),
        refresh_seconds=0,
        on_painted=lambda _r, started, at: latencies.append((at - started) * 1000),
    )
    async with app.run_test(size=(120, 36)):
        driver = app._driver
        assert driver is not None
        for serial in range(1, count + 1):
            # The whole burst at once, as a wedge scanner delivers it; no waiting between keys.
            for char in issue_code(KEY, serial):
                driver.send_message(events.Key("minus" if char == "-" else char, char))
            driver.send_message(events.Key("enter", "\r"))
            deadline = time.monotonic() + 10
            while len(latencies) < serial and time.monotonic() < deadline:
                await asyncio.sleep(0.005)
    gate.close()
    return latencies


async def screenshots(root: Path, out: Path) -> list[Path]:
    """One SVG per verdict state at 100x30 (and the ready screen), for the README."""
    other = derive_event_key(b"another organiser's master secret", "OTHERFEST")
    real = issue_code(KEY, 7)
    forged = real[:-1] + ("0" if real[-1] != "0" else "1")
    states: list[tuple[str, list[str], str]] = [
        ("ready", [], EVENT),
        ("admit", [real], EVENT),
        ("already_used", [real, real], EVENT),
        ("invalid", [forged], EVENT),
        ("revoked", [issue_code(KEY, 4)], EVENT),
        ("wrong_event", [issue_code(other, 1)], EVENT),
        (
            "unknown_key",
            [issue_code(derive_event_key(b"never synced to this gate", "NOKEY24"), 31)],
            "NOKEY24",
        ),
    ]
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, codes, event in states:
        home = new_home(root, f"shot-{name}")
        start = datetime(2026, 6, 20, 19, 42, 7, tzinfo=UTC)
        ticks = iter(start + timedelta(seconds=65 * i) for i in range(100))
        gate = Gate(
            store=Store.open(store_path(home)),
            keys=KeyStore(keys_dir(home)),
            event=event,
            gate_name="Gate B",
            clock=lambda ticks=ticks: next(ticks),
        )
        gate.store.revoke(EVENT, 4, reason="order refunded")
        shown: list[ScanResult] = []
        app = GateApp(
            gate=gate,
            home=home,
            settings=GateSettings(),
            tz=UTC,
            verdict_seconds=0,
            ring=lambda: None,
            refresh_seconds=0,
            on_painted=lambda result, _s, _p, shown=shown: shown.append(result),
        )
        async with app.run_test(size=(100, 30)) as pilot:
            for i, text in enumerate(codes, start=1):
                app.submit(text, source="wedge")
                while len(shown) < i:
                    await asyncio.sleep(0.01)
            await pilot.pause(0.3)
            written.append(Path(app.save_screenshot(f"gate-{name}.svg", str(out))))
        gate.close()
    return written


class StillCamera:
    """A camera (the real FrameSource protocol) that keeps seeing the same scene, 15 frames a second:
    the picture in a screenshot must not depend on when it was taken."""

    name = "camera 0"
    live = False
    realtime = True

    def __init__(self, frame: np.ndarray) -> None:
        self._frame = frame

    def read(self) -> np.ndarray:
        time.sleep(1 / 15)
        return self._frame

    def close(self) -> None:
        pass


async def preview_screenshots(root: Path, out: Path) -> list[Path]:
    """The gate with its live camera view at 100x30: a ticket read and outlined, and a ticket shaken
    too fast to read (the view is what staff aim by)."""
    # textual-image picks its drawing method by asking the terminal the bench runs in; the SVG
    # shows coloured half blocks wherever it runs.
    camera_preview.TerminalImage = HalfcellImage
    ticket = issue_code(KEY, 12)
    pose = {"size": 300, "rotate": -8.0}
    scenes = [
        ("preview-admit", gate_frame(ticket, Conditions(center=(0.6, 0.5), **pose), seed=3), "code in view"),
        (
            "preview-aiming",
            gate_frame(ticket, Conditions(center=(0.85, 0.35), blur=31, **pose), seed=3),
            "no code seen",
        ),
    ]
    written = []
    for name, frame, caption_wanted in scenes:
        home = new_home(root, f"shot-{name}")
        ticks = iter(
            datetime(2026, 6, 20, 19, 42, 7, tzinfo=UTC) + timedelta(seconds=65 * i) for i in range(9)
        )
        gate = new_gate(home, clock=lambda ticks=ticks: next(ticks))
        shown: list[ScanResult] = []
        app = GateApp(
            gate=gate,
            home=home,
            settings=GateSettings(preview=True),
            open_frames=lambda frame=frame: StillCamera(frame),
            tz=UTC,
            verdict_seconds=0,  # the verdict stays up: nothing changes while the shot is taken
            ring=lambda: None,
            refresh_seconds=0,
            on_painted=lambda result, _s, _p, shown=shown: shown.append(result),
        )
        async with app.run_test(size=(100, 30)) as pilot:
            caption = app.gate_screen.query_one("#preview-caption")
            deadline = time.monotonic() + 20
            while caption_wanted not in str(caption.render()) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            if name == "preview-admit":
                while not shown and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
            await pilot.pause(0.5)
            written.append(Path(app.save_screenshot(f"gate-{name}.svg", str(out))))
        gate.close()
    return written


def report(name: str, values: list[float]) -> tuple[float, float]:
    p50, p95, worst = percentiles(values)
    print(f"  {name:<44} n={len(values):>3}  p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  max {worst:6.1f} ms")
    return p50, p95


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=200)
    parser.add_argument("--spaced", type=int, default=60, help="tickets in the live view on/off comparison")
    parser.add_argument("--rounds", type=int, default=4, help="rounds of live view off, then on")
    parser.add_argument("--no-screenshots", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gate-latency-") as tmp:
        root = Path(tmp)
        codes = [issue_code(KEY, n) for n in range(1, args.tickets + 1)]
        video = root / "tickets.avi"
        first_frame = write_video(video, codes)
        seconds = (len(codes) * (TICKET_FRAMES + GAP_FRAMES) + GAP_FRAMES) / FPS
        spaced_codes = codes[: args.spaced]
        spaced = root / "queue.avi"
        spaced_first = write_video(spaced, spaced_codes, gap=SPACED_GAP_FRAMES)
        spaced_seconds = (len(spaced_codes) * (TICKET_FRAMES + SPACED_GAP_FRAMES) + SPACED_GAP_FRAMES) / FPS
        apart = SPACED_GAP_FRAMES / FPS
        print(f"video: {len(codes)} tickets back to back, 1280x720 MJPG at {FPS:g} fps, {seconds:.0f} s")
        print(
            f"  then {len(spaced_codes)} tickets {apart:.1f} s apart ({spaced_seconds:.0f} s), in real time"
        )
        print(f"  {args.rounds} x (live view off, live view on)")
        loads = [os.getloadavg()[0]]
        base = baseline(video, new_home(root, "baseline"), first_frame)
        app_latencies, ui_part, verdicts, _drawn = asyncio.run(
            through_app(video, new_home(root, "app"), first_frame, preview=False)
        )
        loads.append(os.getloadavg()[0])
        runs: dict[bool, dict[str, list[float]]] = {
            on: {"latency": [], "missed": [], "drawn": [], "p50": []} for on in (False, True)
        }
        for number in range(args.rounds):
            for on in (False, True):
                home = new_home(root, f"app-{number}-{'on' if on else 'off'}")
                latencies, _ui, seen, drawn = asyncio.run(through_app(spaced, home, spaced_first, preview=on))
                runs[on]["latency"] += latencies
                runs[on]["p50"] += [statistics.median(latencies)] if latencies else []
                runs[on]["missed"] += [len(spaced_codes) - len(seen)]
                runs[on]["drawn"] += [drawn / spaced_seconds]
                loads.append(os.getloadavg()[0])
        wedge = asyncio.run(handheld(new_home(root, "wedge"), args.tickets))
        loads.append(os.getloadavg()[0])
        print(
            f"results (CPU count {os.cpu_count()}, load average {min(loads):.1f}-{max(loads):.1f}"
            " while it ran):"
        )
        b50, b95 = report("baseline: frame read -> recorded (no UI)", base)
        a50, a95 = report("gate app: frame read -> verdict painted", app_latencies)
        report("  of which: code decoded -> verdict painted", ui_part)
        missed = sorted(set(range(1, len(codes) + 1)) - set(verdicts))
        print(f"  verdicts painted: {len(verdicts)} of {len(codes)} tickets; missed serials {missed}")
        report("gate app: handheld Enter -> verdict painted", wedge)
        print(f"  ratio app/baseline: p50 x{a50 / b50:.2f}, p95 x{a95 / b95:.2f}")
        print(f"  aim: p95 < 100 ms from frame to verdict on screen -> {'met' if a95 < 100 else 'NOT met'}")
        figures = {}
        for on in (False, True):
            label = "on " if on else "off"
            figures[on] = report(f"queue, live view {label}: frame read -> painted", runs[on]["latency"])
            print(
                f"  per round: p50 {', '.join(f'{v:.1f}' for v in runs[on]['p50'])} ms;"
                f" verdicts missed {runs[on]['missed']};"
                f" live view pictures drawn per second {', '.join(f'{d:.1f}' for d in runs[on]['drawn'])}"
            )
        (o50, o95), (p50, p95) = figures[False], figures[True]
        print(f"  ratio live view on/off: p50 x{p50 / o50:.2f}, p95 x{p95 / o95:.2f}")
        if not args.no_screenshots:
            out = ROOT / "docs" / "screenshots"
            for path in asyncio.run(screenshots(root, out)) + asyncio.run(preview_screenshots(root, out)):
                print(f"  screenshot {path.relative_to(ROOT)}")
    print(f"{date.today()}; reproduce with:")
    defaults = {"tickets": 200, "spaced": 60, "rounds": 4}
    extra = "".join(f" --{k} {getattr(args, k)}" for k, v in defaults.items() if getattr(args, k) != v)
    print(COMMAND + extra)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
