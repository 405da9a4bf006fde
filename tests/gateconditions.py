"""The gate-conditions set: which scenes, drawn from which seeds, in which split; and clips of a phone
moving in, pausing and leaving, for time-to-first-read (``bench/gate_conditions.py`` measures them).

``sample(condition, split, index)`` draws one still frame's scene from a seed that depends only on those
three, so every frame reproduces. The held-out split was fixed here before any decoder pass was tuned:
items of split ``"heldout"`` take their seeds, ticket keys and backgrounds from a namespace the
``"tune"`` split never uses, and decoder passes are chosen on ``"tune"`` alone.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from tests.gatecams import HEIGHT, WIDTH
from tests.gatescene import Code, Scene, code_quad
from ticketcode import derive_event_key, derive_signing_key, issue_code

SPLITS = ("tune", "heldout")


def _hand(rng: np.random.Generator, code: Code) -> Code:
    """Where and how an ordinary hand holds a ticket: the pose every condition starts from."""
    return replace(
        code,
        size=float(rng.uniform(170, 340)),
        center=(float(rng.uniform(380, 900)), float(rng.uniform(230, 490))),
        roll=float(rng.uniform(-180, 180)),
        tilt=float(rng.uniform(0, 20)),
        tilt_axis=float(rng.uniform(0, 180)),
    )


def _motion(rng: np.random.Generator, code: Code) -> Code:
    return replace(code, motion=float(rng.uniform(5, 25)), motion_angle=float(rng.uniform(0, 180)))


def _perspective(rng: np.random.Generator, code: Code) -> Code:
    return replace(code, tilt=float(rng.uniform(35, 60)), size=float(rng.uniform(260, 400)))


def _curved(rng: np.random.Generator, code: Code) -> Code:
    bend = float(rng.uniform(60, 150)) * (1 if rng.random() < 0.5 else -1)
    return replace(code, bend=bend, size=float(rng.uniform(230, 380)))


def _screen(rng: np.random.Generator, code: Code) -> Code:
    return replace(
        code, screen=True, screen_pitch=float(rng.integers(3, 9)), screen_level=float(rng.uniform(0.6, 1))
    )


def _dark(rng: np.random.Generator, code: Code) -> Code:
    return replace(_screen(rng, code), dark_mode=True)


def _dim(rng: np.random.Generator, code: Code) -> Code:
    return replace(
        _screen(rng, code), screen_level=float(rng.uniform(0.08, 0.25)), dark_mode=bool(rng.random() < 0.3)
    )


def _glare_spots(rng: np.random.Generator, code: Code) -> Code:
    spots = tuple(
        (
            float(rng.uniform(0.1, 0.9)),
            float(rng.uniform(0.1, 0.9)),
            float(rng.uniform(0.06, 0.2)),
            float(rng.uniform(0.6, 1.4)),
        )
        for _ in range(int(rng.integers(1, 4)))
    )
    return replace(code, glare=spots, screen=bool(rng.random() < 0.5))


def _thumbed(rng: np.random.Generator, code: Code) -> Code:
    return replace(code, thumb=float(rng.uniform(0.08, 0.3)), thumb_side=float(rng.uniform(0, 360)))


def _small(rng: np.random.Generator, code: Code) -> Code:
    return replace(
        code,
        size=float(rng.uniform(48, 100)),
        center=(float(rng.uniform(80, 1200)), float(rng.uniform(60, 660))),
    )


CODE_CONDITIONS: dict[str, Callable[[np.random.Generator, Code], Code]] = {
    "motion blur": _motion,
    "perspective": _perspective,
    "curved paper": _curved,
    "phone screen": _screen,
    "dark mode": _dark,
    "dim screen": _dim,
    "glare": _glare_spots,
    "thumb": _thumbed,
    "small and far": _small,
}
CAMERA_CONDITIONS = ("defocus", "low light", "jpeg")
CONDITIONS = ("clear", *CODE_CONDITIONS, *CAMERA_CONDITIONS, "two codes", "combined")


def _camera(rng: np.random.Generator, scene: Scene, condition: str) -> Scene:
    if condition == "defocus":
        return replace(scene, defocus=float(rng.uniform(2, 7)))
    if condition == "low light":
        exposure = float(rng.uniform(0.06, 0.25))
        return replace(
            scene,
            exposure=exposure,
            gain=float(rng.uniform(0.4, 1.0)) / exposure,
            noise=float(rng.uniform(2, 5)),
        )
    if condition == "jpeg":
        return replace(scene, jpeg=int(rng.integers(8, 35)))
    raise ValueError(condition)


def seed_of(condition: str, split: str, index: int) -> int:
    """The seed of one item: a function of its split, condition and index only (the split rule)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
    return zlib.crc32(f"{split}/{condition}/{index}".encode())


