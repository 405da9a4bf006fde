"""What the gate app shows about sync, from the state a real store holds (no server needed here; the
rounds themselves are in tests/integration/test_sync_gates.py): online / offline since when, conflicts,
a clock far off, a revoked device; and a scanned pairing text that is never a ticket scan."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable

from scanner.errors import DeviceRevoked
from scanner.sync.background import SyncOutcome
from scanner.sync.credentials import DeviceCredentials, save_credentials
from scanner.sync.round import RoundReport
from scanner.tui.messages import SyncFinished
from scanner.tui.screens.lookup import LookupScreen
from scanner.tui.screens.pair import PairScreen
from scanner.tui.widgets.status_line import StatusLine
from tests.tui.gatekit import EVENT, code, make_harness, make_home, screen_text, wait_for, wait_painted
from ticketcode.sync_protocol import ConflictChange, MovementChange, TicketChange

pytestmark = pytest.mark.anyio
SINCE = datetime(2026, 6, 20, 19, 40, tzinfo=UTC)
PAIRING = "ticketgate-pair:1:K7QX-M2PA-9TRD:http://127.0.0.1:9"


def pair_files(home: Path) -> None:
    """A data folder as ``ticketgate pair`` leaves it (the server is never called in these tests)."""
    save_credentials(
        home,
        DeviceCredentials(
            server_url="http://127.0.0.1:9",
            device_id="3f0c8a52-6d1e-4c11-9a5e-2b7f1e0d9c41",
            device_name="Gate B",
            token="not-a-real-token",
            event=EVENT,
            event_name="Vienna Live",
            paired_at=SINCE,
        ),
    )


def conflict(serial: int) -> ConflictChange:
    return ConflictChange(
        id=f"k{serial}",
        serial=serial,
        scans=("3f0c8a52-6d1e-4c11-9a5e-2b7f1e0d9c41/4", "0d1c2b3a-6d1e-4c11-9a5e-2b7f1e0d9c41/2"),
        gates=("Gate B", "Gate A"),
        at=(SINCE, SINCE + timedelta(seconds=30)),
    )


async def test_a_paired_gate_offline_shows_since_when_with_conflicts_and_a_clock_warning(
    tmp_path: Path,
) -> None:
    home = make_home(tmp_path)
    pair_files(home)
    harness = make_harness(home)
    store = harness.gate.store
    store.record_sync("online", at=SINCE - timedelta(minutes=5), clock_offset_ms=45_000)
    store.record_sync("offline", at=SINCE, problem="cannot reach http://127.0.0.1:9: refused")
    store.apply_pulled(EVENT, [conflict(3), conflict(4)], cursor="c", clock_offset_ms=45_000)
    async with harness.app.run_test(size=(160, 48)):
        await wait_for(lambda: harness.app.figures is not None, what="figures")
        await wait_for(lambda: "2 conflicts" in screen_text(harness.app), what="the status line painted")
        shown = screen_text(harness.app)
        assert "OFFLINE since 19:40" in shown and "sync 19:35" in shown
        assert "2 conflicts" in shown and "clock 45 s slow" in shown
        # Offline is a normal state at a venue: no warning notice for it.
        assert "sync:" not in shown


async def test_a_revoked_device_is_a_red_notice_and_the_gate_keeps_scanning(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    pair_files(home)
    harness = make_harness(home)
    harness.gate.store.record_sync("refused", at=SINCE, problem="this device was revoked on the backend")
    async with harness.app.run_test(size=(100, 30)) as pilot:
        # What the worker posts after a round the server refused with 403 device_revoked.
        report = RoundReport(errors=[DeviceRevoked("this device was revoked on the backend")])
        harness.app.post_message(SyncFinished(SyncOutcome(paired=True, report=report)))
        line = harness.app.gate_screen.query_one(StatusLine)
        await wait_for(lambda: "sync" in harness.app.problems, what="the sync notice")
        await wait_for(lambda: line.status.link == "refused", what="the refused link")
        # The notice is painted on the refresh after the state change: wait for the screen itself.
        await wait_for(
            lambda: "this device was revoked" in screen_text(harness.app), what="the notice on screen"
        )
        assert "REFUSED BY SERVER" in screen_text(harness.app)
        await pilot.press(*code(5), "enter")
        [result] = await wait_painted(harness, 1)
        assert result.admitted


async def test_a_pairing_text_scanned_at_the_gate_screen_is_not_a_ticket_scan(tmp_path: Path) -> None:
    harness = make_harness(make_home(tmp_path))
    async with harness.app.run_test(size=(100, 30)) as pilot:
        await pilot.press(*PAIRING, "enter")
        await wait_for(lambda: bool(harness.app._notifications), what="the pairing hint")
        await pilot.pause(0.3)
        assert harness.painted == [] and harness.gate.store.recent_scans(5) == []
        [hint] = list(harness.app._notifications)
        assert "open F6 Settings → Pair" in hint.message


async def test_a_pairing_text_scanned_by_the_camera_fills_the_open_pair_dialog(tmp_path: Path) -> None:
    """The camera delivers through ``submit`` like any scan; with the pair dialog open it goes there
    (the server behind it is not running: the dialog then says the server cannot be reached)."""
    harness = make_harness(make_home(tmp_path))
    async with harness.app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f6")
        await pilot.click("#pair-open")
        await wait_for(lambda: isinstance(harness.app.screen, PairScreen), what="the pair dialog")
        harness.app.submit(PAIRING.encode(), source="camera")
        dialog = harness.app.screen
        await wait_for(
            lambda: "cannot reach" in screen_text(harness.app), what="the pairing failure", timeout=20
        )
        assert isinstance(dialog, PairScreen) and not dialog.busy
        assert harness.painted == [] and harness.gate.store.recent_scans(5) == []


@pytest.mark.parametrize("link", ["online", "offline"])
def test_paired_status_line_snapshot(snap_compare: Any, tmp_path: Path, link: str) -> None:
    home = make_home(tmp_path)
    pair_files(home)
    harness = make_harness(home)
    store = harness.gate.store
    store.record_sync("online", at=SINCE, clock_offset_ms=-62_000 if link == "offline" else 800)
    if link == "offline":
        store.record_sync("offline", at=SINCE + timedelta(minutes=3), problem="timed out")
        store.apply_pulled(EVENT, [conflict(3)], cursor="c", clock_offset_ms=0)

    async def run_before(pilot: Pilot[Any]) -> None:
        harness.app.submit(code(7), source="wedge")
        await wait_painted(harness, 1)
        await pilot.pause()

    assert snap_compare(harness.app, terminal_size=(80, 24), run_before=run_before)


async def test_lookup_history_shows_other_gates_movements_and_the_conflict_in_time_order(
    tmp_path: Path,
) -> None:
    harness = make_harness(make_home(tmp_path))
    store = harness.gate.store
    gate_a = "0d1c2b3a-6d1e-4c11-9a5e-2b7f1e0d9c41"
    store.apply_pulled(
        EVENT,
        [
            TicketChange(serial=3, code=code(3), status="valid", changed_at=SINCE),
            MovementChange(scan=f"{gate_a}/2", gate="Gate A", serial=3, direction="in", at=SINCE),
            conflict(3),
            MovementChange(
                scan=f"{gate_a}/3", gate="Gate A", serial=3, direction="out", at=SINCE + timedelta(minutes=1)
            ),
        ],
        cursor="c",
        clock_offset_ms=0,
    )
    async with harness.app.run_test(size=(120, 40)) as pilot:
        await pilot.press(*code(3), "enter")  # Gate B's own entry at 19:42:07, after Gate A's exit
        await wait_painted(harness, 1)
        await pilot.press("f4")
        screen = harness.app.screen
        assert isinstance(screen, LookupScreen)
        await pilot.press("3", "enter")
        results = screen.query_one("#lookup-results", DataTable)
        await wait_for(lambda: results.row_count == 1, what="the ticket found")
        await pilot.press("enter")
        history = screen.query_one("#lookup-history", DataTable)
        await wait_for(lambda: history.row_count == 4, what="four lines of history")
        rows = [[str(cell) for cell in history.get_row_at(i)] for i in range(4)]
        assert [(r[1], r[2], r[3]) for r in rows] == [
            ("ADMIT", "in", "Gate A"),
            ("CONFLICT", "in", "Gate B & Gate A"),
            ("ADMIT", "out", "Gate A"),
            ("ADMIT", "in", "Gate B"),
        ]
        assert "another gate" in rows[0][4] and "both scans stand" in rows[1][4]
        assert "CONFLICT" in str(screen.query_one("#lookup-history-title").render())
