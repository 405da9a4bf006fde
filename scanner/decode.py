"""The QR decoder: camera frames and image files to raw payload bytes, and ``ticketgate decode``.

The passes were chosen on the tuning split of a generated gate-conditions set and each kept only
for what it adds on the held-out split (``bench/gate_conditions.py``): zxing-cpp (QR only) on a
lightly smoothed frame first, then a local adaptive threshold, an equalised histogram, an Otsu
threshold and zbar (QR only) on a half-size copy, each tried only while nothing was found.
``FrameDecoder`` spreads the later passes over camera frames so that frames with no code stay
cheap. Payloads come back as raw bytes, exactly as encoded in the symbol: a ticket code is ASCII,
anything else is data for the gate to classify, never an error here.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
import unicodedata
from collections.abc import Callable
from ctypes import c_char_p, c_void_p, cast, string_at
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import zxingcpp
from pyzbar import pyzbar as _pyzbar
from pyzbar import wrapper as _zbar

from scanner.errors import ImageUnreadable
from ticketcode.display import readable

log = logging.getLogger(__name__)

_QR_ONLY = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)
# zbar's ZBAR_CFG_BINARY (zbar >= 0.23): the symbol's bytes instead of zbar's own guess at a text
# encoding, which turns Shift-JIS payloads into the wrong UTF-8 (measured on the qr-bench).
_ZBAR_CFG_BINARY = 4
_MIN_SIDE = 21  # a version-1 QR code is 21 modules wide: nothing smaller can hold one


@dataclass(frozen=True)
class Symbol:
    """One decoded QR code: its raw bytes and the text a person should see for it."""

    data: bytes
    text: str
    decoder: str  # which pass found it: for the benchmark and debugging
    corners: tuple[tuple[float, float], ...] = ()  # where in the frame (clockwise from top left)


def decode_frame(frame: np.ndarray) -> list[bytes]:
    """Raw payload bytes of every QR code found in ``frame`` (BGR, BGRA or gray); never raises."""
    return [symbol.data for symbol in read_symbols(frame)]


def decode_image(path: str | Path) -> list[bytes]:
    """Raw payload bytes of every QR code in the image file; raises ImageUnreadable if it is not one."""
    return [symbol.data for symbol in read_symbols(load_gray(path))]


def load_gray(path: str | Path) -> np.ndarray:
    """The image file as 8-bit grayscale; raises ImageUnreadable with a clear message."""
    file = Path(path)
    if not file.exists():
        raise ImageUnreadable(f"{file}: no such file")
    if not file.is_file():
        raise ImageUnreadable(f"{file}: not a file (give the image files themselves)")
    # imdecode from bytes, not imread: imread cannot open some non-ASCII paths and prints warnings
    raw = np.fromfile(str(file), dtype=np.uint8)
    image = cv2.imdecode(raw, cv2.IMREAD_GRAYSCALE) if raw.size else None
    if image is None:
        raise ImageUnreadable(f"{file}: not an image OpenCV can read")
    return image


def read_symbols(frame: np.ndarray) -> list[Symbol]:
    """Every QR code in ``frame``, trying every pass until one finds a code; [] for an unusable array."""
    try:
        gray = _as_gray(frame)
        if gray is None:
            return []
        for name, attempt in passes(gray):
            found = attempt()
            if found:
                return _symbols(found, name)
    except Exception:
        # A decoder library failing on one odd frame must not stop the camera loop; say what happened.
        log.exception("decoding a frame of shape %s failed", getattr(frame, "shape", None))
    return []


class FrameDecoder:
    """A decoder for a camera stream: the fast pass on every frame, the other passes in turns.

    Most camera frames hold no code, and running every pass on each of them would cost several
    times one zxing-cpp pass (``bench/gate_conditions.py``). So every frame gets the first
    ``EVERY_FRAME`` passes (zxing-cpp on a lightly smoothed frame: a third of the cost of the raw
    frame, and it reads more), then the others take turns in ``TURNS`` order: at least one per frame,
    more while ``fallback_budget`` seconds are not spent, and the next frame goes on where this one
    stopped. A code held up for a few frames thus meets every pass; the adaptive threshold, which
    reads most of what the smoothed pass misses, has two turns in five. One instance per
    stream (it remembers whose turn it is); ``__call__`` never raises.
    """

    EVERY_FRAME = 1
    TURNS = ("zxing-adaptive", "zxing-equalized", "zxing-adaptive", "zxing-otsu", "zbar-half")

    def __init__(self, *, fallback_budget: float = 0.0) -> None:
        self.fallback_budget = fallback_budget
        self._turn = 0

    def __call__(self, frame: np.ndarray) -> list[bytes]:
        return [symbol.data for symbol in self.symbols(frame)]

    def symbols(self, frame: np.ndarray) -> list[Symbol]:
        """The QR codes found in ``frame`` by the every-frame passes and this frame's turn of the rest."""
        try:
            gray = _as_gray(frame)
            if gray is None:
                return []
            every = passes(gray)
            by_name = dict(every)
            for name, attempt in every[: self.EVERY_FRAME]:
                found = attempt()
                if found:
                    return _symbols(found, name)
            started = time.perf_counter()
            turns = self.TURNS
            for tried in range(len(turns)):
                index = (self._turn + tried) % len(turns)
                name = turns[index]
                found = by_name[name]()
                if found:
                    self._turn = index  # the same conditions likely hold in the next frames
                    return _symbols(found, name)
                self._turn = (index + 1) % len(turns)
                if time.perf_counter() - started >= self.fallback_budget:
                    break
        except Exception:
            log.exception("decoding a frame of shape %s failed", getattr(frame, "shape", None))
        return []


