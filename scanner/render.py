"""Ticket codes drawn as QR codes (``ticketqr``'s symbol): an image array for tests and the demo, or a
PNG file. Payloads are drawn exactly as given (tests draw lower-case tags and binary data too)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ticketqr import make_symbol

DEFAULT_SCALE = 8  # pixels per module: a 25-module ticket code becomes 264 px with its quiet zone
QUIET_ZONE = 4  # modules of white around the code, as the QR standard asks


def render_ticket(code: str | bytes, *, scale: int = DEFAULT_SCALE, border: int = QUIET_ZONE) -> np.ndarray:
    """The QR code of ``code`` as an 8-bit grayscale image: black modules on white, with a quiet zone.

    ``code`` is normally a ticket code; bytes are encoded as they are (binary payloads for tests).
    """
    if scale < 1:
        raise ValueError(f"scale must be at least 1 pixel per module, not {scale}")
    modules = np.array(list(make_symbol(code).matrix_iter(scale=1, border=border)), dtype=np.uint8)
    image = np.where(modules > 0, 0, 255).astype(np.uint8)
    return np.kron(image, np.ones((scale, scale), dtype=np.uint8)) if scale > 1 else image


def save_ticket_png(code: str | bytes, path: str | Path, *, scale: int = DEFAULT_SCALE) -> Path:
    """Write the QR code of ``code`` to ``path`` as a PNG and return the path."""
    target = Path(path)
    make_symbol(code).save(str(target), kind="png", scale=scale, border=QUIET_ZONE)
    return target
