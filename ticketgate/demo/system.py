"""The throwaway system the demo runs: a data folder, PostgreSQL (embedded unless given), and a real
``ticketgate server`` in a child process with the reaper running every second. Everything it starts is
stopped when the block ends, also on Ctrl-C or an error, and by a watchdog process if the demo is
killed outright (kill -9); the folder stays for a look afterwards.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from backend.embedded import start_embedded_postgres, stop_embedded_postgres
from ticketgate.demo.narration import Narrator
from ticketgate.demo.watchdog import Watchdog

# Every checkout's hold on the server (its own default): no hold can run out while the buyers are
# still racing, however slow the machine; the abandoned orders alone get the short hold afterwards.
RUSH_HOLD_SECONDS = 900
SERVER_START_SECONDS = 60.0  # a cold start on a loaded laptop: imports, migrations, the first pool
SERVER_STOP_SECONDS = 20.0


class DemoError(Exception):
    """The demo could not go on (the server would not start, an answer it cannot use): one clear line."""


@dataclass(frozen=True)
class System:
    """The running system the story talks to."""

    folder: Path
    base_url: str
    database_url: str
    hold_seconds: int  # the abandoned orders' hold, given to them once the rush is over
    reaper_interval_seconds: float
    master_secret: str = field(repr=False)
    webhook_secret: str = field(repr=False)
    admin_token: str = field(repr=False)

    def gate_home(self, name: str) -> Path:
        """The data folder of the gate laptop called ``name`` ("Gate A": ``gate-a``)."""
        return self.folder / name.lower().replace(" ", "-")


def free_port() -> int:
    """A TCP port nothing listens on right now (the server binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def running_system(
    folder: Path,
    *,
    narrator: Narrator,
    hold_seconds: int,
    reaper_interval_seconds: float = 1.0,
    database_url: str | None = None,
) -> Iterator[System]:
    """PostgreSQL and a server in ``folder``; both stopped when the block ends, whatever ends it."""
    backend_data = folder / "backend-data"
    embedded = database_url is None
    if embedded:
        narrator.say("starting an embedded PostgreSQL (pgserver) in the demo's folder")
    # Stops the server and PostgreSQL should this process be killed before the finally below runs.
    watchdog = Watchdog()
    try:
        if embedded:
            watchdog.watch_postgres((backend_data / "pgdata").resolve())
        # The narration has said it; the embedded database's own warning would read as an alarm.
        logging.getLogger("backend.embedded").setLevel(logging.ERROR)
        url = database_url or start_embedded_postgres(backend_data)
        system = System(
            folder=folder,
            base_url=f"http://127.0.0.1:{free_port()}",
            database_url=url,
            hold_seconds=hold_seconds,
            reaper_interval_seconds=reaper_interval_seconds,
            master_secret=secrets.token_hex(32),
            webhook_secret="whsec_demo_" + secrets.token_hex(16),
            admin_token=secrets.token_hex(24),
        )
        with _server(system, narrator, watchdog) as process:
            narrator.say(
                f"ticketgate server is up at {system.base_url} (pid {process.pid}, log in server.log): "
                f"checkouts hold their tickets {RUSH_HOLD_SECONDS} s (no hold runs out during a rush), "
                f"the reaper runs every {reaper_interval_seconds:g} s"
            )
            yield system
    finally:
        if embedded:
            stop_embedded_postgres(backend_data)
        watchdog.close()


@contextmanager
def _server(system: System, narrator: Narrator, watchdog: Watchdog) -> Iterator[subprocess.Popen[bytes]]:
    port = system.base_url.rsplit(":", 1)[1]
    command = [sys.executable, "-m", "ticketgate", "server", "--host", "127.0.0.1", "--port", port]
    log = (system.folder / "server.log").open("ab")
    narrator.say(f"starting `ticketgate server --port {port}` as a child process")
    try:
        process = subprocess.Popen(command, env=_server_env(system), stdout=log, stderr=subprocess.STDOUT)
    except OSError as exc:
        log.close()
        raise DemoError(f"cannot start ticketgate server: {exc}") from None
    watchdog.watch_process(process.pid)
    try:
        _wait_ready(system, process)
        yield process
    finally:
        _stop(process)
        log.close()


def _server_env(system: System) -> dict[str, str]:
    # The user's own TICKETGATE_* settings (a real Stripe key, a real database) never reach the demo.
    env = {k: v for k, v in os.environ.items() if not k.startswith("TICKETGATE_")}
    env.update(
        {
            "TICKETGATE_DATABASE_URL": system.database_url,
            "TICKETGATE_MASTER_SECRET": system.master_secret,
            "TICKETGATE_WEBHOOK_SECRET": system.webhook_secret,
            "TICKETGATE_ADMIN_TOKEN": system.admin_token,
            "TICKETGATE_HOLD_SECONDS": str(RUSH_HOLD_SECONDS),
            "TICKETGATE_REAPER_INTERVAL_SECONDS": f"{system.reaper_interval_seconds:g}",
            # 200 buyers come from one address here: the per-address checkout limit would stop them.
            "TICKETGATE_CHECKOUT_RATE": "off",
            "TICKETGATE_PUBLIC_URL": system.base_url,
            "TICKETGATE_HOME": str(system.folder),
        }
    )
    return env


def _wait_ready(system: System, process: subprocess.Popen[bytes]) -> None:
    """Until the server answers /readyz (migrated, database reachable); a server without that
    endpoint answers 404, which also means it is serving (it migrates before it listens)."""
    deadline = time.monotonic() + SERVER_START_SECONDS
    while True:
        if process.poll() is not None:
            raise DemoError(
                f"ticketgate server exited with status {process.returncode} while starting "
                f"({_last_line(system.folder / 'server.log')}): see {system.folder / 'server.log'}"
            )
        with suppress(httpx.TransportError):
            if httpx.get(f"{system.base_url}/readyz", timeout=2).status_code in (200, 404):
                return
        if time.monotonic() > deadline:
            raise DemoError(f"ticketgate server did not answer in {SERVER_START_SECONDS:g} s: see server.log")
        time.sleep(0.1)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (the server shuts down cleanly and stops its reaper), SIGKILL if it hangs."""
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=SERVER_STOP_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _last_line(log: Path) -> str:
    """The last line of the server's log: its one-line error when it refused to start."""
    try:
        lines = log.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "no log"
    return lines[-1][-300:] if lines else "nothing logged"
