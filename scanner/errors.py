"""Errors of the scanner.

ScannerError               root; ``code`` is a machine code, ``str(err)`` a human message
├── KeyStoreError          a key file cannot be imported, or the key folder cannot be used
├── GateConfigError        the gate cannot start: no event key held, several events, a bad event code
├── TicketListError        a file of known tickets / revocations cannot be imported (names file and line)
├── StoreError             the local store cannot be opened or written (full disk, read-only, corrupt)
│   └── StoreBusyError     another process held the store's write lock for too long
├── CaptureError           a camera, video file or image folder cannot be opened or read
├── ImageUnreadable        an image file given to the decoder cannot be read
├── VerifyInputError       standard input given to verify holds no codes (a line without end)
└── SyncError              pairing or a sync round with the backend failed; ``exit_code`` 1 or 2
    ├── ServerUnavailable  unreachable, timed out, busy, or answered outside the protocol: try later
    ├── NotPaired          no (usable) device credentials in the data folder
    ├── DeviceRevoked      the backend revoked this device
    ├── DeviceUnauthorized the backend does not know this device's token
    ├── PairingRefused     the pairing code is unknown, expired or already used
    └── SyncConfigError    what was pulled cannot be kept (another key under the same version...)
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


class SyncError(ScannerError):
    """A sync round or pairing failed. ``exit_code``: 1 try later (nothing lost), 2 someone must act."""

    code = "sync_failed"
    exit_code = 2


class ServerUnavailable(SyncError):
    """No usable answer: network down, timeout, 5xx, or a body the protocol does not allow."""

    code = "server_unavailable"
    exit_code = 1


class NotPaired(SyncError):
    """This data folder holds no device credentials: pair it first."""

    code = "not_paired"


class DeviceRevoked(SyncError):
    """The backend revoked this device; it gets no data until it is paired again."""

    code = "device_revoked"


class DeviceUnauthorized(SyncError):
    """The backend does not know this device's token (another server, a reset database)."""

    code = "device_unauthorized"


class PairingRefused(SyncError):
    """The pairing code is unknown, expired or already used (the server does not say which)."""

    code = "pairing_invalid"


class ScanIdsReused(SyncError):
    """The backend holds other scans under this gate's scan ids: the store restarted its numbering."""

    code = "scan_ids_reused"


class SyncConfigError(SyncError):
    """Pulled data this gate cannot keep: a different key under a held version, another event."""

    code = "sync_config"
