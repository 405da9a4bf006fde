"""A real PgBouncer in transaction mode in front of the test PostgreSQL, started per test on a free
port with its own temporary configuration; tests using it are skipped where the binary is missing
(``.ci/run`` installs it: Debian's ``pgbouncer`` package).

It is configured the way docs/scaling.md tells operators to: transaction pooling, few server
connections (so many clients share each one, and a session's state would leak between them), and the
lock timeout ticketgate needs set by ``connect_query`` (PgBouncer refuses the ``options`` start-up
parameter ticketgate sets it with when connected directly).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from backend.db import DEFAULT_LOCK_TIMEOUT_MS


def binary() -> str | None:
    return shutil.which("pgbouncer") or next(
        (path for path in ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer") if os.access(path, os.X_OK)), None
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _unprivileged_user() -> str:
    """PgBouncer refuses to run as root; as root it is told to become this user."""
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    raise RuntimeError("no unprivileged user to run pgbouncer as")


@contextmanager
def pgbouncer(upstream_url: str, *, pool_size: int = 4) -> Iterator[str]:
    """Run PgBouncer in transaction mode in front of ``upstream_url``'s server; yield the URL of the same
    database through it."""
    with running_pgbouncer(upstream_url, pool_size=pool_size) as (url, _):
        yield url


@contextmanager
def running_pgbouncer(upstream_url: str, *, pool_size: int = 4) -> Iterator[tuple[str, int]]:
    """``pgbouncer``, yielding the URL and PgBouncer's process id (the benchmark counts its CPU)."""
    found = binary()
    if found is None:
        pytest.skip("pgbouncer is not installed (apt-get install pgbouncer; .ci/run installs it)")
    upstream = urlsplit(upstream_url)
    user = upstream.username or "postgres"
    port = _free_port()
    folder = Path(tempfile.mkdtemp(prefix="tg-pgbouncer-"))
    # Readable by the user PgBouncer switches to when started as root.
    folder.chmod(0o755)
    (folder / "users.txt").write_text(f'"{user}" ""\n')
    (folder / "pgbouncer.ini").write_text(
        "[databases]\n"
        f"* = host={upstream.hostname or '127.0.0.1'} port={upstream.port or 5432}"
        f" connect_query='SET lock_timeout = {DEFAULT_LOCK_TIMEOUT_MS}'\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = trust\nauth_file = {folder / 'users.txt'}\n"
        f"pool_mode = transaction\ndefault_pool_size = {pool_size}\nmin_pool_size = 0\n"
        "max_client_conn = 1000\nserver_check_delay = 0\n"
    )
    for name in ("users.txt", "pgbouncer.ini"):
        (folder / name).chmod(0o644)
    command = [found, str(folder / "pgbouncer.ini")]
    if os.geteuid() == 0:
        command[1:1] = ["-u", _unprivileged_user()]
    log = (folder / "pgbouncer.log").open("wb")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    url = urlunsplit(
        (upstream.scheme, f"{user}@127.0.0.1:{port}", upstream.path, upstream.query, upstream.fragment)
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"pgbouncer exited: {(folder / 'pgbouncer.log').read_text()}")
            try:
                with psycopg.connect(url, connect_timeout=2, prepare_threshold=None) as conn:
                    conn.execute("SELECT 1")
                break
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield url, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        shutil.rmtree(folder, ignore_errors=True)
