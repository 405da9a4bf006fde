"""Snapshots of the organiser's dashboard: a busy evening, the same with the database cut off, and an
event with nothing yet — at 80x24 and 160x48. The snapshot is fixed (``monitor_kit``), the time zone
UTC, so nothing changes between runs."""

from __future__ import annotations

from typing import Any

import pytest
from textual.pilot import Pilot

from monitor.app import MonitorApp
from tests.tui.monitor_kit import BUSY, EMPTY, cut_off, steady
from tests.tui.test_snapshots import SIZES

STATES = {
    "busy": lambda: steady(BUSY),
    "outage": lambda: cut_off(BUSY),
    "empty": lambda: steady(EMPTY),
}


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("state", list(STATES))
def test_monitor_snapshot(snap_compare: Any, state: str, size: tuple[int, int]) -> None:
    app: MonitorApp = STATES[state]()

    async def run_before(pilot: Pilot[Any]) -> None:
        if state == "outage":
            await pilot.press("r")
            await pilot.wait_for_scheduled_animations()
            for _ in range(100):
                if app.problem is not None:
                    break
                await pilot.pause(0.02)
            assert app.problem is not None
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)
