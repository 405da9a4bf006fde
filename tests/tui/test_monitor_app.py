"""The dashboard driven by its pilot with a fixed snapshot: what each panel says, keys, and a failing
database that becomes a banner over the last figures and goes away when the database answers again."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from textual.widgets import Sparkline, Static

from backend.dashboard import Snapshot
from backend.errors import DatabaseUnavailable, EventNotFound
from monitor.app import MonitorApp
from tests.tui.monitor_kit import BUSY, steady

pytestmark = pytest.mark.anyio


def _text(app: MonitorApp, selector: str) -> str:
    return str(app.query_one(selector, Static).content)


async def test_every_panel_shows_its_part_of_the_snapshot() -> None:
    app = steady(BUSY)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        assert "VL9IHU" in _text(app, "#title") and "updated 19:42:07" in _text(app, "#title")
        assert "sold 1,734  held 48  available 218  of 2,000" in _text(app, "#sales-figures")
        assert list(app.query_one("#sales-plot", Sparkline).data or []) == list(BUSY.sales_per_minute)
        assert "21 pending; 5 expire within 5 min" in _text(app, "#orders-text")
        assert " 0:14 2 ticket(s)  " in _text(app, "#orders-text")
        assert "… and 1 more" in _text(app, "#orders-text")
        assert "payment_mismatch" in _text(app, "#attention-text")
        assert "2 of 4 online" in _text(app, "#devices-text")
        assert "waiting to pair" in _text(app, "#devices-text")
        assert "inside now 1,203  admitted 1,388" in _text(app, "#entries-figures")
        plots = [list(plot.data or []) for plot in app.query(".gate-plot").results(Sparkline)]
        assert plots == [list(gate.per_minute) for gate in BUSY.entries]
        assert "Gate A 19:33:07 → Gate C 19:35:07" in _text(app, "#conflicts-text")


async def test_outage_shows_a_banner_keeps_the_figures_and_recovers() -> None:
    answers: list[Snapshot | Exception] = [DatabaseUnavailable("the database is unavailable: refused")]
    fetched = asyncio.Event()

    async def fetch() -> Snapshot:
        fetched.set()
        answer = answers[0] if answers else BUSY
        if isinstance(answer, Exception):
            raise answer
        return answer

    app = MonitorApp(fetch, interval=60, first=BUSY)
    async with app.run_test(size=(100, 30)) as pilot:
        banner = app.query_one("#banner", Static)
        assert not banner.display
        await pilot.press("r")
        await asyncio.wait_for(fetched.wait(), 5)
        await pilot.pause()
        assert banner.display
        assert "database unreachable, retrying every 60 s" in str(banner.content)
        assert "sold 1,734" in _text(app, "#sales-figures")

        answers[:] = [replace(BUSY, stock=replace(BUSY.stock, sold=1735, available=217))]
        fetched.clear()
        await pilot.press("r")
        await asyncio.wait_for(fetched.wait(), 5)
        await pilot.pause()
        assert not banner.display and app.problem is None
        assert "sold 1,735" in _text(app, "#sales-figures")


async def test_another_backend_error_is_shown_as_itself() -> None:
    async def fetch() -> Snapshot:
        raise EventNotFound("no event has the code VL9IHU")

    app = MonitorApp(fetch, interval=60, first=BUSY)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("r")
        for _ in range(100):
            if app.problem:
                break
            await pilot.pause(0.02)
        assert app.problem == "no event has the code VL9IHU; retrying every 60 s"


async def test_a_driver_error_nobody_translated_is_a_banner_too() -> None:
    async def fetch() -> Snapshot:
        raise OSError("network is unreachable")

    app = MonitorApp(fetch, interval=60, first=BUSY)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("r")
        for _ in range(100):
            if app.problem:
                break
            await pilot.pause(0.02)
        assert app.problem == "refresh failed (OSError: network is unreachable); retrying every 60 s"


async def test_user_text_is_shown_literally_and_without_control_characters() -> None:
    hostile = replace(
        BUSY,
        event_name="[bold red]Fake[/] \x1b[2J",
        devices=(replace(BUSY.devices[0], name="G[X]\x07"),),
    )
    app = steady(hostile)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        assert "[bold red]Fake[/] \\x1b[2J" in _text(app, "#title")
        assert "G[X]\\x07" in _text(app, "#devices-text")


async def test_q_quits() -> None:
    app = steady(BUSY)
    async with app.run_test() as pilot:
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0


async def test_an_unexpected_failure_is_shown_and_refreshing_goes_on() -> None:
    calls = 0

    async def fetch() -> Snapshot:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise OSError("network is unreachable")
        return BUSY

    app = MonitorApp(fetch, interval=0.1)
    async with app.run_test(size=(100, 30)) as pilot:
        for _ in range(200):
            if app.refreshes:
                break
            await pilot.pause(0.02)
        assert calls >= 2 and app.refreshes >= 1 and app.problem is None
