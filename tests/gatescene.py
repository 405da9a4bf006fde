"""A model of how a ticket looks to a gate camera: pose in 3D, paper or phone screen, the hand, the light.

``render(scene)`` turns a ``Scene`` (plain data) into a 1280x720 BGR frame, deterministically.
``tests/gateconditions.py`` draws the scenes of the gate-conditions set from it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from scanner.render import render_ticket
from tests.gatecams import HEIGHT, WIDTH, background

FOCAL = 914.0  # pixels: a 70° horizontal field of view at 1280 px, a typical USB webcam
TEXEL = 8  # texture pixels per QR module (paper); a screen uses 3 texels per screen pixel


@dataclass(frozen=True)
class Code:
    """One ticket in view."""

    payload: str
    size: float = 260.0  # width of the code with its quiet zone, in frame pixels, seen square-on
    center: tuple[float, float] = (640.0, 360.0)
    roll: float = 0.0  # degrees, in the image plane
    tilt: float = 0.0  # degrees the ticket is turned away from the camera (0: square-on)
    tilt_axis: float = 0.0  # degrees: direction of the axis it is turned about
    bend: float = 0.0  # degrees of arc the paper curls over its width (0: flat)
    screen: bool = False  # shown on a phone: bezel, pixel grid, emitted light
    dark_mode: bool = False  # light modules on a dark screen
    screen_level: float = 1.0  # phone brightness, 0..1
    screen_pitch: float = 5.0  # screen pixels per module: sets the grid the camera aliases into moiré
    motion: float = 0.0  # motion-blur length in pixels (the hand moving during the exposure)
    motion_angle: float = 0.0  # degrees
    thumb: float = 0.0  # fraction of the code's width covered by a thumb from one side
    thumb_side: float = 0.0  # degrees: which side the thumb comes from
    glare: tuple[tuple[float, float, float, float], ...] = ()  # spots: (u, v, radius, strength), u/v 0..1


@dataclass(frozen=True)
class Scene:
    """A whole camera frame: the codes in it and the camera's own troubles."""

    codes: tuple[Code, ...] = ()
    background_seed: int = 0
    defocus: float = 0.0  # radius in pixels of the out-of-focus disk
    exposure: float = 1.0  # light reaching the sensor: 0.1 a dark gate at night
    gain: float = 1.0  # the camera's gain: brightens a dark scene and its noise
    noise: float = 2.0  # read noise, grey levels (shot noise comes with the light)
    jpeg: int = 0  # JPEG quality the camera compressed with; 0: none
    tags: tuple[str, ...] = field(default=(), compare=False)


def render(scene: Scene) -> np.ndarray:
    """The 1280x720 BGR frame a camera delivers for ``scene``; deterministic."""
    rng = np.random.default_rng(scene.background_seed + 7)
    frame = cv2.cvtColor(background(scene.background_seed), cv2.COLOR_BGR2GRAY).astype(np.float32)
    for code in scene.codes:
        _composite(frame, code)
    if scene.defocus >= 0.5:
        frame = cv2.filter2D(frame, -1, _disk(scene.defocus))
    # sensor: photons (shot noise grows with the signal), read noise, then the camera's gain
    signal = frame * scene.exposure
    sigma = np.sqrt(np.maximum(signal, 0.0) * 0.35 + scene.noise**2)
    signal = signal + rng.standard_normal(signal.shape, dtype=np.float32) * sigma
    gray = np.clip(signal * scene.gain, 0, 255).astype(np.uint8)
    bgr = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
    if scene.jpeg:
        ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, scene.jpeg])
        assert ok
        bgr = cv2.imdecode(data, cv2.IMREAD_COLOR)
    return bgr


