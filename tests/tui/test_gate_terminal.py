"""``ticketgate scan`` in a real terminal (a pseudo-terminal): nothing but the app paints on it."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import sqlite3
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

from scanner.paths import keys_dir, store_path
from tests.tui.gatekit import code, make_home

ALT_SCREEN = b"\x1b[?1049h"  # Textual switches to the alternate screen when it takes the terminal


def _read_for(fd: int, seconds: float, until: bytes | None = None) -> bytes:
    """What the terminal received within ``seconds`` (stopping early once ``until`` was seen)."""
    got = b""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not (until and until in got):
        ready, _, _ = select.select([fd], [], [], 0.05)
        if ready:
            try:
                got += os.read(fd, 65536)
            except OSError:
                break
    return got


def _scan_in_terminal(
    home: Path, tmp_path: Path, *, rows: int, columns: int
) -> tuple[subprocess.Popen[bytes], int]:
    """``ticketgate scan`` on a pseudo-terminal of ``rows`` x ``columns`` (0x0: never sized), with a
    camera that shows nothing; the process and the terminal's master end."""
    frames = tmp_path / "no-frames"
    frames.mkdir()
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "ticketgate.cli", "scan", "--home", str(home), "--source", str(frames)],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env={**os.environ, "TERM": "xterm-256color"},
        start_new_session=True,
    )
    os.close(slave)
    return proc, master


def test_log_warnings_never_scribble_over_the_gate_screen(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    # A damaged key file: the scanner logs a warning each time it re-reads the key folder during scans.
    (keys_dir(home) / "VL9IHU.v2.json").write_text("{ damaged")
    proc, master = _scan_in_terminal(home, tmp_path, rows=24, columns=80)
    try:
        started = time.monotonic()
        before = _read_for(master, 20.0, until=ALT_SCREEN)
        assert ALT_SCREEN in before, before[-2000:]
        # Past the key store's cache time, so the scan re-reads the folder (and logs the warning).
        painted = _read_for(master, max(0.5, 3.0 - (time.monotonic() - started)))
        os.write(master, code(1).encode() + b"\r")
        painted += _read_for(master, 2.0)
    finally:
        proc.kill()
        proc.wait(timeout=10)
        os.close(master)
    with sqlite3.connect(store_path(home)) as db:
        assert db.execute("SELECT verdict FROM scans").fetchall() == [("ADMIT",)]
    assert b"WARNING" not in painted and b"ignoring unusable key file" not in painted


def test_a_terminal_that_reports_no_size_still_runs_the_gate(tmp_path: Path) -> None:
    # A pseudo-terminal nobody has sized yet says 0x0; textual-image divided by zero asking it for its
    # cell size while being imported, and the gate died with a traceback before it drew anything.
    home = make_home(tmp_path)
    proc, master = _scan_in_terminal(home, tmp_path, rows=0, columns=0)
    try:
        painted = _read_for(master, 20.0, until=b"camera preview unavailable")
        os.write(master, code(1).encode() + b"\r")
        painted += _read_for(master, 2.0)
        os.write(master, b"\x11")  # Ctrl+Q, then "y" to confirm: the gate closes as usual
        painted += _read_for(master, 1.0)
        os.write(master, b"y")
        painted += _read_for(master, 5.0)
        assert proc.wait(timeout=10) == 0
    finally:
        proc.kill()
        proc.wait(timeout=10)
        os.close(master)
    assert b"Traceback" not in painted and b"camera preview unavailable" in painted
    with sqlite3.connect(store_path(home)) as db:
        assert db.execute("SELECT verdict FROM scans").fetchall() == [("ADMIT",)]
