"""``ticketgate server`` as a user runs it: a real process, its settings check, migrations, API and reaper."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import assert_invariants

ROOT = Path(__file__).resolve().parents[2]
SECRETS = {
    "TICKETGATE_MASTER_SECRET": "server-test-master-secret-0123456789",
    "TICKETGATE_WEBHOOK_SECRET": "whsec_server_test",
    "TICKETGATE_ADMIN_TOKEN": "server-test-admin-token",
}


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TICKETGATE_")}
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_answering(server: subprocess.Popen[str], url: str, *, timeout: float) -> None:
    """Until ``url`` answers 200; fails with the server's output if it exits first."""
    deadline = time.monotonic() + timeout
    while True:
        assert server.poll() is None, server.communicate()[0]
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"the server did not answer within {timeout:g} s"
        time.sleep(0.2)


@pytest.mark.parametrize("missing", sorted(SECRETS))
def test_a_missing_secret_stops_the_server_with_one_line_naming_it(missing: str) -> None:
    env = clean_env(**{k: v for k, v in SECRETS.items() if k != missing})
    # Settings are checked before any connection: this URL is never dialled.
    nowhere = "postgresql://postgres@127.0.0.1:1/nowhere"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "ticketgate",
            "server",
            "--database-url",
            nowhere,
            "--port",
            str(free_port()),
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("ticketgate: error:") and missing in lines[0]
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("url", ["postgresql://postgres@127.0.0.1:1/nowhere", "not a url"])
def test_an_unreachable_database_stops_the_server_with_one_clear_line(url: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ticketgate", "server", "--port", str(free_port())],
        env=clean_env(**SECRETS, TICKETGATE_DATABASE_URL=url),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("ticketgate: error:")]
    assert len(errors) == 1 and "database" in errors[0].lower(), done.stderr


def test_a_port_already_taken_is_one_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "ticketgate", "server", "--port", str(port), "--workers", "2"],
            # Never dialled: the port is checked before the database is touched.
            env=clean_env(**SECRETS, TICKETGATE_DATABASE_URL="postgresql://postgres@127.0.0.1:1/nowhere"),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("ticketgate: error:")]
    assert len(errors) == 1 and f"127.0.0.1:{port}" in errors[0], done.stderr


