"""The demo's watchdog (``python -m ticketgate.demo.watchdog``) as the demo drives it, over its pipe:
when the pipe closes without ``done`` (the demo died), it stops the processes and the PostgreSQL it
was told of, also a PostgreSQL that comes up only after the demo died; after ``done`` it touches
nothing. Real processes stand in for the server and postgres (a copy of sleep named postgres)."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _watchdog(*lines: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "ticketgate.demo.watchdog"], stdin=subprocess.PIPE, cwd=ROOT, text=True
    )
    assert process.stdin is not None
    process.stdin.write("".join(f"{line}\n" for line in lines))
    process.stdin.flush()
    return process


def _fake_postgres(folder: Path) -> subprocess.Popen[bytes]:
    """A process whose command line names postgres, as the real postmaster's does."""
    program = folder / "postgres"
    shutil.copy(shutil.which("sleep") or "/bin/sleep", program)
    return subprocess.Popen([str(program), "60"])


def test_a_dead_demos_server_and_a_postgresql_that_starts_late_are_stopped(tmp_path: Path) -> None:
    pgdata = tmp_path / "pgdata"
    pgdata.mkdir()
    server = subprocess.Popen(["sleep", "60"])
    watchdog = _watchdog(f"pid {server.pid}", f"pgdata {pgdata}")
    assert watchdog.stdin is not None
    watchdog.stdin.close()  # the demo died: its end of the pipe closed without "done"
    assert server.wait(timeout=10) == -signal.SIGTERM
    # A pg_ctl the demo had started brings PostgreSQL up only now.
    postgres = _fake_postgres(tmp_path)
    (pgdata / "postmaster.pid").write_text(f"{postgres.pid}\n{pgdata}\n")
    assert postgres.wait(timeout=10) == -signal.SIGINT  # PostgreSQL's fast shutdown
    watchdog.kill()  # it would watch a few seconds more
    watchdog.wait()


def test_after_done_the_watchdog_touches_nothing(tmp_path: Path) -> None:
    pgdata = tmp_path / "pgdata"
    pgdata.mkdir()
    server, postgres = subprocess.Popen(["sleep", "60"]), _fake_postgres(tmp_path)
    (pgdata / "postmaster.pid").write_text(f"{postgres.pid}\n")
    try:
        watchdog = _watchdog(f"pid {server.pid}", f"pgdata {pgdata}", "done")
        assert watchdog.stdin is not None
        watchdog.stdin.close()
        assert watchdog.wait(timeout=10) == 0
        time.sleep(0.5)
        assert server.poll() is None and postgres.poll() is None
    finally:
        server.kill()
        postgres.kill()


def test_a_stale_pid_file_naming_another_program_is_not_signalled(tmp_path: Path) -> None:
    pgdata = tmp_path / "pgdata"
    pgdata.mkdir()
    other = subprocess.Popen(["sleep", "60"])  # its pid left in the file of a killed PostgreSQL
    (pgdata / "postmaster.pid").write_text(f"{other.pid}\n")
    try:
        watchdog = _watchdog(f"pgdata {pgdata}")
        assert watchdog.stdin is not None
        watchdog.stdin.close()
        time.sleep(1)
        assert other.poll() is None
        watchdog.kill()
        watchdog.wait()
    finally:
        other.kill()
