"""Gate-conditions benchmark: the project's decoder against zxing-cpp alone (QR only) on generated frames.

The set is ``tests/gateconditions.py`` (seeded; split ``tune`` for choosing passes, ``heldout`` for
judging them, fixed before any tuning). For each split and condition: codes read by zxing-cpp alone
in its strongest configuration, by the project's decoder, and by the decoder without each of its
passes; then what each dropped candidate pass (the raw frame, Wiener and Richardson-Lucy deblurring
with an estimated blur, CLAHE, regions around zxing-cpp's or OpenCV's detections) would add on top;
then ms per 1280x720 frame; then time-to-first-read on clips of a phone moving in, pausing and
leaving, played in real time through the camera loop (``run_reader``) with the project's
``FrameDecoder`` and with zxing-cpp alone on every frame.

    .venv/bin/python bench/gate_conditions.py [--per-condition 30] [--clips 16] [--save DIR]
    .venv/bin/python bench/gate_conditions.py --schemes [--per-condition 30]

``--schemes`` measures only this: the QR version of an HMAC and of an Ed25519 code, and the codes of
each read from the same held-out scenes (same hand, light, blur; only the payload differs).
"""

from __future__ import annotations

import argparse
import math
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scanner import decode as project  # noqa: E402
from scanner.capture import FrameSource, open_source  # noqa: E402
from scanner.reader import run_reader  # noqa: E402
from tests.gatecams import HEIGHT, WIDTH, background  # noqa: E402
from tests.gateconditions import CLIP_FPS, CONDITIONS, SPLITS, clip, expected, sample, ticket  # noqa: E402
from tests.gatescene import render  # noqa: E402

QR = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)
Reader = Callable[[np.ndarray], list[bytes]]


def zxing(gray: np.ndarray, **options: object) -> list[bytes]:
    return [bytes(r.bytes) for r in zxingcpp.read_barcodes(gray, formats=QR, **options)]  # type: ignore[arg-type]


# zxing-cpp alone, QR only: the configurations tried; the best-scoring one on the tune split is the baseline.
BASELINES: dict[str, Reader] = {
    "zxing-cpp QR, defaults": lambda g: zxing(g),
    "zxing-cpp QR, no try_invert": lambda g: zxing(g, try_invert=False),
    "zxing-cpp QR, GlobalHistogram": lambda g: zxing(g, binarizer=zxingcpp.Binarizer.GlobalHistogram),
}


# -- candidate passes measured and dropped (kept here so the README's figures reproduce) -----------