Found = tuple[bytes, str, tuple[tuple[float, float], ...]]
Pass = tuple[str, Callable[[], list[Found]]]


def passes(gray: np.ndarray) -> list[Pass]:
    """The decoding passes for one grayscale image, in the order a still image tries them.

    Each pass was chosen on the tuning split of the gate-conditions set and kept only because it
    also reads codes the earlier passes miss on the held-out split (``bench/gate_conditions.py``
    prints both): zxing-cpp on a 3x3 Gaussian-smoothed view reads noisy, dim and moiré-ridden codes
    the raw frame hides (and costs a third as much: the noise no longer looks like finder patterns);
    a local mean threshold of the smoothed view reads dim phone screens and glare; an equalised
    histogram washed-out codes; a global Otsu threshold a few blurred ones; zbar, QR only, on a
    half-size copy some steeply tilted and glare-spotted codes zxing-cpp cannot. zxing-cpp tries the
    inverted image itself (dark-mode phones). The raw frame read nothing the others missed on either
    split and went; Wiener deblurring, CLAHE, zxing's global-histogram binariser and regions of
    interest around zxing-cpp's or OpenCV's detections were measured and dropped (README).
    """

    def smoothed() -> np.ndarray:
        return cv2.GaussianBlur(gray, (3, 3), 0)

    return [
        ("zxing-smoothed", lambda: _zxing(smoothed())),
        ("zxing-adaptive", lambda: _zxing(_adaptive(smoothed()))),
        ("zxing-equalized", lambda: _zxing(cv2.equalizeHist(gray))),
        ("zxing-otsu", lambda: _zxing(_otsu(gray))),
        ("zbar-half", lambda: _zbar_scan(gray, scale=0.5)),
    ]


def _symbols(found: list[Found], name: str) -> list[Symbol]:
    return [Symbol(data, text, name, corners) for data, text, corners in _unique(found)]


def _as_gray(frame: object) -> np.ndarray | None:
    """An 8-bit, C-contiguous, single-channel view of ``frame``, or None when it cannot hold a code."""
    if not isinstance(frame, np.ndarray) or frame.size == 0:
        return None
    image = frame
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim not in (2, 3) or min(image.shape[:2]) < _MIN_SIDE:
        return None
    if image.dtype != np.uint8:
        if image.dtype == np.bool_:
            image = image.astype(np.uint8) * 255
        else:
            values = np.nan_to_num(image.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
            low, high = float(values.min()), float(values.max())
            scaled = (values - low) * (255.0 / (high - low)) if high > low else np.zeros_like(values)
            image = scaled.astype(np.uint8)
    if image.ndim == 3:
        channels = image.shape[2]
        if channels == 3:
            image = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_BGR2GRAY)
        elif channels == 4:
            image = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_BGRA2GRAY)
        else:
            return None
    return np.ascontiguousarray(image)


def _zxing(gray: np.ndarray) -> list[Found]:
    # zxing-cpp's own inverted retry (try_invert) reads dark-mode phones at the cost of a second
    # binarisation only when nothing was found. Plain text mode: the payload's own characters, not
    # "<SOH>"-style renderings.
    results = zxingcpp.read_barcodes(gray, formats=_QR_ONLY, text_mode=zxingcpp.TextMode.Plain)
    found = []
    for result in results:
        data = bytes(result.bytes)
        binary = result.content_type == zxingcpp.ContentType.Binary
        p = result.position
        corners = tuple(
            (float(q.x), float(q.y)) for q in (p.top_left, p.top_right, p.bottom_right, p.bottom_left)
        )
        found.append((data, _escape_bytes(data) if binary else result.text, corners))
    return found


