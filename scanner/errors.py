"""Errors of the scanner.

ScannerError               root; ``code`` is a machine code, ``str(err)`` a human message
"""

from __future__ import annotations


class ScannerError(Exception):
    """Root of every error the scanner raises on purpose."""

    code = "scanner_error"
