"""Decoder benchmark: the project's QR decoder against each stock library, on qr-bench and on gate frames.

Part 1, ``../shared/qr-bench`` (97 images, read as 8-bit grayscale, text compared after CRLF -> LF and
strip): codes decoded correctly and median/p95 ms per image for the project's decoder
(``scanner.decode.read_symbols``) and, in the same run, pyzbar, OpenCV's QRCodeDetector and zxing-cpp
alone (one grayscale pass each, as the bench README measured them). Then what each fallback pass of
the project's decoder adds: the score with that pass removed.

Part 2, generated 1280x720 gate frames (``tests/gatecams.py``): first what each fallback adds on the
qr-bench, on frames under every gate condition the tests require and on harsher "stress" frames (the
score with that pass left out); then ms per frame with a ticket and without any code, p50/p95, for
the full decoder (``decode_frame``), the stream decoder the camera loop uses (``FrameDecoder``: the
fast pass plus a budget of fallbacks) and zxing-cpp alone as the in-run baseline.

Part 3, frame-to-scan latency: a real-time video of tickets (one per gate condition) through the
camera loop (``run_reader``: grabber thread, FrameDecoder, debouncer), from a ticket's first frame
leaving the source to ``on_payload``.

    .venv/bin/python bench/decode_bench.py [--bench ../shared/qr-bench] [--repeat 3] [--frames 8]
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from datetime import date
from pathlib import Path

import cv2
import numpy as np
import zxingcpp
from pyzbar import pyzbar

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scanner import decode as project  # noqa: E402
from scanner.capture import FrameSource, open_source  # noqa: E402
from scanner.reader import run_reader  # noqa: E402
from tests.gatecams import (  # noqa: E402
    FPS,
    GATE_CONDITIONS,
    STRESS_CONDITIONS,
    Conditions,
    Shot,
    background,
    gate_frame,
    write_video,
)
from ticketcode import derive_event_key, issue_code  # noqa: E402

Decoder = Callable[[np.ndarray], list[str]]


def _default_bench() -> Path:
    """$TICKETGATE_QR_BENCH, else ../shared/qr-bench beside the clone (or beside its worktree folder)."""
    if os.environ.get("TICKETGATE_QR_BENCH"):
        return Path(os.environ["TICKETGATE_QR_BENCH"])
    for candidate in (ROOT.parent / "shared" / "qr-bench", ROOT.parents[1] / "shared" / "qr-bench"):
        if candidate.is_dir():
            return candidate
    return ROOT.parent / "shared" / "qr-bench"


def load_bench(folder: Path) -> list[tuple[str, str, np.ndarray]]:
    items = []
    for png in sorted(folder.glob("*/*.png")):
        expected = png.with_suffix(".txt").read_text(encoding="utf-8")
        image = cv2.imread(str(png), cv2.IMREAD_GRAYSCALE)
        if image is None:
            raise SystemExit(f"cannot read {png}")
        items.append((f"{png.parent.name}/{png.name}", normalise(expected), image))
    if not items:
        raise SystemExit(
            f"qr-bench images not found under {folder}: set TICKETGATE_QR_BENCH or use ../shared/qr-bench"
        )
    return items


def normalise(text: str) -> str:
    return text.replace("\r\n", "\n").strip()


def stock_pyzbar(gray: np.ndarray) -> list[str]:
    return [s.data.decode("utf-8", "replace") for s in pyzbar.decode(gray)]


_OPENCV = cv2.QRCodeDetector()


def stock_opencv(gray: np.ndarray) -> list[str]:
    try:
        text, _points, _straight = _OPENCV.detectAndDecode(gray)
    except (cv2.error, UnicodeDecodeError):
        return []  # OpenCV's binding raises on payloads that are not UTF-8
    return [text] if text else []


_QR = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)


def stock_zxing(gray: np.ndarray) -> list[str]:
    # the strongest configuration, the fair baseline: QR codes only (all formats cost 10x for nothing
    # here) and plain text mode, as the project's decoder reads
    return [r.text for r in zxingcpp.read_barcodes(gray, formats=_QR, text_mode=zxingcpp.TextMode.Plain)]


def ours(gray: np.ndarray) -> list[str]:
    return [symbol.text for symbol in project.read_symbols(gray)]


def timed(
    decoder: Callable[[np.ndarray], object], image: np.ndarray, repeat: int
) -> tuple[object, float, float]:
    """The decoder's result, and its median wall and CPU ms over ``repeat`` runs.

    The machine is shared: wall time includes waiting for a core, CPU time (of the whole process:
    OpenCV may spread a resize over its own threads; nothing else runs meanwhile) is what decoding
    cost.
    """
    walls, cpus = [], []
    result: object = None
    for _ in range(repeat):
        started, cpu_started = time.perf_counter(), time.process_time()
        result = decoder(image)
        cpus.append((time.process_time() - cpu_started) * 1000)
        walls.append((time.perf_counter() - started) * 1000)
    return result, statistics.median(walls), statistics.median(cpus)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def bench_images(items: list[tuple[str, str, np.ndarray]], repeat: int) -> None:
    print(f"== qr-bench: {len(items)} images, grayscale, median of {repeat} runs per image")
    print("   ms per image: wall clock and CPU, median and p95; x: median CPU over zxing-cpp's")
    print(
        f"{'decoder':34s} {'correct':>9s} {'wall p50':>9s} {'wall p95':>9s} {'CPU p50':>8s} {'CPU p95':>8s}"
    )
    solved: dict[str, set[str]] = {}
    rows = []
    for name, decoder in [
        ("zxing-cpp alone, QR only", stock_zxing),
        ("project (scanner.decode)", ours),
        ("pyzbar alone", stock_pyzbar),
        ("OpenCV QRCodeDetector alone", stock_opencv),
    ]:
        times, cpus, ok = [], [], set()
        for label, expected, image in items:
            texts, ms, cpu = timed(decoder, image, repeat)
            times.append(ms)
            cpus.append(cpu)
            if any(normalise(t) == expected for t in texts):  # type: ignore[attr-defined]
                ok.add(label)
        solved[name] = ok
        rows.append((name, ok, times, cpus))
    base_cpu = statistics.median(rows[0][3])
    for name, ok, times, cpus in rows:
        cpu = statistics.median(cpus)
        print(
            f"{name:34s} {len(ok):>4d} / {len(items)}"
            f" {statistics.median(times):9.2f} {pct(times, 0.95):9.2f}"
            f" {cpu:8.2f} {pct(cpus, 0.95):8.2f}  x{cpu / base_cpu:.1f}"
        )
    stock = set().union(*(v for k, v in solved.items() if k != "project (scanner.decode)"))
    print(f"{'any stock library':34s} {len(stock):>4d} / {len(items)}")
    missed = sorted(label for label, _e, _i in items if label not in solved["project (scanner.decode)"])
    print(f"project misses: {', '.join(missed) or 'none'}")

    found_by: Counter[str] = Counter()
    for _label, expected, image in items:
        symbols = project.read_symbols(image)
        if any(normalise(s.text) == expected for s in symbols):
            found_by[symbols[0].decoder] += 1
    print("project, codes found by each pass:", ", ".join(f"{k} {v}" for k, v in found_by.most_common()))


def ablation(
    items: list[tuple[str, str, np.ndarray]],
    gate: list[tuple[bytes, np.ndarray]],
    stress: list[tuple[bytes, np.ndarray]],
) -> None:
    """The score without each pass: what that pass alone adds (qr-bench, gate frames, stress frames)."""
    gate_grays = [(payload, cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)) for payload, frame in gate]
    stress_grays = [(payload, cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)) for payload, frame in stress]
    names = [name for name, _ in project.passes(items[0][2])]
    print("== what each pass earns: codes decoded with every pass, and with one pass left out")
    print(f"{'passes':24s} {'qr-bench':>9s} {'gate frames':>12s} {'stress frames':>14s}")

    def run(gray: np.ndarray, skip: str | None) -> list[tuple[bytes, str]]:
        for name, attempt in project.passes(gray):
            if name != skip:
                found = attempt()
                if found:
                    return [(data, text) for data, text, _corners in found]
        return []

    for skip in [None, *names]:
        bench = sum(any(normalise(t) == e for _d, t in run(img, skip)) for _l, e, img in items)
        on_gate = sum(any(d == p for d, _t in run(g, skip)) for p, g in gate_grays)
        on_stress = sum(any(d == p for d, _t in run(g, skip)) for p, g in stress_grays)
        label = "every pass" if skip is None else f"without {skip}"
        print(
            f"{label:24s} {bench:>4d} / {len(items):<3d} {on_gate:>5d} / {len(gate_grays):<4d}"
            f" {on_stress:>6d} / {len(stress_grays):<4d}"
        )


def bench_frames(frames: list[tuple[bytes, np.ndarray]], empty: list[np.ndarray], repeat: int) -> None:
    print(f"== 1280x720 frames: {len(frames)} with a ticket (every gate condition), {len(empty)} with none")
    print("   ms per frame as p50 / p95, wall clock and CPU time of the process")
    print(
        f"{'decoder':36s} {'ticket ok':>10s} {'ticket wall':>14s} {'ticket CPU':>14s}"
        f" {'no code wall':>14s} {'no code CPU':>14s}  no-code CPU vs baseline"
    )
    qr_only = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)

    def zxing_only(frame: np.ndarray) -> list[bytes]:
        return [bytes(r.bytes) for r in zxingcpp.read_barcodes(frame, formats=qr_only)]

    def p50_p95(values: list[float]) -> str:
        return f"{pct(values, 0.5):6.1f} /{pct(values, 0.95):6.1f}"

    baseline = None
    for name, make in [
        ("zxing-cpp alone, QR only (baseline)", lambda: zxing_only),
        ("project decode_frame (all passes)", lambda: project.decode_frame),
        ("project FrameDecoder (camera loop)", lambda: project.FrameDecoder()),
    ]:
        decoder = make()
        hit_wall, hit_cpu, none_wall, none_cpu, ok = [], [], [], [], 0
        for payload, frame in frames:
            found, wall, cpu = timed(decoder, frame, repeat)
            hit_wall.append(wall)
            hit_cpu.append(cpu)
            ok += found == [payload]
        decoder = make()  # a fresh stream: the budgeted decoder's turn starts at the first fallback
        for frame in empty:
            _found, wall, cpu = timed(decoder, frame, repeat)
            none_wall.append(wall)
            none_cpu.append(cpu)
        if baseline is None:
            baseline = pct(none_cpu, 0.5)
        print(
            f"{name:36s} {ok:>4d} / {len(frames):<3d} {p50_p95(hit_wall)} {p50_p95(hit_cpu)}"
            f" {p50_p95(none_wall)} {p50_p95(none_cpu)}  {pct(none_cpu, 0.5) / baseline:.1f}x"
        )


class _ArrivalClock:
    """A real frame source that notes when each frame arrived (left the source), by frame index."""

    def __init__(self, source: FrameSource) -> None:
        self._source = source
        self.name = source.name
        self.live = getattr(source, "live", False)
        self.realtime = getattr(source, "realtime", True)
        self.arrivals: list[float] = []

    def read(self) -> np.ndarray | None:
        frame = self._source.read()
        if frame is not None:
            self.arrivals.append(time.monotonic())
        return frame

    def close(self) -> None:
        self._source.close()


def bench_latency(folder: Path) -> None:
    """Frame-to-scan latency through the real camera loop: a ticket's first frame -> on_payload."""
    key = derive_event_key(b"decode bench master secret", "LATENCY")
    shots, firsts, codes = [], [], []
    frame_index = 0
    for index, conditions in enumerate(GATE_CONDITIONS.values()):
        code = issue_code(key, index + 1, width=4)
        shots += [Shot(None, 0.6), Shot(code, 0.8, conditions)]
        frame_index += round(0.6 * FPS)
        firsts.append(frame_index)
        codes.append(code.encode())
        frame_index += round(0.8 * FPS)
    video = write_video(folder / "latency.avi", shots, fps=FPS)
    sources: list[_ArrivalClock] = []
    scanned: dict[bytes, float] = {}

    def open_frames() -> FrameSource:
        sources.append(_ArrivalClock(open_source(path=video, realtime=True)))
        return sources[-1]

    run_reader(
        open_frames,
        on_payload=lambda payload: scanned.setdefault(payload, time.monotonic()),
        on_status=lambda status: None,
        should_stop=lambda: False,
        retry_forever=False,
    )
    arrivals = sources[0].arrivals
    latencies = [
        (scanned[code] - arrivals[first]) * 1000
        for code, first in zip(codes, firsts, strict=True)
        if code in scanned
    ]
    print(
        f"== frame-to-scan latency, real-time {FPS:g} fps video through run_reader (grabber + FrameDecoder),"
        f" {len(codes)} tickets, one per gate condition"
    )
    if latencies:
        print(
            f"scanned {len(latencies)} / {len(codes)}; ms from the ticket's first frame to on_payload:"
            f" p50 {pct(latencies, 0.5):.1f}, p95 {pct(latencies, 0.95):.1f}, max {max(latencies):.1f}"
            f" (one frame is {1000 / FPS:.1f} ms)"
        )
    else:
        print(f"scanned 0 / {len(codes)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bench", type=Path, default=_default_bench())
    parser.add_argument("--repeat", type=int, default=3, help="runs per image; the median is kept")
    parser.add_argument("--frames", type=int, default=8, help="generated frames per gate condition")
    args = parser.parse_args(argv)

    items = load_bench(args.bench)
    bench_images(items, args.repeat)

    key = derive_event_key(b"decode bench master secret", "GATE24")

    def tickets(conditions: list[Conditions], first: int) -> list[tuple[bytes, np.ndarray]]:
        frames = []
        for index, condition in enumerate(conditions, start=first):
            for n in range(args.frames):
                code = issue_code(key, index * 100 + n + 1, width=4)
                frames.append((code.encode(), gate_frame(code, condition, seed=index * 100 + n)))
        return frames

    frames = tickets(list(GATE_CONDITIONS.values()), 0)
    stress = tickets(list(STRESS_CONDITIONS.values()), len(GATE_CONDITIONS))
    empty = [background(1000 + n) for n in range(args.frames * 4)]
    print()
    ablation(items, frames, stress)
    print()
    bench_frames(frames, empty, args.repeat)
    print()
    with tempfile.TemporaryDirectory() as scratch:
        bench_latency(Path(scratch))
    print()
    print(f"{date.today()}, load average {os.getloadavg()[0]:.1f}, {os.cpu_count()} CPUs")
    print("command:", shlex.join([".venv/bin/python", "bench/decode_bench.py", *(argv or sys.argv[1:])]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