def _texture(code: Code) -> tuple[np.ndarray, np.ndarray, float]:
    """The ticket as seen square-on (float grey), its region of the code, and texels per module."""
    qr = render_ticket(code.payload, scale=1).astype(np.float32)  # one pixel per module, quiet zone
    if not code.screen:
        image = cv2.resize(qr, None, fx=TEXEL, fy=TEXEL, interpolation=cv2.INTER_NEAREST) * 0.92 + 12
        # a paper ticket: the code with printed lines below it
        h, w = image.shape
        paper = np.full((int(h * 1.45), int(w * 1.2)), 245.0, np.float32)
        y0, x0 = int(h * 0.08), int(w * 0.1)
        paper[y0 : y0 + h, x0 : x0 + w] = image
        for line in range(3):
            y = y0 + h + int(h * 0.08) + line * int(h * 0.1)
            paper[y : y + int(h * 0.04), x0 : x0 + int(w * (0.9 - 0.2 * line))] = 40.0
        return paper, np.float32([x0, y0, x0 + w, y0 + h]), float(TEXEL)
    # a phone screen: each module is screen_pitch screen pixels, each screen pixel 3x3 texels with a dark
    # gap between pixels (the grid the camera aliases into moiré)
    pitch = max(1, round(code.screen_pitch))
    lit = 255.0 - qr if code.dark_mode else qr
    lit = 15 + (lit / 255.0) * 225 * code.screen_level
    pixels = cv2.resize(lit, None, fx=pitch, fy=pitch, interpolation=cv2.INTER_NEAREST)
    texels = cv2.resize(pixels, None, fx=3, fy=3, interpolation=cv2.INTER_NEAREST)
    cell = np.float32([1.0, 1.0, 0.45])
    texels *= np.outer(np.tile(cell, pixels.shape[0]), np.tile(cell, pixels.shape[1]))
    h, w = texels.shape
    bezel = int(w * 0.08)
    phone = cv2.copyMakeBorder(texels, bezel * 3, bezel * 5, bezel, bezel, cv2.BORDER_CONSTANT, value=12.0)
    return phone, np.float32([bezel, bezel * 3, bezel + w, bezel * 3 + h]), float(pitch * 3)


def _bent(texture: np.ndarray, bend: float, distance: float) -> np.ndarray:
    """The texture curled around a vertical cylinder by ``bend`` degrees of arc (negative: the edges
    curl toward the camera), seen from ``distance`` texels in front."""
    h, w = texture.shape
    arc = math.radians(abs(bend))
    radius = w / arc * (1 if bend > 0 else -1)
    u = np.linspace(-w / 2, w / 2, 4 * w, dtype=np.float64)
    depth = radius * (1 - np.cos(u / radius))  # the edges curl away from the camera
    shrink = distance / (distance + depth)
    x = radius * np.sin(u / radius) * shrink
    out_x = np.arange(w, dtype=np.float64) - w / 2
    src_u = np.interp(out_x, x, u, left=np.nan, right=np.nan)
    src_shrink = np.interp(out_x, x, shrink, left=1.0, right=1.0)
    out_y = np.arange(h, dtype=np.float64)[:, None] - h / 2
    map_x = np.broadcast_to(src_u + w / 2, (h, w)).astype(np.float32)
    map_y = (out_y / src_shrink[None, :] + h / 2).astype(np.float32)
    map_x = np.nan_to_num(map_x, nan=-10.0)  # beyond the curled edge: outside the texture
    return cv2.remap(texture, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=-1)


def corners_in_frame(code: Code, texture_size: tuple[int, int], region: np.ndarray) -> np.ndarray:
    """Where the texture's corners land in the frame: a pinhole camera looking at the turned ticket."""
    th, tw = texture_size
    scale = code.size / float(region[2] - region[0])  # frame pixels per texel, square-on
    distance = FOCAL / scale  # in texels: the ticket is that far away
    axis = math.radians(code.tilt_axis)
    ax, ay = math.cos(axis), math.sin(axis)
    turn = cv2.Rodrigues(np.float64([ax, ay, 0.0]) * math.radians(code.tilt))[0]
    roll = cv2.Rodrigues(np.float64([0.0, 0.0, math.radians(code.roll)]))[0]
    centre = ((region[0] + region[2]) / 2, (region[1] + region[3]) / 2)
    corners = np.float64([[0, 0, 0], [tw, 0, 0], [tw, th, 0], [0, th, 0]]) - [centre[0], centre[1], 0]
    world = corners @ (turn @ roll).T + [0, 0, distance]
    cx, cy = code.center
    return np.float32(
        np.column_stack([FOCAL * world[:, 0] / world[:, 2] + cx, FOCAL * world[:, 1] / world[:, 2] + cy])
    )


def code_quad(code: Code) -> np.ndarray:
    """The four corners of the code itself (quiet zone included) in the frame, as a 4x2 array."""
    texture, region, _ = _texture(code)
    homography = _homography(code, texture.shape, region)
    x0, y0, x1, y1 = (float(v) for v in region)
    return cv2.perspectiveTransform(np.float32([[[x0, y0], [x1, y0], [x1, y1], [x0, y1]]]), homography)[0]


def _homography(code: Code, shape: tuple[int, ...], region: np.ndarray) -> np.ndarray:
    th, tw = shape[:2]
    source = np.float32([[0, 0], [tw, 0], [tw, th], [0, th]])
    return cv2.getPerspectiveTransform(source, corners_in_frame(code, (th, tw), region))


