"""The demo's last-resort cleaner: a small process that stops the demo's server and its embedded
PostgreSQL if the demo dies without stopping them itself (``kill -9``, the out-of-memory killer).

The demo tells it over a pipe what to stop as it starts things. A demo that dies, however it dies,
closes the pipe: the watchdog then stops what it was told of. A demo that ends normally has stopped
everything itself and says ``done`` first, so the watchdog acts on no process id that may since
belong to another program.

    python -m ticketgate.demo.watchdog     # started by the demo, never by hand
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

STOP_SECONDS = 20.0  # as the demo waits for its server to stop before SIGKILL
POSTGRES_WATCH_SECONDS = 15.0  # pg_ctl waits for a starting PostgreSQL, then gives up


class Watchdog:
    """The demo's side of the pipe. ``close()`` on a normal exit; a dead demo needs to do nothing."""

    def __init__(self) -> None:
        # Its own session: Ctrl-C in the terminal and a kill of the demo's process group miss it.
        self._process = subprocess.Popen(
            [sys.executable, "-m", "ticketgate.demo.watchdog"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            text=True,
        )

    def watch_process(self, pid: int) -> None:
        """Terminate process ``pid`` if the demo dies."""
        self._send(f"pid {pid}")

    def watch_postgres(self, pgdata: Path) -> None:
        """Shut down the PostgreSQL whose data folder is ``pgdata`` if the demo dies."""
        self._send(f"pgdata {pgdata}")

    def close(self) -> None:
        """The demo stopped everything itself: the watchdog ends without touching anything."""
        self._send("done")
        if self._process.stdin is not None:
            self._process.stdin.close()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()

    def _send(self, line: str) -> None:
        assert self._process.stdin is not None
        try:
            self._process.stdin.write(line + "\n")
            self._process.stdin.flush()
        except (BrokenPipeError, ValueError):
            pass  # the watchdog is gone: the demo's own clean-up still runs


def orders(lines: IO[str]) -> tuple[list[int], list[Path], bool]:
    """Read the demo's lines until the pipe closes: the pids and PostgreSQL folders to stop, and
    whether the demo said ``done`` (then nothing is to be stopped)."""
    pids: list[int] = []
    folders: list[Path] = []
    for line in lines:
        word, _, value = line.rstrip("\n").partition(" ")
        if word == "done":
            return pids, folders, True
        if word == "pid" and value.isdecimal():
            pids.append(int(value))
        elif word == "pgdata" and value:
            folders.append(Path(value))
    return pids, folders, False


def postmaster_pid(pgdata: Path) -> int | None:
    """The running postmaster's pid, from the first line of ``postmaster.pid`` (None if none runs)."""
    try:
        first = (pgdata / "postmaster.pid").read_text().split("\n", 1)[0].strip()
    except OSError:
        return None
    if not first.isdecimal():
        return None
    # A file left by a PostgreSQL that was killed may name a pid another program has since: only a
    # postgres process is ever signalled.
    try:
        command = Path(f"/proc/{first}/cmdline").read_bytes()
    except OSError:
        return None
    return int(first) if b"postgres" in command else None


def stop(pid: int, how: signal.Signals) -> None:
    """Send ``how`` to ``pid``, wait for it to go, SIGKILL after STOP_SECONDS."""
    try:
        os.kill(pid, how)
    except (ProcessLookupError, PermissionError):
        return
    deadline = time.monotonic() + STOP_SECONDS
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the demo handles Ctrl-C; this must outlive it
    pids, folders, done = orders(sys.stdin)
    if done:
        return
    # The server first (SIGTERM: it stops its reaper and closes its pool), then PostgreSQL with a
    # fast shutdown (SIGINT to the postmaster: open sessions are ended, the data is kept consistent).
    for pid in pids:
        stop(pid, signal.SIGTERM)
    # A pg_ctl the demo left running may start PostgreSQL a moment after the demo died: watch for it.
    deadline = time.monotonic() + POSTGRES_WATCH_SECONDS
    while time.monotonic() < deadline:
        for pgdata in folders:
            postmaster = postmaster_pid(pgdata)
            if postmaster is not None:
                stop(postmaster, signal.SIGINT)
        time.sleep(0.2)


if __name__ == "__main__":
    main()