def _zbar_scan(gray: np.ndarray, *, scale: float) -> list[Found]:
    """zbar on ``gray`` resized by ``scale``, QR codes only (its other decoders print assertion
    failures on some frames and cost time), returning raw bytes (pyzbar.decode cannot)."""
    small = np.ascontiguousarray(cv2.resize(gray, None, fx=scale, fy=scale))
    height, width = small.shape
    pixels = small.tobytes()
    found: list[Found] = []
    with _pyzbar._image_scanner() as scanner:
        _zbar.zbar_image_scanner_set_config(scanner, _zbar.ZBarSymbol.NONE, _zbar.ZBarConfig.CFG_ENABLE, 0)
        _zbar.zbar_image_scanner_set_config(scanner, _zbar.ZBarSymbol.QRCODE, _zbar.ZBarConfig.CFG_ENABLE, 1)
        _zbar.zbar_image_scanner_set_config(scanner, _zbar.ZBarSymbol.QRCODE, _ZBAR_CFG_BINARY, 1)
        with _pyzbar._image() as image:
            _zbar.zbar_image_set_format(image, _pyzbar._FOURCC["L800"])
            _zbar.zbar_image_set_size(image, width, height)
            _zbar.zbar_image_set_data(image, cast(c_char_p(pixels), c_void_p), len(pixels), None)
            if _zbar.zbar_scan_image(scanner, image) > 0:
                symbol = _zbar.zbar_image_first_symbol(image)
                while symbol:
                    data = string_at(
                        _zbar.zbar_symbol_get_data(symbol), _zbar.zbar_symbol_get_data_length(symbol)
                    )
                    points = [
                        (
                            _zbar.zbar_symbol_get_loc_x(symbol, i) / scale,
                            _zbar.zbar_symbol_get_loc_y(symbol, i) / scale,
                        )
                        for i in range(_zbar.zbar_symbol_get_loc_size(symbol))
                    ]
                    found.append((data, _guess_text(data), _clockwise(points)))
                    symbol = _zbar.zbar_symbol_next(symbol)
    return found


def _clockwise(points: list[tuple[float, float]]) -> tuple[tuple[float, float], ...]:
    """The outline of ``points`` clockwise on screen, starting nearest the top left (as zxing-cpp's)."""
    if len(points) < 3:
        return tuple(points)
    hull = cv2.convexHull(np.array(points, dtype=np.float32), clockwise=False).reshape(-1, 2)
    start = int(np.argmin(hull.sum(axis=1)))
    ordered = np.roll(hull, -start, axis=0)
    return tuple((float(x), float(y)) for x, y in ordered)


def _guess_text(data: bytes) -> str:
    """Text for bytes without a declared encoding: UTF-8, else Shift-JIS (common in QR), else bytes."""
    for encoding in ("utf-8", "shift_jis"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return _escape_bytes(data)


def _adaptive(gray: np.ndarray) -> np.ndarray:
    # a 31-pixel neighbourhood spans a few modules of a ticket at gate distance
    return cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY, 31, 3)


def _otsu(gray: np.ndarray) -> np.ndarray:
    return cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)[1]


def _unique(found: list[Found]) -> list[Found]:
    seen: set[bytes] = set()
    unique = []
    for item in found:
        if item[0] not in seen:
            seen.add(item[0])
            unique.append(item)
    return unique


def _escape_bytes(data: bytes) -> str:
    return "".join(chr(b) if 0x20 <= b < 0x7F and b != 0x5C else f"\\x{b:02x}" for b in data)


def one_line(text: str) -> str:
    """``text`` on one line: line breaks and other control characters as backslash escapes."""
    named = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
    out = []
    for char in text:
        if char in named:
            out.append(named[char])
        elif unicodedata.category(char) == "Cc":
            out.append(f"\\x{ord(char):02x}")
        else:
            out.append(char)
    return "".join(out)


def decode_command(args: argparse.Namespace) -> int:
    """``ticketgate decode IMAGE...``: one line per QR code found; ``IMAGE: `` first when several.

    Exit 0 when every image held a code, 1 when some held none, 2 when some could not be read.
    """
    images: list[str] = list(args.images)
    prefix = len(images) > 1
    status = 0
    try:
        for image in images:
            try:
                symbols = read_symbols(load_gray(image))
            except ImageUnreadable as exc:
                print(f"ticketgate: error: {readable(str(exc))}", file=sys.stderr)
                status = 2
                continue
            if not symbols:
                status = max(status, 1)
            for symbol in symbols:
                line = one_line(symbol.text)
                print(f"{image}: {line}" if prefix else line, flush=True)
    except BrokenPipeError:
        # `ticketgate decode *.png | head -1`: the reader has had enough; stop without a traceback
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - Python flushes stdout at exit
    return status