def ticket(split: str, serial: int, *, scheme: str = "hmac") -> str:
    """A real ticket code; each split signs with its own key, so no payload is shared between them.
    ``scheme`` ``ed25519``: the event signs with Ed25519 (a 114-character code, QR version 5)."""
    secret = f"gate conditions {split}".encode()
    if scheme == "hmac":
        return issue_code(derive_event_key(secret, "GATECOND"), serial, width=5)
    return issue_code(derive_signing_key(secret, "GATECOND", scheme=scheme), serial, width=5)


def sample(condition: str, split: str, index: int, *, scheme: str = "hmac") -> Scene:
    """Item ``index`` of ``condition`` in ``split``: the scene to render, with its expected tickets.
    The scene is the same for either ``scheme``; only the codes' payloads (and so their QR) differ."""
    rng = np.random.default_rng(seed_of(condition, split, index))
    serial = (CONDITIONS.index(condition) * 1000 + index) * 2 + 1
    base = _hand(rng, Code(ticket(split, serial, scheme=scheme)))
    scene = Scene(background_seed=int(rng.integers(0, 2**31)), tags=(condition,))
    if condition == "clear":
        return replace(scene, codes=(base,))
    if condition in CODE_CONDITIONS:
        return replace(scene, codes=(CODE_CONDITIONS[condition](rng, base),))
    if condition in CAMERA_CONDITIONS:
        return _camera(rng, replace(scene, codes=(base,)), condition)
    if condition == "two codes":
        left = replace(
            base,
            size=float(rng.uniform(150, 260)),
            center=(float(rng.uniform(220, 450)), float(rng.uniform(220, 500))),
        )
        right = replace(
            _hand(rng, Code(ticket(split, serial + 1, scheme=scheme))),
            size=float(rng.uniform(150, 260)),
            center=(float(rng.uniform(830, 1060)), float(rng.uniform(220, 500))),
        )
        return replace(scene, codes=(left, right))
    if condition == "combined":
        picks = rng.choice(
            len(CODE_CONDITIONS) + len(CAMERA_CONDITIONS), size=int(rng.integers(2, 4)), replace=False
        )
        names = [[*CODE_CONDITIONS, *CAMERA_CONDITIONS][int(p)] for p in picks]
        code = base
        for name in names:
            if name in CODE_CONDITIONS:
                code = CODE_CONDITIONS[name](rng, code)
        scene = replace(scene, codes=(_milder(code),), tags=(condition, *names))
        for name in names:
            if name in CAMERA_CONDITIONS:
                scene = _camera(rng, scene, name)
        return _milder_camera(scene)
    raise ValueError(f"unknown condition {condition!r}")


def _milder(code: Code) -> Code:
    """Several troubles at once, each at most at about two thirds of its single-condition strength."""
    return replace(
        code,
        motion=min(code.motion, 14.0),
        tilt=min(code.tilt, 45.0),
        bend=float(np.clip(code.bend, -90.0, 90.0)),
        thumb=min(code.thumb, 0.18),
    )


