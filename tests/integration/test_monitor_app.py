"""``ticketgate monitor`` on a real PostgreSQL: the dashboard driven by Textual's pilot shows the known
day, keeps refreshing, and rides out a database outage (a real TCP proxy cutting the connection) with
a banner instead of a traceback; the command refuses an unknown event in one line."""

from __future__ import annotations

import asyncio
import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

import pytest
from psycopg_pool import AsyncConnectionPool
from textual.widgets import Static

from backend.db import make_pool
from monitor.app import MonitorApp
from monitor.source import DatabaseSource
from tests.integration import dashboard_scenario
from tests.integration.conftest import reserve
from tests.integration.fault_proxy import FaultProxy
from ticketgate.cli import main

pytestmark = pytest.mark.anyio


def _text(app: MonitorApp, selector: str) -> str:
    return str(app.query_one(selector, Static).content)


async def _until(check: Callable[[], bool], *, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def _through(proxy: FaultProxy, url: str) -> str:
    parts = urlsplit(url)
    user = parts.netloc.rpartition("@")[0]
    return urlunsplit(
        (parts.scheme, f"{user}@127.0.0.1:{proxy.port}", parts.path, parts.query, parts.fragment)
    )


async def test_dashboard_shows_the_known_day_and_refreshes(
    pool: AsyncConnectionPool, database_url: str
) -> None:
    await dashboard_scenario.build(pool)
    source = DatabaseSource(database_url, dashboard_scenario.EVENT)
    app = MonitorApp(source.fetch, interval=0.3)
    try:
        async with app.run_test(size=(160, 48)) as pilot:
            await _until(lambda: app.refreshes >= 1, what="the first snapshot")
            assert "sold 2  held 5  available 13  of 20" in _text(app, "#sales-figures")
            assert "3 pending; 1 expire within 5 min" in _text(app, "#orders-text")
            attention = _text(app, "#attention-text")
            assert "payment_mismatch" in attention and "refund_due" in attention
            assert "refund_due          60.00 EUR" in attention
            devices = _text(app, "#devices-text")
            assert "2 of 3 online" in devices and "waiting to pair" in devices
            assert "inside now 1  admitted 3" in _text(app, "#entries-figures")
            assert "1 ticket(s) let in by two gates" in _text(app, "#conflicts-text")
            await pilot.pause()
            assert {str(row.gate) for row in app.query("GateRow")} == {"Gate A", "Gate B"}  # type: ignore[attr-defined]

            # A sale made while it runs shows at the next refresh; r refreshes at once.
            await reserve(pool, dashboard_scenario.EVENT, 2)
            await pilot.press("r")
            await _until(lambda: "held 7" in _text(app, "#sales-figures"), what="the new hold")
    finally:
        await source.close()


async def test_database_outage_shows_a_banner_and_the_dashboard_recovers(
    pool: AsyncConnectionPool, database_url: str
) -> None:
    await dashboard_scenario.build(pool)
    upstream = urlsplit(database_url).port or 5432
    with FaultProxy(upstream) as proxy:
        source = DatabaseSource(_through(proxy, database_url), dashboard_scenario.EVENT)
        app = MonitorApp(source.fetch, interval=0.3)
        try:
            async with app.run_test(size=(100, 30)):
                banner = app.query_one("#banner", Static)
                await _until(lambda: app.refreshes >= 1, what="the first snapshot")
                assert not banner.display

                proxy.mode = "refuse"
                proxy.drop_all()
                await _until(lambda: banner.display, what="the outage banner")
                assert "database unreachable, retrying" in str(banner.content)
                assert "the figures below are from" in str(banner.content)
                assert "sold 2" in _text(app, "#sales-figures"), "the last figures stay on screen"

                await reserve(pool, dashboard_scenario.EVENT, 1)  # happens while the dashboard is cut off
                proxy.mode = "pass"
                await _until(lambda: not banner.display, what="recovery")
                await _until(
                    lambda: "held 6" in _text(app, "#sales-figures"), what="the figures after recovery"
                )
                assert app.problem is None
        finally:
            await source.close()


def test_monitor_command_refuses_an_unknown_event_in_one_line(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["monitor", "--event", "NOSUCH1", "--database-url", database_url]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "ticketgate: error: no event has the code NOSUCH1"


def test_monitor_command_without_a_terminal_says_what_to_use_instead(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    async def scenario() -> None:
        async with make_pool(database_url, min_size=1, max_size=2) as pool:
            await dashboard_scenario.build(pool)

    asyncio.run(scenario())
    # Standard output is pytest's capture here, as a pipe or a file would be: no escape codes written.
    argv = ["monitor", "--event", dashboard_scenario.EVENT, "--database-url", database_url]
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("ticketgate: error: ticketgate monitor draws a live dashboard")
    assert "scans summary" in err and err.count("\n") == 1


def test_monitor_command_refuses_an_unreachable_database_in_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with FaultProxy(1) as proxy:
        proxy.mode = "refuse"
        url = f"postgresql://postgres@127.0.0.1:{proxy.port}/test"
        assert main(["monitor", "--event", "MONDAY1", "--database-url", url]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ticketgate: error: the database is unavailable") and "Traceback" not in err


@pytest.mark.parametrize("interval", ["0", "abc", "7200"])
def test_monitor_interval_out_of_range_is_a_usage_error(
    interval: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["monitor", "--event", "MONDAY1", "--interval", interval])
    assert exit_info.value.code == 2
    assert "--interval" in capsys.readouterr().err


def _read_for(fd: int, seconds: float, until: bytes | None = None) -> bytes:
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


def test_monitor_command_in_a_real_terminal_rides_out_an_outage_and_q_quits(database_url: str) -> None:
    async def scenario() -> None:
        async with make_pool(database_url, min_size=1, max_size=4) as pool:
            await dashboard_scenario.build(pool)

    asyncio.run(scenario())
    upstream = urlsplit(database_url).port or 5432
    with FaultProxy(upstream) as proxy:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 120, 0, 0))
        command = [sys.executable, "-m", "ticketgate.cli", "monitor", "--event", dashboard_scenario.EVENT]
        proc = subprocess.Popen(
            [*command, "--interval", "1", "--database-url", _through(proxy, database_url)],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env={**os.environ, "TERM": "xterm-256color"},
            start_new_session=True,
        )
        os.close(slave)
        try:
            painted = _read_for(master, 30.0, until=b"Monday Live")
            assert b"Monday Live" in painted, painted[-2000:]
            proxy.mode = "refuse"
            proxy.drop_all()
            painted += _read_for(master, 20.0, until=b"database unreachable, retrying")
            assert b"database unreachable, retrying" in painted
            proxy.mode = "pass"
            painted += _read_for(master, 2.0)
            os.write(master, b"q")
            assert proc.wait(timeout=20) == 0
            painted += _read_for(master, 1.0)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
            os.close(master)
    assert b"Traceback" not in painted and b"WARNING" not in painted