def socket_inodes_on(port: int, *, state: str) -> set[str]:
    """Inodes of this machine's TCP sockets with local ``port`` in ``state`` (01 established, 0A listen)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == state:
                inodes.add(fields[9])
    return inodes


def socket_inodes_of(pid: int) -> set[str]:
    found = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            found.add(target[len("socket:[") : -1])
    return found


def assert_connections_reach_every_worker(supervisor: int, port: int) -> None:
    """16 keep-alive connections land on every worker process, not all on one."""
    children = [
        pid
        for pid in map(int, Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split())
        if b"spawn_main"
        in Path(f"/proc/{pid}/cmdline").read_bytes()  # not multiprocessing's resource tracker
    ]
    # A worker listens once its start-up is done; until then the others take every connection.
    deadline = time.monotonic() + 30
    while len(socket_inodes_on(port, state="0A")) < len(children):
        assert time.monotonic() < deadline, "not every worker is listening after 30 s"
        time.sleep(0.1)
    clients = []
    try:
        for _ in range(16):
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            sock.sendall(b"GET /api/events/NONE HTTP/1.1\r\nHost: x\r\n\r\n")
            assert sock.recv(4096).startswith(b"HTTP/1.1 404")
            clients.append(sock)
        established = socket_inodes_on(port, state="01")
        per_worker = [len(socket_inodes_of(child) & established) for child in children]
    finally:
        for sock in clients:
            sock.close()
    assert len(per_worker) == 2 and sum(per_worker) == 16, per_worker
    assert min(per_worker) >= 1, f"one worker got every connection: {per_worker}"


@pytest.mark.parametrize("workers", [1, 2])
def test_the_server_migrates_serves_the_api_runs_the_reaper_and_stops_cleanly(
    workers: int, empty_database_url: str
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = clean_env(
        **SECRETS,
        TICKETGATE_DATABASE_URL=empty_database_url,
        TICKETGATE_HOLD_SECONDS="1",
        TICKETGATE_REAPER_INTERVAL_SECONDS="0.3",
    )
    server = subprocess.Popen(
        [sys.executable, "-m", "ticketgate", "server", "--port", str(port), "--workers", str(workers)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _wait_until_answering(server, f"{base}/docs", timeout=60)

        if workers > 1:
            assert_connections_reach_every_worker(server.pid, port)
        admin = {"Authorization": f"Bearer {SECRETS['TICKETGATE_ADMIN_TOKEN']}"}
        created = httpx.post(
            f"{base}/api/events", json={"code": "SRV1", "name": "S", "capacity": 5}, headers=admin
        )
        assert created.status_code == 201, created.text
        order = httpx.post(f"{base}/api/events/SRV1/orders", json={"quantity": 2, "email": "s@example.com"})
        assert order.status_code == 201, order.text
        order_id = order.json()["id"]
        # Held for 1 s; the reaper, running inside the server, expires it and returns the stock.
        deadline = time.monotonic() + 20
        while httpx.get(f"{base}/api/orders/{order_id}").json()["status"] != "expired":
            assert time.monotonic() < deadline, "the server's reaper did not expire the order"
            time.sleep(0.2)
        stock = httpx.get(f"{base}/api/events/SRV1").json()
        assert (stock["available"], stock["held"]) == (5, 0)
    finally:
        # Ctrl-C for one, a service manager's SIGTERM for the other: both are a clean stop.
        server.send_signal(signal.SIGTERM if workers == 1 else signal.SIGINT)
        try:
            output, _ = server.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            output, _ = server.communicate()
    assert server.returncode == 0, output
    assert "Traceback" not in output, output
    # One process per worker, each with its own listening socket.
    assert output.count("Started server process") == workers, output
    assert_invariants(empty_database_url)


def start_workers(
    port: int, env: dict[str, str], *, workers: int, extra: tuple[str, ...] = ()
) -> subprocess.Popen[str]:
    """``ticketgate [extra] server --port PORT --workers N`` as a child process, returned once /readyz
    answers 200 and every worker listens (stopping a worker before its app started fails it)."""
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ticketgate",
            *extra,
            "server",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 60
    try:
        while True:
            assert server.poll() is None, server.communicate()[0]
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200
                if ready and len(socket_inodes_on(port, state="0A")) == workers:
                    return server
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not get ready within 60 s"
            time.sleep(0.2)
    except BaseException:
        server.kill()
        server.wait()
        raise


def _processes_naming(text: str) -> list[int]:
    """The processes whose command line holds ``text``."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and text.encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:  # the process ended while we looked
            pass
    return found


@pytest.mark.parametrize(
    ("workers", "when"), [(1, "serving"), (2, "serving"), (1, "starting"), (2, "starting")]
)
def test_a_hang_up_stops_the_server_and_its_embedded_postgresql(workers: int, when: str) -> None:
    # Closing the terminal `ticketgate server` runs in sends SIGHUP, whose default action ended the
    # process at once: no shutdown, and the embedded PostgreSQL it had started kept running. Also
    # while it starts: once it says it is serving, its workers may still be starting.
    home = Path(tempfile.mkdtemp(prefix="tg_hup_"))  # outside tmp_path: see test_backend_cli's `home`
    home.chmod(0o755)
    pgdata = str((home / "backend-data" / "pgdata").resolve())
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "ticketgate", "server", "--port", str(port), "--workers", str(workers)],
        env=clean_env(**SECRETS, TICKETGATE_HOME=str(home)),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        said = ""
        if when == "starting":
            assert server.stdout is not None
            while "serving on" not in said:
                line = server.stdout.readline()
                assert line, said
                said += line
        else:
            _wait_until_answering(server, f"http://127.0.0.1:{port}/healthz", timeout=90)
        assert _processes_naming(pgdata), "the embedded PostgreSQL is not running"
        os.killpg(server.pid, signal.SIGHUP)  # the whole session, as a closed terminal does
        try:
            output, _ = server.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            output, _ = server.communicate()
        output = said + output
        # 0 once serving; 130 (as for Ctrl-C) if the hang-up came before uvicorn took the signals.
        assert server.returncode in ((0,) if when == "serving" else (0, 130)), output
        assert "Traceback" not in output, output
        deadline = time.monotonic() + 20
        while _processes_naming(pgdata):
            assert time.monotonic() < deadline, "the embedded PostgreSQL outlived its server"
            time.sleep(0.2)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        for pid in _processes_naming(pgdata):
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(home, ignore_errors=True)