def _texture_roi(gray: np.ndarray, side: int = 448) -> np.ndarray:
    """The square of the frame with the densest fine detail: where a blurred code most likely is."""
    small = cv2.resize(gray, None, fx=0.25, fy=0.25, interpolation=cv2.INTER_AREA)
    energy = cv2.boxFilter(np.abs(cv2.Laplacian(small, cv2.CV_16S, ksize=1)).astype(np.float32), -1, (15, 15))
    _low, _high, _at, (px, py) = cv2.minMaxLoc(energy)
    h, w = gray.shape
    side = min(side, h, w)
    x0 = int(np.clip(px * 4 - side // 2, 0, w - side))
    y0 = int(np.clip(py * 4 - side // 2, 0, h - side))
    return gray[y0 : y0 + side, x0 : x0 + side]


def _estimate_blur(roi: np.ndarray) -> tuple[float, float]:
    """Motion-blur length and angle from the cepstrum: a linear blur of length L puts a negative peak
    at distance L along its direction."""
    f = roi.astype(np.float32) - float(roi.mean())
    window = np.outer(np.hanning(f.shape[0]), np.hanning(f.shape[1])).astype(np.float32)
    cepstrum = np.fft.fftshift(np.real(np.fft.ifft2(np.log(np.abs(np.fft.fft2(f * window)) + 1e-3))))
    cy, cx = np.array(cepstrum.shape) // 2
    ys, xs = np.mgrid[-cy : cepstrum.shape[0] - cy, -cx : cepstrum.shape[1] - cx]
    radius = np.hypot(xs, ys)
    search = np.where((radius >= 4) & (radius <= 30) & (ys >= 0), cepstrum, np.inf)
    iy, ix = np.unravel_index(np.argmin(search), search.shape)
    return math.hypot(ix - cx, iy - cy), math.degrees(math.atan2(iy - cy, ix - cx))


def _line_psf(length: float, angle: float) -> np.ndarray:
    size = math.ceil(length) | 1
    kernel = np.zeros((size, size), np.float32)
    c = size // 2
    dx, dy = (
        math.cos(math.radians(angle)) * (length - 1) / 2,
        math.sin(math.radians(angle)) * (length - 1) / 2,
    )
    p1 = (round((c - dx) * 16), round((c - dy) * 16))
    p2 = (round((c + dx) * 16), round((c + dy) * 16))
    cv2.line(kernel, p1, p2, 1.0, 1, cv2.LINE_AA, shift=4)
    return kernel / kernel.sum()


def _wiener(image: np.ndarray, psf: np.ndarray, k: float) -> np.ndarray:
    pad = 32
    padded = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REFLECT).astype(np.float32)
    h, w = padded.shape
    kernel = np.zeros((h, w), np.float32)
    kernel[: psf.shape[0], : psf.shape[1]] = psf
    kernel = np.roll(kernel, (-(psf.shape[0] // 2), -(psf.shape[1] // 2)), (0, 1))
    fk = np.fft.rfft2(kernel)
    out = np.fft.irfft2(np.fft.rfft2(padded) * np.conj(fk) / (np.abs(fk) ** 2 + k), s=(h, w))
    return np.clip(out[pad:-pad, pad:-pad], 0, 255).astype(np.uint8)


def _richardson_lucy(image: np.ndarray, psf: np.ndarray, iterations: int = 12) -> np.ndarray:
    estimate = image.astype(np.float32) + 1.0
    observed = estimate.copy()
    flipped = psf[::-1, ::-1]
    for _ in range(iterations):
        ratio = observed / (cv2.filter2D(estimate, -1, psf) + 1e-3)
        estimate *= cv2.filter2D(ratio, -1, flipped)
    return np.clip(estimate, 0, 255).astype(np.uint8)


def deblur_wiener(gray: np.ndarray) -> list[bytes]:
    roi = _texture_roi(gray)
    psf = _line_psf(*_estimate_blur(roi))
    for k in (0.005, 0.02):
        found = zxing(_wiener(roi, psf, k))
        if found:
            return found
    return []


def deblur_rl(gray: np.ndarray) -> list[bytes]:
    roi = _texture_roi(gray)
    return zxing(_richardson_lucy(roi, _line_psf(*_estimate_blur(roi))))


def _around(gray: np.ndarray, quad: np.ndarray) -> np.ndarray | None:
    x0, y0 = quad.min(axis=0)
    x1, y1 = quad.max(axis=0)
    margin = 0.25 * max(x1 - x0, y1 - y0) + 8
    x0, y0 = int(max(0, x0 - margin)), int(max(0, y0 - margin))
    x1, y1 = int(min(gray.shape[1], x1 + margin)), int(min(gray.shape[0], y1 + margin))
    if x1 - x0 < 21 or y1 - y0 < 21:
        return None
    roi = gray[y0:y1, x0:x1]
    return cv2.resize(roi, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC) if max(roi.shape) < 500 else roi


def roi_zxing_positions(gray: np.ndarray) -> list[bytes]:
    """Codes zxing-cpp located but could not decode, cropped, doubled and tried again (also thresholded)."""
    for result in zxingcpp.read_barcodes(gray, formats=QR, return_errors=True):
        if result.valid:
            continue
        p = result.position
        points = [p.top_left, p.top_right, p.bottom_right, p.bottom_left]
        roi = _around(gray, np.float32([[q.x, q.y] for q in points]))
        if roi is None:
            continue
        found = zxing(roi) or zxing(project._adaptive(roi))
        if found:
            return found
    return []


_OPENCV = cv2.QRCodeDetector()


def roi_opencv(gray: np.ndarray) -> list[bytes]:
    ok, points = _OPENCV.detect(gray)
    if not ok or points is None:
        return []
    roi = _around(gray, points.reshape(-1, 2))
    return zxing(roi) if roi is not None else []


_CLAHE = cv2.createCLAHE(clipLimit=4.0, tileGridSize=(8, 8))

CANDIDATES: dict[str, Reader] = {
    "raw frame (zxing-cpp, unsmoothed)": lambda g: zxing(g),
    "Wiener deblur, estimated blur": deblur_wiener,
    "Richardson-Lucy deblur, estimated blur": deblur_rl,
    "region around zxing-cpp's failed detection, x2": roi_zxing_positions,
    "region around OpenCV's detection, x2": roi_opencv,
    "CLAHE": lambda g: zxing(_CLAHE.apply(cv2.GaussianBlur(g, (3, 3), 0))),
    "GlobalHistogram binariser": lambda g: zxing(g, binarizer=zxingcpp.Binarizer.GlobalHistogram),
}


# -- the set --------------------------------------------------------------------------------------


def load_split(
    split: str, per_condition: int, save: Path | None
) -> list[tuple[str, list[bytes], np.ndarray]]:
    items = []
    for condition in CONDITIONS:
        for index in range(per_condition):
            scene = sample(condition, split, index)
            frame = render(scene)
            if save is not None:
                folder = save / split / condition.replace(" ", "-")
                folder.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(folder / f"{index:03d}.png"), frame)
            items.append((condition, expected(scene), frame))
    return items


def reads(reader: Reader, items: list[tuple[str, list[bytes], np.ndarray]]) -> list[frozenset[bytes]]:
    """For each item, the expected payloads ``reader`` got (a wrong payload is counted apart)."""
    out = []
    for _condition, want, frame in items:
        got = reader(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))
        wrong = [g for g in got if g not in want]
        if wrong:
            print(f"  WRONG READ {wrong!r}")
        out.append(frozenset(g for g in got if g in want))
    return out


def by_condition(
    items: list[tuple[str, list[bytes], np.ndarray]], got: list[frozenset[bytes]]
) -> Counter[str]:
    counts: Counter[str] = Counter()
    for (condition, _want, _frame), found in zip(items, got, strict=True):
        counts[condition] += len(found)
    return counts


def pass_reader(skip: str | None = None, *, extra: Reader | None = None) -> Reader:
    def read(gray: np.ndarray) -> list[bytes]:
        for name, attempt in project.passes(gray):
            if name != skip:
                found = attempt()
                if found:
                    return [item[0] for item in found]
        return extra(gray) if extra is not None else []

    return read


def first_pass(items: list[tuple[str, list[bytes], np.ndarray]]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for _condition, want, frame in items:
        symbols = project.read_symbols(frame)
        if any(s.data in want for s in symbols):
            counts[symbols[0].decoder] += 1
    return counts


def accuracy(splits: dict[str, list[tuple[str, list[bytes], np.ndarray]]]) -> None:
    totals = {split: sum(len(w) for _c, w, _f in items) for split, items in splits.items()}
    print("== codes read, per split (tune: passes were chosen on it; heldout: judged on it)")
    scores = {name: {s: reads(r, items) for s, items in splits.items()} for name, r in BASELINES.items()}
    for name, per in scores.items():
        print(f"  {name:34s} " + "  ".join(f"{s} {sum(map(len, g))}/{totals[s]}" for s, g in per.items()))
    best = max(scores, key=lambda n: sum(map(len, scores[n]["tune"])))
    print(f"  baseline (strongest on tune): {best}")
    ours = {s: reads(pass_reader(), items) for s, items in splits.items()}
    for split, items in splits.items():
        base, mine = by_condition(items, scores[best][split]), by_condition(items, ours[split])
        per_condition = Counter(c for c, _w, _f in items)
        want = Counter()
        for c, w, _f in items:
            want[c] += len(w)
        print(f"\n  split {split}: codes read per condition (of {per_condition[CONDITIONS[0]]} frames each)")
        print(f"  {'condition':16s} {'codes':>5s} {'zxing-cpp':>10s} {'project':>8s}")
        for condition in CONDITIONS:
            print(f"  {condition:16s} {want[condition]:5d} {base[condition]:10d} {mine[condition]:8d}")
        b, m = sum(base.values()), sum(mine.values())
        print(
            f"  {'overall':16s} {totals[split]:5d} {b:10d} {m:8d}"
            f"   ({100 * b / totals[split]:.1f}% -> {100 * m / totals[split]:.1f}%)"
        )
        print("  first pass that read it:", ", ".join(f"{k} {v}" for k, v in first_pass(items).most_common()))
    print("\n== ablation: codes read without each kept pass")
    names = [name for name, _ in project.passes(np.zeros((32, 32), np.uint8))]
    print(f"  {'':34s} " + "  ".join(f"{s:>8s}" for s in splits))
    print(f"  {'every pass':34s} " + "  ".join(f"{sum(map(len, ours[s])):8d}" for s in splits))
    for name in names:
        got = {s: sum(map(len, reads(pass_reader(name), items))) for s, items in splits.items()}
        print(f"  {'without ' + name:34s} " + "  ".join(f"{got[s]:8d}" for s in splits))
    print("\n== dropped candidates: codes each would add after every kept pass; ms on the frames it runs on")
    for name, candidate in CANDIDATES.items():
        added, costs = {}, []
        for split, items in splits.items():
            missed = [
                (c, w, f) for (c, w, f), got in zip(items, ours[split], strict=True) if len(got) < len(w)
            ]
            started = time.process_time()
            extra = reads(candidate, missed)
            costs.append((time.process_time() - started) * 1000 / max(1, len(missed)))
            before = [got for got, (_c, w, _f) in zip(ours[split], items, strict=True) if len(got) < len(w)]
            added[split] = sum(len(e - b) for e, b in zip(extra, before, strict=True))
            gained = by_condition(missed, [e - b for e, b in zip(extra, before, strict=True)])
            added[split + " where"] = ", ".join(f"{c} {n}" for c, n in gained.items() if n)  # type: ignore[assignment]
        print(
            f"  {name:46s} tune +{added['tune']:<3d} heldout +{added['heldout']:<3d}"
            f" {statistics.mean(costs):6.1f} ms   (held-out: {added['heldout where'] or '-'})"
        )


def timed(reader: Reader, frames: list[np.ndarray]) -> list[float]:
    """CPU ms per frame, of the whole process (OpenCV may spread a resize or a blur over its own
    threads; nothing else runs meanwhile), which a busy machine inflates far less than wall time."""
    out = []
    for frame in frames:
        started = time.process_time()
        reader(frame)
        out.append((time.process_time() - started) * 1000)
    return out


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def cost(items: list[tuple[str, list[bytes], np.ndarray]]) -> None:
    with_code = [frame for _c, _w, frame in items]
    empty = [background(5000 + n) for n in range(40)]
    print(
        f"\n== CPU ms per 1280x720 BGR frame: {len(with_code)} held-out frames, {len(empty)} with no code;"
        " x: no-code cost over one zxing-cpp pass's, at p50 and p95"
    )
    baseline: tuple[float, float] | None = None
    for name, make in [
        ("zxing-cpp alone, QR (baseline)", lambda: lambda f: zxing(f)),
        ("project, every pass (stills, decode)", lambda: project.decode_frame),
        ("project FrameDecoder (camera loop)", lambda: project.FrameDecoder()),
    ]:
        hit, none = timed(make(), with_code), timed(make(), empty)
        baseline = baseline or (pct(none, 0.5), pct(none, 0.95))
        print(
            f"  {name:38s} with a code p50 {pct(hit, 0.5):5.1f} p95 {pct(hit, 0.95):5.1f}"
            f"   no code p50 {pct(none, 0.5):5.1f} p95 {pct(none, 0.95):5.1f}"
            f"   x{pct(none, 0.5) / baseline[0]:.2f} / x{pct(none, 0.95) / baseline[1]:.2f}"
        )
    print("  each kept pass alone, on the same frames already in gray (what one turn costs):")
    grays = [cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) for f in with_code]
    empty_grays = [cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) for f in empty]
    for name, _attempt in project.passes(empty_grays[0]):

        def one(gray: np.ndarray, name: str = name) -> list[bytes]:
            return [found[0] for found in dict(project.passes(gray))[name]()]

        hit, none = timed(one, grays), timed(one, empty_grays)
        print(
            f"    {name:36s} with a code p50 {pct(hit, 0.5):5.1f} p95 {pct(hit, 0.95):5.1f}"
            f"   no code p50 {pct(none, 0.5):5.1f} p95 {pct(none, 0.95):5.1f}"
        )


class _Arrivals:
    """A real frame source that notes when each frame left it."""

    def __init__(self, source: FrameSource) -> None:
        self._source = source
        self.name = source.name
        self.live = False
        self.realtime = True
        self.arrivals: list[float] = []

    def read(self) -> np.ndarray | None:
        frame = self._source.read()
        if frame is not None:
            self.arrivals.append(time.monotonic())
        return frame

    def close(self) -> None:
        self._source.close()


def write_clip(path: Path, frames: list[np.ndarray]) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), CLIP_FPS, (WIDTH, HEIGHT))
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


def time_to_first_read(video: Path, payload: bytes, in_view: int, decode: Reader) -> float | None:
    sources: list[_Arrivals] = []
    first: list[float] = []

    def opener() -> FrameSource:
        sources.append(_Arrivals(open_source(path=video, realtime=True)))
        return sources[-1]

    def on_payload(data: bytes) -> None:
        if data == payload and not first:
            first.append(time.monotonic())

    run_reader(
        opener,
        on_payload=on_payload,
        on_status=lambda _s: None,
        should_stop=lambda: False,
        retry_forever=False,
        decode=decode,
    )
    arrivals = sources[0].arrivals
    if not first or in_view >= len(arrivals):
        return None
    return (first[0] - arrivals[in_view]) * 1000


def frames_to_first_read(video: Path, payload: bytes, in_view: int, decode: Reader) -> int | None:
    """Frames from the first one showing the whole code to the first one read, every frame of the
    video decoded in turn: what a laptop that keeps up with the camera gives, whatever the load here."""
    capture = cv2.VideoCapture(str(video))
    try:
        index = 0
        while True:
            ok, frame = capture.read()
            if not ok:
                return None
            if payload in decode(frame):
                return index - in_view
            index += 1
    finally:
        capture.release()


def clips(count: int, scratch: Path) -> None:
    frame_ms = 1000 / CLIP_FPS
    print(
        f"\n== time to first read: {count} clips per split at {CLIP_FPS:g} fps (a phone swept in, held,"
        " swept out), from the first frame showing the whole code (negative: read while still entering)."
        f"\n   frames: every frame decoded in turn (x {frame_ms:.1f} ms); ms: run_reader playing the clip in"
        " real time on this machine (a slower frame is dropped, not queued)"
    )
    for split in SPLITS:
        decoders: dict[str, Callable[[], Reader]] = {
            "project camera loop": lambda: project.FrameDecoder(),
            "zxing-cpp alone, every frame": lambda: zxing,
        }
        in_frames: dict[str, list[int | None]] = {name: [] for name in decoders}
        in_ms: dict[str, list[float | None]] = {name: [] for name in decoders}
        for index in range(count):
            c = clip(split, index)
            video = write_clip(scratch / f"{split}-{index}.avi", [render(s) for s in c.scenes])
            for name, make in decoders.items():
                in_frames[name].append(frames_to_first_read(video, c.payload, c.in_view, make()))
                in_ms[name].append(time_to_first_read(video, c.payload, c.in_view, make()))
        for name in decoders:
            frames = [f for f in in_frames[name] if f is not None]
            ms = [v for v in in_ms[name] if v is not None]
            shown = (
                f"frames p50 {pct(frames, 0.5):3.0f} p95 {pct(frames, 0.95):3.0f}"
                f" (= {pct(frames, 0.5) * frame_ms:4.0f} / {pct(frames, 0.95) * frame_ms:4.0f} ms)"
                if frames
                else "no read"
            )
            live = f"real time p50 {pct(ms, 0.5):4.0f} p95 {pct(ms, 0.95):4.0f} ms" if ms else "no read"
            print(f"  {split:8s} {name:30s} read {len(frames):2d}/{count}  {shown}   {live}")
            print(
                "           each clip, frames:",
                " ".join("-" if v is None else str(v) for v in in_frames[name]),
                "  ms:",
                " ".join("-" if v is None else f"{v:.0f}" for v in in_ms[name]),
            )


def schemes(per_condition: int) -> None:
    """QR version and codes read, HMAC vs Ed25519 payloads in the same held-out scenes."""
    import segno

    print("== signing schemes: the same held-out scenes with an HMAC and an Ed25519 code")
    for scheme in ("hmac", "ed25519"):
        payload = ticket("heldout", 1, scheme=scheme)
        qr = segno.make(payload, error="m", micro=False)
        print(f"  {scheme:8s} {len(payload):3d} characters, QR version {qr.version} ({qr.mode} mode)")
    items = {
        scheme: [
            (c, expected(scene), render(scene))
            for c in CONDITIONS
            for scene in (sample(c, "heldout", i, scheme=scheme) for i in range(per_condition))
        ]
        for scheme in ("hmac", "ed25519")
    }
    best = BASELINES["zxing-cpp QR, defaults"]
    got = {
        scheme: {
            "project": by_condition(its, reads(pass_reader(), its)),
            "zxing": by_condition(its, reads(best, its)),
        }
        for scheme, its in items.items()
    }
    want: Counter[str] = Counter()
    for c, w, _f in items["hmac"]:
        want[c] += len(w)
    print(
        f"  {'condition':16s} {'codes':>5s} {'hmac':>6s} {'ed25519':>8s}"
        f"   zxing-cpp alone: {'hmac':>5s} {'ed25519':>8s}"
    )
    for c in CONDITIONS:
        print(
            f"  {c:16s} {want[c]:5d} {got['hmac']['project'][c]:6d} {got['ed25519']['project'][c]:8d}"
            f"   {'':16s} {got['hmac']['zxing'][c]:5d} {got['ed25519']['zxing'][c]:8d}"
        )
    total = sum(want.values())
    line = "  ".join(
        f"{scheme} {sum(got[scheme]['project'].values())}/{total}"
        f" ({100 * sum(got[scheme]['project'].values()) / total:.1f}%)"
        for scheme in got
    )
    base = "  ".join(f"{scheme} {sum(got[scheme]['zxing'].values())}/{total}" for scheme in got)
    print(f"  overall, project decoder: {line};  zxing-cpp alone (baseline): {base}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-condition", type=int, default=30, help="frames per condition and split")
    parser.add_argument("--clips", type=int, default=16, help="clips per split for time-to-first-read")
    parser.add_argument("--save", type=Path, help="also write every frame as PNG under this folder")
    parser.add_argument(
        "--schemes", action="store_true", help="only compare HMAC and Ed25519 codes (QR version, codes read)"
    )
    args = parser.parse_args(argv)
    started = time.monotonic()
    if args.schemes:
        schemes(args.per_condition)
        print(f"\n{date.today()}, load average {os.getloadavg()[0]:.1f}, {os.cpu_count()} CPUs")
        print(
            "command:", shlex.join([".venv/bin/python", "bench/gate_conditions.py", *(argv or sys.argv[1:])])
        )
        return 0
    splits = {split: load_split(split, args.per_condition, args.save) for split in SPLITS}
    print(
        f"generated {sum(map(len, splits.values()))} frames in {time.monotonic() - started:.0f} s"
        f" ({len(CONDITIONS)} conditions x {args.per_condition} x {len(SPLITS)} splits)"
    )
    accuracy(splits)
    cost(splits["heldout"])
    if args.clips:
        with tempfile.TemporaryDirectory() as scratch:
            clips(args.clips, Path(scratch))
    print(f"\n{date.today()}, load average {os.getloadavg()[0]:.1f}, {os.cpu_count()} CPUs")
    print("command:", shlex.join([".venv/bin/python", "bench/gate_conditions.py", *(argv or sys.argv[1:])]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