def _composite(frame: np.ndarray, code: Code) -> None:
    texture, region, _texels = _texture(code)
    if code.bend:
        texture = _bent(texture, code.bend, FOCAL * float(region[2] - region[0]) / code.size)
    mask = (texture >= 0).astype(np.float32)
    texture = np.maximum(texture, 0)
    homography = _homography(code, texture.shape, region)
    th, tw = texture.shape
    quad = cv2.perspectiveTransform(np.float32([[[0, 0], [tw, 0], [tw, th], [0, th]]]), homography)[0]
    margin = int(code.motion) + 4
    x0, y0 = (max(0, int(v) - margin) for v in quad.min(axis=0))
    x1, y1 = int(min(WIDTH, quad[:, 0].max() + margin)), int(min(HEIGHT, quad[:, 1].max() + margin))
    if x1 <= x0 or y1 <= y0:
        return  # entirely outside the frame
    shift = np.float64([[1, 0, -x0], [0, 1, -y0], [0, 0, 1]]) @ homography
    size = (x1 - x0, y1 - y0)
    # INTER_LINEAR, not AREA: a sensor samples the screen's grid without averaging it away (moiré)
    layer = cv2.warpPerspective(texture, shift, size, flags=cv2.INTER_LINEAR)
    alpha = cv2.warpPerspective(mask, shift, size, flags=cv2.INTER_LINEAR)
    if code.thumb > 0:
        _thumb(layer, alpha, code, np.float32(quad) - [x0, y0])
    if code.glare:
        _glare(layer, alpha, code, cv2.perspectiveTransform(region.reshape(1, 2, 2), shift)[0])
    if code.motion >= 1.5:
        kernel = _line(code.motion, code.motion_angle)
        layer = cv2.filter2D(layer * alpha, -1, kernel)
        alpha = cv2.filter2D(alpha, -1, kernel)
    else:
        layer = layer * alpha
    view = frame[y0:y1, x0:x1]
    view[:] = view * (1 - alpha) + layer


def _thumb(layer: np.ndarray, alpha: np.ndarray, code: Code, quad: np.ndarray) -> None:
    centre = quad.mean(axis=0)
    width = float(np.linalg.norm(quad[1] - quad[0]))
    side = math.radians(code.thumb_side)
    direction = np.float32([math.cos(side), math.sin(side)])
    tip = centre + direction * width * (0.5 - code.thumb) * 0.8
    axes = (int(width * 0.18), int(width * 0.7))
    base = tip + direction * axes[1]
    cv2.ellipse(layer, (int(base[0]), int(base[1])), axes, math.degrees(side) + 90, 0, 360, 150.0, -1)
    cv2.ellipse(alpha, (int(base[0]), int(base[1])), axes, math.degrees(side) + 90, 0, 360, 1.0, -1)


def _glare(layer: np.ndarray, alpha: np.ndarray, code: Code, region: np.ndarray) -> None:
    (x0, y0), (x1, y1) = region
    ys, xs = np.mgrid[0 : layer.shape[0], 0 : layer.shape[1]].astype(np.float32)
    for u, v, radius, strength in code.glare:
        gx, gy = x0 + u * (x1 - x0), y0 + v * (y1 - y0)
        r = max(2.0, radius * abs(x1 - x0))
        layer += 255.0 * strength * np.exp(-((xs - gx) ** 2 + (ys - gy) ** 2) / (2 * r * r))
    np.minimum(layer, 255.0, out=layer)


def _line(length: float, angle: float) -> np.ndarray:
    size = math.ceil(length) | 1
    kernel = np.zeros((size, size), np.float32)
    c = size // 2
    dx, dy = (
        math.cos(math.radians(angle)) * (length - 1) / 2,
        math.sin(math.radians(angle)) * (length - 1) / 2,
    )
    cv2.line(
        kernel,
        (round(c * 16 - dx * 16), round(c * 16 - dy * 16)),
        (round(c * 16 + dx * 16), round(c * 16 + dy * 16)),
        1.0,
        1,
        cv2.LINE_AA,
        shift=4,
    )
    return kernel / kernel.sum()


def _disk(radius: float) -> np.ndarray:
    size = math.ceil(radius) * 2 + 1
    kernel = np.zeros((size, size), np.float32)
    cv2.circle(kernel, (size // 2 * 16, size // 2 * 16), int(radius * 16), 1.0, -1, cv2.LINE_AA, shift=4)
    return kernel / kernel.sum()
