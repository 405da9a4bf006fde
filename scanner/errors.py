"""Errors of the scanner.

ScannerError               root; ``code`` is a machine code, ``str(err)`` a human message
├── CaptureError           a camera, video file or image folder cannot be opened or read
└── ImageUnreadable        an image file given to the decoder cannot be read
"""

from __future__ import annotations


class ScannerError(Exception):
    """Root of every error the scanner raises on purpose."""

    code = "scanner_error"


class CaptureError(ScannerError):
    """A frame source cannot be opened or stopped delivering frames (missing, busy, unplugged)."""

    code = "capture_failed"


class ImageUnreadable(ScannerError):
    """An image file given to the decoder is missing or not an image."""

    code = "image_unreadable"
