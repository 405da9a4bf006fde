"""Checks of a store file before SQLite opens it: private, not emptied, not cut short.

SQLite treats an empty file as a new database and reads a truncated one until it meets a missing
page; either way the gate could start afresh and admit every ticket again. The header says how
large the file must be, so a file cut short is refused before anything is decided from it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from scanner.errors import StoreError

_MAGIC = b"SQLite format 3\x00"
_HEADER_BYTES = 100
_WAL_HEADER_BYTES = 32


def check_store_file(path: Path) -> None:
    """Refuse an existing store file that is not a regular file, empty or shorter than its header
    says; make it private (mode 0600: it holds holder names) if it is not."""
    try:
        with path.open("rb") as fh:
            info = os.fstat(fh.fileno())
            header = fh.read(_HEADER_BYTES) if stat.S_ISREG(info.st_mode) else b""
    except OSError as exc:
        raise StoreError(f"cannot read the store {path}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(info.st_mode):
        raise StoreError(f"the store {path} is not a regular file")
    if info.st_mode & 0o077:
        try:
            os.chmod(path, 0o600)
        except OSError:
            pass  # not ours to change (another user's store): reading it is still allowed
    if info.st_size == 0:
        raise StoreError(
            f"the store {path} is empty (0 bytes): it was emptied or truncated. Refusing to start a "
            "fresh store in its place, which would admit every ticket again; move it aside to start anew"
        )
    if len(header) < _HEADER_BYTES or not header.startswith(_MAGIC):
        return  # not an SQLite file at all: SQLite's own refusal names it
    if _wal_has_frames(path):
        return  # the WAL may hold pages a checkpoint was copying when it stopped: SQLite recovers them
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    # The page count is trusted only when the "version valid for" number matches the change counter.
    header_counts_pages = header[24:28] == header[92:96] and pages > 0
    if info.st_size % page_size or (header_counts_pages and info.st_size < pages * page_size):
        raise StoreError(
            f"the store {path} is truncated ({info.st_size} bytes; its header says "
            f"{pages * page_size}). Refusing to use it, which could admit tickets again; move it "
            "aside to start a new store, and keep it: it may be recoverable"
        )


def _wal_has_frames(path: Path) -> bool:
    try:
        return Path(f"{path}-wal").stat().st_size > _WAL_HEADER_BYTES
    except FileNotFoundError:
        return False