def _milder_camera(scene: Scene) -> Scene:
    return replace(scene, defocus=min(scene.defocus, 4.0), jpeg=max(scene.jpeg, 20) if scene.jpeg else 0)


def expected(scene: Scene) -> list[bytes]:
    """The payloads a perfect decoder reads in ``scene``."""
    return [code.payload.encode() for code in scene.codes]


# -- clips: a phone moving in, pausing, leaving ----------------------------------------------------

CLIP_FPS = 30.0
SHUTTER = 0.5  # fraction of a frame interval the sensor exposes: motion blur = speed x this


@dataclass(frozen=True)
class Clip:
    """Frames of one person showing one ticket; ``in_view`` is the first frame showing the whole code."""

    scenes: tuple[Scene, ...]
    payload: bytes
    in_view: int
    tags: tuple[str, ...]


def clip(split: str, index: int) -> Clip:
    """Clip ``index`` of ``split``: empty scene, the ticket swept in (blurred by its speed), held with
    a trembling hand, swept out. Drawn from the same seed rule as the still frames."""
    rng = np.random.default_rng(seed_of("clip", split, index))
    rest = _hand(rng, Code(ticket(split, 900_001 + 2 * index)))
    tags: list[str] = []
    look = rng.choice(["paper", "phone screen", "dark mode", "perspective"])
    if look != "paper":
        rest = {"phone screen": _screen, "dark mode": _dark, "perspective": _perspective}[str(look)](
            rng, rest
        )
    tags.append(str(look))
    scene = Scene(background_seed=int(rng.integers(0, 2**31)))
    light = rng.choice(["daylight", "low light", "jpeg"])
    if light != "daylight":
        scene = _camera(rng, scene, str(light))
        scene = replace(scene, exposure=max(scene.exposure, 0.12), gain=min(scene.gain, 1 / 0.12))
    tags.append(str(light))
    side = float(rng.uniform(0, 2 * math.pi))
    start = (rest.center[0] + math.cos(side) * 1100, rest.center[1] + math.sin(side) * 1100)  # out of view
    frames_in, frames_hold, frames_out = (
        int(rng.integers(8, 18)),
        int(rng.integers(12, 36)),
        int(rng.integers(8, 14)),
    )
    lead = 6
    path: list[tuple[float, float]] = [start] * lead
    for i in range(1, frames_in + 1):
        ease = 1 - (1 - i / frames_in) ** 2  # fast at first, slowing down into the pause
        path.append(
            (start[0] + (rest.center[0] - start[0]) * ease, start[1] + (rest.center[1] - start[1]) * ease)
        )
    for _ in range(frames_hold):
        path.append((rest.center[0] + float(rng.normal(0, 1.5)), rest.center[1] + float(rng.normal(0, 1.5))))
    for i in range(1, frames_out + 1):
        ease = (i / frames_out) ** 2
        path.append(
            (
                rest.center[0] + (start[0] - rest.center[0]) * ease,
                rest.center[1] + (start[1] - rest.center[1]) * ease,
            )
        )
    scenes = []
    in_view = -1
    for number, (x, y) in enumerate(path):
        px, py = path[number - 1] if number else (x, y)
        speed = math.hypot(x - px, y - py) * SHUTTER
        code = replace(
            rest, center=(x, y), motion=speed, motion_angle=math.degrees(math.atan2(y - py, x - px))
        )
        scenes.append(replace(scene, codes=(code,)))
        quad = code_quad(code)
        inside = bool(
            (quad[:, 0] >= 0).all()
            and (quad[:, 0] < WIDTH).all()
            and (quad[:, 1] >= 0).all()
            and (quad[:, 1] < HEIGHT).all()
        )
        if inside and in_view < 0:
            in_view = number
    return Clip(tuple(scenes), rest.payload.encode(), in_view, tuple(tags))
