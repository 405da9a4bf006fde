"""Durable file writes: a small file is replaced whole (temporary file, fsync, rename) or not at all."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def replace_file(path: Path, text: str, *, prefix: str) -> None:
    """Write ``text`` to ``path`` atomically with mode 0600; raise OSError if the disk refuses.

    Written under a temporary name (``prefix`` + random) that is private from the start, fsync'd,
    then renamed over ``path``: a crash or power loss leaves the old file or the new one, never half
    of either, and the new content is never readable by others (key files hold secrets).
    """
    fd, tmp_name = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, 0o600)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    fsync_directory(path.parent)


def fsync_directory(folder: Path) -> None:
    """Make a rename or link into ``folder`` durable: the folder's entry must reach the disk too."""
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
