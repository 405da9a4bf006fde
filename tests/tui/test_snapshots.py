"""Snapshots of what gate staff see: ready, each verdict, a camera error — at 80x24 and 160x48.

Everything that would change between runs is frozen: the gate's clock (a stepping clock from 19:42:07
UTC), the display time zone (UTC), the gate name, the keys (fixed secrets) and the camera path.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from scanner.capture import open_source
from scanner.tui.widgets.status_line import StatusLine
from scanner.verdicts import Verdict
from tests.tui.gatekit import (
    EVENT,
    OTHER_KEY,
    Harness,
    code,
    forged,
    make_harness,
    make_home,
    wait_for,
    wait_painted,
)
from ticketcode import derive_event_key, issue_code

SIZES = [(80, 24), (160, 48)]
NO_KEY_EVENT = "NOKEY24"
NO_KEY_CODE = issue_code(derive_event_key(b"a key this gate never received", NO_KEY_EVENT), 31)
MISSING_CAMERA = Path("/nonexistent/gate-camera.avi")


def _scans(*codes: str) -> Callable[[Harness], list[str]]:
    return lambda _harness: list(codes)


def _revoked(harness: Harness) -> list[str]:
    harness.gate.store.revoke(EVENT, 4, reason="order refunded")
    return [code(4)]


# state -> (how to build the harness, what to scan, the verdict expected last)
STATES: dict[str, tuple[dict[str, Any], Callable[[Harness], list[str]], Verdict | None]] = {
    "ready": ({}, _scans(), None),
    "admit": ({}, _scans(code(7)), Verdict.ADMIT),
    "already_used": ({}, _scans(code(7), code(7)), Verdict.ALREADY_USED),
    "invalid": ({}, _scans(forged(9)), Verdict.INVALID),
    "revoked": ({}, _revoked, Verdict.REVOKED),
    "wrong_event": ({}, _scans(code(1, OTHER_KEY)), Verdict.WRONG_EVENT),
    "unknown_key": ({"event": NO_KEY_EVENT, "with_key": False}, _scans(NO_KEY_CODE), Verdict.UNKNOWN_KEY),
    "camera_error": ({"camera": MISSING_CAMERA}, _scans(), None),
}


def _harness(tmp_path: Path, options: dict[str, Any]) -> Harness:
    home = make_home(tmp_path, with_key=options.get("with_key", True))
    camera = options.get("camera")
    return make_harness(
        home,
        event=options.get("event", EVENT),
        open_frames=(lambda: open_source(path=camera)) if camera else None,
    )


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("state", list(STATES))
def test_gate_screen_snapshot(snap_compare: Any, tmp_path: Path, state: str, size: tuple[int, int]) -> None:
    options, scans_for, expected = STATES[state]
    harness = _harness(tmp_path, options)
    codes = scans_for(harness)

    async def run_before(pilot: Pilot[Any]) -> None:
        app = harness.app
        await wait_for(lambda: app.figures is not None, what="start-up figures")
        for text in codes:
            # Submitted one by one, as scans arrive at a gate; typing is covered by test_gate_app.
            count = len(harness.painted)
            app.submit(text, source="wedge")
            await wait_painted(harness, count + 1)
        if expected is not None:
            assert harness.painted[-1].verdict is expected
        if "camera" in options:
            status = app.gate_screen.query_one(StatusLine)
            await wait_for(lambda: status.status.camera == "no camera", what="camera error")
        await pilot.pause()

    assert snap_compare(harness.app, terminal_size=size, run_before=run_before)
