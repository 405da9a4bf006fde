"""Synthetic gate-camera footage: ticket QR codes in 1280x720 frames under real gate conditions, and videos.

Used by the decoder, capture and reader tests and by ``bench/decode_bench.py``. Every frame is
deterministic for a given seed, so a failure reproduces.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from scanner.render import render_ticket

WIDTH, HEIGHT = 1280, 720
FPS = 30.0


@dataclass(frozen=True)
class Conditions:
    """How a code looks to the gate camera. Defaults: a clear code held at a comfortable distance."""

    size: int = 300  # width of the code with its quiet zone, in pixels
    center: tuple[float, float] = (0.5, 0.5)  # where in the frame, as fractions of width and height
    tilt: float = 0.0  # perspective: 0 flat, 0.3 strongly tilted away
    rotate: float = 0.0  # degrees in the image plane
    blur: int = 0  # motion-blur length in pixels (horizontal hand movement)
    noise: float = 0.0  # sensor noise, standard deviation in grey levels
    contrast: float = 1.0  # 1 full black/white; 0.2 a washed-out print or a dim screen
    glare: float = 0.0  # 0..1: strength of a bright reflection over part of the code
    dark_mode: bool = False  # light modules on a dark screen (phone in dark mode)
    screen: bool = False  # shown on a phone: a dark bezel around the code
    brightness: float = 1.0  # overall exposure; 0.4 a dark gate at night


def background(seed: int = 0) -> np.ndarray:
    """A 1280x720 BGR scene with no code in it: gradient light, a few shapes and some texture."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    base = 70 + 60 * (xs / WIDTH) + 30 * np.sin(ys / 97.0 + seed)
    scene = np.repeat(base[:, :, None], 3, axis=2)
    scene += rng.normal(0, 6, size=(HEIGHT, WIDTH, 1)).astype(np.float32)
    image = np.clip(scene, 0, 255).astype(np.uint8)
    for _ in range(12):  # people, railings, signs: edges a decoder must not be fooled by
        x, y = int(rng.integers(0, WIDTH)), int(rng.integers(0, HEIGHT))
        w, h = int(rng.integers(20, 300)), int(rng.integers(20, 200))
        color = tuple(int(c) for c in rng.integers(0, 255, size=3))
        if rng.random() < 0.5:
            cv2.rectangle(image, (x, y), (x + w, y + h), color, -1)
        else:
            cv2.ellipse(image, (x, y), (w // 2, h // 2), float(rng.integers(0, 180)), 0, 360, color, -1)
    for _ in range(6):
        p1 = (int(rng.integers(0, WIDTH)), int(rng.integers(0, HEIGHT)))
        p2 = (int(rng.integers(0, WIDTH)), int(rng.integers(0, HEIGHT)))
        cv2.line(image, p1, p2, (230, 230, 230), int(rng.integers(1, 6)))
    return image


def gate_frame(
    payload: str | bytes | None, conditions: Conditions = Conditions(), *, seed: int = 0
) -> np.ndarray:
    """A 1280x720 BGR frame showing ``payload`` as a QR code (or no code for None) as ``conditions`` say."""
    rng = np.random.default_rng(seed + 1000)
    frame = background(seed).astype(np.float32)
    if payload is not None:
        frame = _place_code(frame, payload, conditions, rng)
    frame *= conditions.brightness
    if conditions.blur > 1:
        kernel = np.zeros((conditions.blur, conditions.blur), np.float32)
        kernel[conditions.blur // 2, :] = 1.0 / conditions.blur
        frame = cv2.filter2D(frame, -1, kernel)
    if conditions.noise > 0:
        frame += rng.normal(0, conditions.noise, size=frame.shape).astype(np.float32)
    return np.clip(frame, 0, 255).astype(np.uint8)


def _place_code(
    frame: np.ndarray, payload: str | bytes, c: Conditions, rng: np.random.Generator
) -> np.ndarray:
    code = render_ticket(payload, scale=8).astype(np.float32)
    if c.dark_mode:
        code = 255.0 - code
    lo, hi = 127.5 - 127.5 * c.contrast, 127.5 + 127.5 * c.contrast
    code = lo + (code / 255.0) * (hi - lo)
    if c.screen:
        bezel = int(code.shape[0] * 0.12)
        code = cv2.copyMakeBorder(code, bezel, bezel * 3, bezel, bezel, cv2.BORDER_CONSTANT, value=20.0)
    h, w = code.shape
    scale = c.size / 264.0  # render_ticket at scale 8 is 264 px for a 25-module code with quiet zone
    corners = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    cx, cy = c.center[0] * WIDTH, c.center[1] * HEIGHT
    sw, sh = w * scale, h * scale
    # tilt: the top edge recedes (shorter), as a phone tipped back from the camera
    top = sw * (1.0 - c.tilt) / 2
    bottom = sw / 2
    target = np.float32(
        [
            [cx - top, cy - sh / 2 * (1 - c.tilt / 2)],
            [cx + top, cy - sh / 2 * (1 - c.tilt / 2)],
            [cx + bottom, cy + sh / 2],
            [cx - bottom, cy + sh / 2],
        ]
    )
    if c.rotate:
        turn = cv2.getRotationMatrix2D((float(cx), float(cy)), c.rotate, 1.0)
        target = cv2.transform(target[None], turn)[0].astype(np.float32)
    warp = cv2.getPerspectiveTransform(corners, target)
    warped = cv2.warpPerspective(code, warp, (WIDTH, HEIGHT), flags=cv2.INTER_AREA)
    mask = cv2.warpPerspective(np.ones_like(code), warp, (WIDTH, HEIGHT), flags=cv2.INTER_LINEAR)
    out = frame * (1 - mask[:, :, None]) + warped[:, :, None] * mask[:, :, None]
    if c.glare > 0:
        ys, xs = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
        gx = cx + float(rng.uniform(-0.2, 0.2)) * sw
        gy = cy + float(rng.uniform(-0.2, 0.2)) * sh
        radius = 0.3 * sw
        spot = np.exp(-(((xs - gx) ** 2 + (ys - gy) ** 2) / (2 * radius**2)))
        out = out + (255.0 * 1.2 * c.glare * spot)[:, :, None]
    return out


# Gate conditions every release must decode, each near the edge of what the decoder reads (measured),
# so a weaker decoder fails them. Several need a fallback pass, not just the fast one.
GATE_CONDITIONS: dict[str, Conditions] = {
    "clear": Conditions(),
    "tilted": Conditions(tilt=0.45, rotate=25),
    "upside down and tilted": Conditions(rotate=180, tilt=0.2),
    "motion blur": Conditions(blur=14),
    "sensor noise": Conditions(noise=45),
    "low contrast": Conditions(contrast=0.08),
    "glare": Conditions(glare=0.7),
    "dark mode phone": Conditions(dark_mode=True, screen=True),
    "dark mode phone with glare": Conditions(dark_mode=True, screen=True, glare=0.4),
    "dim noisy dark mode phone": Conditions(dark_mode=True, screen=True, contrast=0.3, noise=20),
    "dark gate at night": Conditions(brightness=0.25, noise=8),
    "small and far": Conditions(size=60, center=(0.2, 0.3)),
    "everything at once": Conditions(size=180, tilt=0.2, blur=5, noise=12, contrast=0.5, rotate=-15),
}


# Beyond what every release must decode: the decoder benchmark measures what each fallback adds here.
STRESS_CONDITIONS: dict[str, Conditions] = {
    "heavy motion blur": Conditions(blur=17),
    "washed out": Conditions(contrast=0.07),
    "strong glare": Conditions(glare=0.85),
    "tiny and far": Conditions(size=45, center=(0.8, 0.7)),
    "dark mode phone, strong glare": Conditions(dark_mode=True, screen=True, glare=0.6),
    "dark mode phone, dim and blurred": Conditions(dark_mode=True, screen=True, contrast=0.3, blur=10),
    "everything worse": Conditions(size=150, tilt=0.3, blur=7, noise=18, contrast=0.4, rotate=-25, glare=0.3),
}


@dataclass(frozen=True)
class Shot:
    """A stretch of video: ``payload`` shown (None: nothing) for ``seconds``."""

    payload: str | bytes | None
    seconds: float
    conditions: Conditions = Conditions()


def write_video(path: Path, shots: Sequence[Shot], *, fps: float = FPS, seed: int = 0) -> Path:
    """An MJPG .avi of the shots, in order (the headless OpenCV wheel writes MJPG)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (WIDTH, HEIGHT))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write MJPG video to {path}")
    try:
        cache: dict[tuple[str | bytes | None, Conditions], np.ndarray] = {}
        for number, shot in enumerate(shots):
            key = (shot.payload, shot.conditions)
            if key not in cache:
                cache[key] = gate_frame(shot.payload, shot.conditions, seed=seed + number)
            for _ in range(round(shot.seconds * fps)):
                writer.write(cache[key])
    finally:
        writer.release()
    return path


def write_frames(folder: Path, frames: Iterable[np.ndarray]) -> list[Path]:
    """Frames as numbered PNG files (an image-folder source)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, frame in enumerate(frames):
        target = folder / f"frame-{index:04d}.png"
        cv2.imwrite(str(target), frame)
        paths.append(target)
    return paths
