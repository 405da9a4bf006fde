"""Errors of the scanner.

ScannerError               root; ``code`` is a machine code, ``str(err)`` a human message
├── KeyStoreError          a key file cannot be imported, or the key folder cannot be used
├── GateConfigError        the gate cannot start: no event key held, several events, a bad event code
├── TicketListError        a file of known tickets / revocations cannot be imported (names file and line)
├── StoreError             the local store cannot be opened or written (full disk, read-only, corrupt)
│   └── StoreBusyError     another process held the store's write lock for too long
├── CaptureError           a camera, video file or image folder cannot be opened or read
├── ImageUnreadable        an image file given to the decoder cannot be read
└── VerifyInputError       standard input given to verify holds no codes (a line without end)
"""

from __future__ import annotations


class ScannerError(Exception):
    """Root of every error the scanner raises on purpose."""

    code = "scanner_error"


class KeyStoreError(ScannerError):
    """A key file was refused or the key folder is unusable; the message says which and why."""

    code = "key_store_error"


class GateConfigError(ScannerError):
    """The gate's event or name cannot be settled; the message says what to pass or import."""

    code = "gate_config_error"


class TicketListError(ScannerError):
    """A ticket list was refused as a whole; nothing of it was imported."""

    code = "bad_ticket_list"


class StoreError(ScannerError):
    """The local store failed; when raised by a scan, that scan was NOT recorded."""

    code = "store_error"


class StoreBusyError(StoreError):
    """The store stayed locked by another writer beyond the busy timeout."""

    code = "store_busy"


class CaptureError(ScannerError):
    """A frame source cannot be opened or stopped delivering frames (missing, busy, unplugged)."""

    code = "capture_failed"


class ImageUnreadable(ScannerError):
    """An image file given to the decoder is missing or not an image."""

    code = "image_unreadable"


class VerifyInputError(ScannerError):
    """Standard input given to ``verify -`` holds no codes one can verify (an endless line)."""

    code = "bad_input"
