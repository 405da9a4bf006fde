"""The gate app driven by Textual's pilot over real key files, a real SQLite store and real video."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from scanner.capture import open_source
from scanner.paths import keys_dir, settings_path
from scanner.settings import GateSettings, load_settings
from scanner.sound import ADMIT_PATTERN, REJECT_PATTERN
from scanner.tui.screens.confirm_quit import ConfirmQuitScreen
from scanner.tui.screens.help import HelpScreen
from scanner.tui.screens.lookup import LookupScreen
from scanner.tui.screens.manual_entry import ManualEntryScreen
from scanner.tui.widgets.recent_scans import RecentScans
from scanner.tui.widgets.status_line import StatusLine
from scanner.tui.widgets.verdict_panel import VerdictPanel
from scanner.verdicts import Direction, KnownTicket, Verdict
from tests.tui.gatekit import (
    EVENT,
    code,
    forged,
    make_harness,
    make_home,
    screen_text,
    wait_for,
    wait_painted,
    write_ticket_video,
)

pytestmark = pytest.mark.anyio


def panel(harness):  # type: ignore[no-untyped-def]
    return harness.app.gate_screen.query_one(VerdictPanel).view


async def test_handheld_scanner_code_admits_and_updates_counters(tmp_path: Path) -> None:
    harness = make_harness(make_home(tmp_path))
    async with harness.app.run_test(size=(80, 24)) as pilot:
        # As a keyboard-wedge scanner types it: the code and Enter, with no field clicked first.
        await pilot.press(*code(7), "enter")
        [result] = await wait_painted(harness, 1)
        assert result.verdict is Verdict.ADMIT and result.source == "wedge"
        view = panel(harness)
        assert (view.word, view.style, view.serial) == ("ADMIT", "-admit", "007")
        counters = harness.app.figures.counters
        assert (counters.admitted, counters.rejected, counters.inside) == (1, 0, 1)
        await wait_for(lambda: "1 to upload" in screen_text(harness.app), what="the figures painted")
        shown = screen_text(harness.app)
        assert re.search(r"admitted +1 ", shown) and re.search(r"rejected +0 ", shown)
        assert re.search(r"inside now +1 ", shown)
        assert "ENTRY" in shown and "Gate B" in shown and "1 to upload" in shown
        recent = harness.app.gate_screen.query_one(RecentScans).scans
        assert [s.serial for s in recent] == [7]


async def test_scanner_ending_codes_with_tab_or_line_feed_is_understood(tmp_path: Path) -> None:
    harness = make_harness(make_home(tmp_path))
    async with harness.app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*code(21), "tab")
        await pilot.press(*code(22), "ctrl+j")
        results = await wait_painted(harness, 2)
        assert [(r.serial, r.verdict) for r in results] == [(21, Verdict.ADMIT), (22, Verdict.ADMIT)]


async def test_same_code_again_is_already_used_with_first_admission_time(tmp_path: Path) -> None:
    harness = make_harness(make_home(tmp_path), gate_name="Gate B")
    async with harness.app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*code(7), "enter")
        await wait_painted(harness, 1)
        await pilot.press(*code(7), "enter")
        results = await wait_painted(harness, 2)
        assert [r.verdict for r in results] == [Verdict.ADMIT, Verdict.ALREADY_USED]
        view = panel(harness)
        assert view.word == "ALREADY USED" and view.style == "-used"
        # The first scan happened at the stepping clock's start, 19:42:07 UTC, at this gate.
        assert view.reason == "first admitted 19:42:07 at Gate B"
        counters = harness.app.figures.counters
        assert (counters.admitted, counters.rejected, counters.inside) == (1, 1, 1)


async def test_forged_code_is_invalid_and_counted_as_rejected(tmp_path: Path) -> None:
    harness = make_harness(make_home(tmp_path))
    async with harness.app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*forged(9), "enter")
        [result] = await wait_painted(harness, 1)
        assert result.verdict is Verdict.INVALID
        assert (panel(harness).word, panel(harness).style) == ("INVALID", "-reject")
        assert "signature" in panel(harness).reason
        counters = harness.app.figures.counters
        assert (counters.admitted, counters.rejected, counters.inside) == (0, 1, 0)


async def test_exit_mode_records_exit_then_entry_mode_readmits(tmp_path: Path) -> None:
    harness = make_harness(make_home(tmp_path))
    async with harness.app.run_test(size=(80, 24)) as pilot:
        status = harness.app.gate_screen.query_one(StatusLine)
        await pilot.press(*code(3), "enter")
        await wait_painted(harness, 1)
        assert harness.app.figures.counters.inside == 1

        await pilot.press("f3")
        assert status.status.exit_mode is True
        await pilot.press(*code(3), "enter")
        results = await wait_painted(harness, 2)
        assert (results[1].verdict, results[1].direction) == (Verdict.ADMIT, Direction.OUT)
        assert panel(harness).word == "EXIT"
        await wait_for(lambda: harness.app.figures.counters.inside == 0, what="inside back to 0")

        await pilot.press("f3")
        assert status.status.exit_mode is False
        await pilot.press(*code(3), "enter")
        results = await wait_painted(harness, 3)
        assert (results[2].verdict, results[2].direction) == (Verdict.ADMIT, Direction.IN)
        assert "re-entry" in results[2].reason
        await wait_for(lambda: harness.app.figures.counters.inside == 1, what="inside 1 again")


async def test_manual_entry_accepts_a_code_typed_in_upper_case(tmp_path: Path) -> None:
    harness = make_harness(make_home(tmp_path))
    async with harness.app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f2")
        assert isinstance(harness.app.screen, ManualEntryScreen)
        await pilot.press(*f"  {code(12).upper()} ", "enter")
        [result] = await wait_painted(harness, 1)
        assert result.verdict is Verdict.ADMIT and result.source == "manual" and result.serial == 12
        assert harness.app.screen is harness.app.gate_screen


async def test_video_source_with_three_tickets_gives_three_verdicts_in_order(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    video = write_ticket_video(tmp_path / "gate.avi", [code(1), forged(2), code(3)])
    harness = make_harness(home, open_frames=lambda: open_source(path=video, realtime=False))
    async with harness.app.run_test(size=(80, 24)):
        results = await wait_painted(harness, 3, timeout=30)
        await wait_for(lambda: harness.app.gate_screen.query_one(StatusLine).status.camera == "ended")
        assert [(r.serial, r.verdict) for r in results] == [
            (1, Verdict.ADMIT),
            (2, Verdict.INVALID),
            (3, Verdict.ADMIT),
        ]
        assert all(r.source == "camera" for r in results)
        assert len(harness.painted) == 3  # each ticket held up for a second is still one scan


async def test_failing_source_shows_camera_error_while_handheld_still_admits(tmp_path: Path) -> None:
    missing = tmp_path / "unplugged.avi"
    harness = make_harness(make_home(tmp_path), open_frames=lambda: open_source(path=missing))
    async with harness.app.run_test(size=(80, 24)) as pilot:
        status = harness.app.gate_screen.query_one(StatusLine)
        await wait_for(lambda: status.status.camera == "no camera", what="camera error state")
        assert "camera" in harness.app.problems
        assert "unplugged.avi" in harness.app.problems["camera"]
        assert "no camera" in panel(harness).detail  # the ready panel says what to do instead
        # the notice is painted on the next refresh after the state change: wait for the screen itself
        # (compared without white space: the path's length decides where the line wraps)
        await wait_for(
            lambda: "unplugged.avi:nosuchvideofile" in "".join(screen_text(harness.app).split()),
            what="the camera problem on screen",
        )
        await pilot.press(*code(5), "enter")
        [result] = await wait_painted(harness, 1)
        assert result.verdict is Verdict.ADMIT
        assert "camera" in harness.app.problems  # still visible after the scan


async def test_camera_plugged_in_later_is_retried_and_its_scans_admit(tmp_path: Path) -> None:
    video = tmp_path / "camera.avi"  # appears only after the app has reported it missing
    harness = make_harness(
        make_home(tmp_path), open_frames=lambda: open_source(path=video, realtime=False), retry_forever=True
    )
    async with harness.app.run_test(size=(80, 24)):
        status = harness.app.gate_screen.query_one(StatusLine)
        await wait_for(lambda: status.status.camera == "no camera", what="camera missing")
        write_ticket_video(tmp_path / "partial.avi", [code(30)]).rename(video)
        [result] = await wait_painted(harness, 1, timeout=20)
        assert (result.serial, result.verdict, result.source) == (30, Verdict.ADMIT, "camera")
        await wait_for(lambda: status.status.camera == "ended", what="the video to end")
        assert "no camera" not in harness.app.problems.get("camera", "")


async def test_store_failure_shows_not_recorded_and_never_a_verdict(tmp_path: Path) -> None:
    harness = make_harness(make_home(tmp_path))
    async with harness.app.run_test(size=(80, 24)) as pilot:
        await wait_for(lambda: harness.app.figures is not None, what="start-up figures")
        harness.gate.store.close()  # the store is gone (as if its disk failed)
        await pilot.press(*code(8), "enter")
        await wait_for(lambda: panel(harness).style == "-error", what="NOT RECORDED panel")
        assert panel(harness).word == "NOT RECORDED"
        assert harness.painted == []
        assert "store" in harness.app.problems
        # Reading the figures fails too: the worker's failure lands in the app's one handler.
        harness.app.problems.pop("store")
        harness.app.load_figures()
        await wait_for(lambda: "store" in harness.app.problems, what="store problem from the worker")
        assert "cannot read the store" in harness.app.problems["store"]
        # The app is still alive and answers keys.
        await pilot.press("f1")
        assert isinstance(harness.app.screen, HelpScreen)


async def test_an_unforeseen_failure_while_recording_shows_not_recorded_and_later_scans_still_work(
    tmp_path: Path,
) -> None:
    harness = make_harness(make_home(tmp_path))
    async with harness.app.run_test(size=(80, 24)) as pilot:
        await wait_for(lambda: harness.app.figures is not None, what="start-up figures")
        # A gate name SQLite cannot store (as a settings file could once give): recording raises
        # UnicodeEncodeError, not a StoreError. The scan used to vanish with no verdict and no warning.
        harness.gate.gate_name = "Gate \ud800"
        await pilot.press(*code(8), "enter")
        await wait_for(lambda: panel(harness).style == "-error", what="NOT RECORDED panel")
        assert panel(harness).word == "NOT RECORDED" and harness.painted == []
        harness.gate.gate_name = "Gate B"
        await pilot.press(*code(8), "enter")
        [result] = await wait_painted(harness, 1)
        assert result.verdict is Verdict.ADMIT  # the failed scan recorded nothing


async def test_corrupt_key_file_is_shown_and_good_key_still_admits(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    (keys_dir(home) / "VL9IHU.v2.json").write_text("{not json", encoding="utf-8")
    harness = make_harness(home)
    async with harness.app.run_test(size=(80, 24)) as pilot:
        await wait_for(lambda: "keys" in harness.app.problems, what="key problem notice")
        assert "VL9IHU.v2.json" in harness.app.problems["keys"]
        await pilot.press(*code(2), "enter")
        [result] = await wait_painted(harness, 1)
        assert result.verdict is Verdict.ADMIT


async def test_verdict_sounds_differ_and_sound_off_is_persisted(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    harness = make_harness(home)
    async with harness.app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*code(1), "enter")
        await wait_painted(harness, 1)
        await wait_for(lambda: len(harness.rings) == len(ADMIT_PATTERN), what="admit ring")
        await pilot.press(*forged(1), "enter")
        await wait_painted(harness, 2)
        total = len(ADMIT_PATTERN) + len(REJECT_PATTERN)
        await wait_for(lambda: len(harness.rings) == total, what="reject rings")

        await pilot.press("f5")
        assert harness.app.gate_screen.query_one(StatusLine).status.sound is False
        await wait_for(lambda: settings_path(home).exists(), what="settings saved")
        assert load_settings(settings_path(home)).sound is False
        await pilot.press(*code(2), "enter")
        await wait_painted(harness, 3)
        await pilot.pause(0.3)
        assert len(harness.rings) == total


async def test_verdict_returns_to_ready_after_a_few_seconds(tmp_path: Path) -> None:
    harness = make_harness(make_home(tmp_path), verdict_seconds=0.3)
    async with harness.app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*code(4), "enter")
        await wait_painted(harness, 1)
        assert panel(harness).word == "ADMIT"
        await wait_for(lambda: panel(harness).word == "READY", timeout=5, what="back to READY")
        assert panel(harness).serial != "004"


async def test_quit_asks_for_confirmation(tmp_path: Path) -> None:
    harness = make_harness(make_home(tmp_path))
    async with harness.app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+q")
        assert isinstance(harness.app.screen, ConfirmQuitScreen)
        await pilot.press("n")
        assert harness.app.screen is harness.app.gate_screen
        assert harness.app.is_running
        await pilot.press("ctrl+q")
        await pilot.press("y")
        await wait_for(lambda: not harness.app.is_running, what="the app to exit")
    assert harness.app.return_code == 0


async def test_lookup_finds_ticket_by_holder_and_shows_its_history(tmp_path: Path) -> None:
    harness = make_harness(make_home(tmp_path))
    harness.gate.store.upsert_tickets(
        [KnownTicket(EVENT, 6, holder="Grace Hopper"), KnownTicket(EVENT, 7, holder="Alan Turing")]
    )
    async with harness.app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*code(6), "enter")
        await wait_painted(harness, 1)
        await pilot.press(*code(6), "enter")
        await wait_painted(harness, 2)

        await pilot.press("f4")
        screen = harness.app.screen
        assert isinstance(screen, LookupScreen)
        await pilot.press(*"grace", "enter")
        results = screen.query_one("#lookup-results")
        await wait_for(lambda: results.row_count == 1, what="one ticket found")
        assert [str(cell) for cell in results.get_row_at(0)[:3]] == [EVENT, "006", "Grace Hopper"]
        await pilot.press("enter")  # the found ticket is focused: Enter opens its history
        history = screen.query_one("#lookup-history")
        await wait_for(lambda: history.row_count == 2, what="two scans in the history")
        assert [history.get_row_at(i)[1] for i in range(2)] == ["ADMIT", "ALREADY_USED"]
        await pilot.press("escape")
        assert harness.app.screen is harness.app.gate_screen


async def test_settings_dialog_renames_gate_now_and_persists(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    harness = make_harness(home, settings=GateSettings(gate_name="Gate B", event=EVENT))
    async with harness.app.run_test(size=(100, 40)) as pilot:
        await pilot.press("f6")
        dialog = harness.app.screen
        dialog.query_one("#event").value = "not an event[/]!"  # brackets: quoted as typed, not markup
        await pilot.click("#save")
        assert harness.app.screen is dialog  # refused, with the reason shown
        assert "'NOT AN EVENT[/]!' is not an event code" in str(dialog.query_one("#settings-error").render())
        await pilot.pause(0.3)  # a Button ignores clicks during its 0.2 s pressed effect
        dialog.query_one("#event").value = EVENT.lower()
        dialog.query_one("#gate-name").value = "  North   Gate "
        await pilot.click("#save")
        await wait_for(lambda: settings_path(home).exists(), what="settings saved")
        assert harness.app.gate_screen.query_one(StatusLine).status.gate == "North Gate"
        assert json.loads(settings_path(home).read_text())["gate_name"] == "North Gate"
        await pilot.press(*code(1), "enter")
        [result] = await wait_painted(harness, 1)
        assert result.gate == "North Gate"


async def test_a_scan_while_the_lookup_covers_the_gate_screen_is_shown_on_top(tmp_path: Path) -> None:
    harness = make_harness(make_home(tmp_path), verdict_seconds=4.0)
    async with harness.app.run_test(size=(80, 24), notifications=True) as pilot:
        await pilot.press("f4")
        assert isinstance(harness.app.screen, LookupScreen)
        # The camera keeps scanning while staff look a ticket up.
        harness.app.submit(code(3), source="camera")
        await wait_painted(harness, 1)
        await wait_for(lambda: "ADMIT" in screen_text(harness.app), what="the verdict over the look-up")
        shown = screen_text(harness.app)
        assert "003 admitted" in shown
        harness.app.submit(code(3), source="camera")
        await wait_painted(harness, 2)
        await wait_for(lambda: "ALREADY USED" in screen_text(harness.app), what="the second verdict")
        assert isinstance(harness.app.screen, LookupScreen)  # the look-up itself stays open


async def test_scanned_text_that_looks_like_markup_is_shown_as_text_not_a_crash(tmp_path: Path) -> None:
    harness = make_harness(make_home(tmp_path))
    harness.gate.store.upsert_tickets([KnownTicket(EVENT, 8, holder="[/] Ada [bold")])
    async with harness.app.run_test(size=(80, 24)) as pilot:
        # A QR code of another system, as the camera reads it: Textual markup would raise MarkupError.
        harness.app.submit(b"[/]menu[/bold]", source="camera")
        [result] = await wait_painted(harness, 1)
        assert result.verdict is Verdict.INVALID
        assert panel(harness).detail.startswith("[/]menu[/bold] · camera")
        assert "[/]menu[/bold]" in screen_text(harness.app)
        await pilot.press(*"[/]x")  # a handheld scanner typing the same: echoed as typed
        assert "typed: [/]x" in screen_text(harness.app)
        await pilot.press("escape", "f4")
        await pilot.press(*"[/b]", "enter")  # a look-up for it, then for a holder whose name has brackets
        title = harness.app.screen.query_one("#lookup-history-title")
        await wait_for(lambda: "[/b]" in screen_text(harness.app), what="the look-up's answer")
        await pilot.press("ctrl+a", "ctrl+k", *"ada", "enter")
        results = harness.app.screen.query_one("#lookup-results")
        await wait_for(lambda: results.row_count == 1, what="the holder found")
        assert "[/] Ada [bold" in screen_text(harness.app) and "1 ticket(s)" in str(title.render())
        assert harness.app.is_running
