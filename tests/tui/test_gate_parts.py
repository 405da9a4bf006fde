"""The gate app's plain parts: persisted settings, verdict sounds, the wedge buffer, the big text and
what each verdict looks like — no running app needed."""

from __future__ import annotations

import argparse
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from scanner.settings import GateSettings, SettingsError, load_settings, save_settings
from scanner.sound import (
    ADMIT_PATTERN,
    ALREADY_USED_PATTERN,
    ERROR_PATTERN,
    REJECT_PATTERN,
    UNKNOWN_KEY_PATTERN,
    VerdictSounder,
    pattern_for,
)
from scanner.tui.launch import settings_for_run
from scanner.tui.presentation import verdict_view
from scanner.tui.wedge import WedgeBuffer
from scanner.tui.widgets.big_word import box_rows, drawn_rows
from scanner.verdicts import Direction, ScanResult, Verdict


def test_settings_survive_a_restart_and_are_written_atomically(tmp_path: Path) -> None:
    path = tmp_path / "var" / "settings.json"
    assert load_settings(path) == GateSettings()  # no file yet: defaults
    wanted = GateSettings(gate_name="North Gate", event="VL9IHU", sound=False, camera="/dev/video2")
    save_settings(path, wanted)
    assert load_settings(path) == wanted
    # Nothing but the settings file is left behind (the temporary file was renamed over it).
    assert [p.name for p in path.parent.iterdir()] == ["settings.json"]


def test_a_corrupt_settings_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text("{ half a file", encoding="utf-8")
    with pytest.raises(SettingsError, match="not valid JSON"):
        load_settings(path)
    path.write_text("[" * 30_000, encoding="utf-8")
    with pytest.raises(SettingsError, match="not valid JSON: nested too deeply"):
        load_settings(path)
    path.write_text(json.dumps({"sound": "loud"}), encoding="utf-8")
    with pytest.raises(SettingsError, match="'sound' must be true or false"):
        load_settings(path)
    # Values the gate would refuse at start: refused here, so `ticketgate scan` starts on defaults
    # and shows why, instead of exiting with an error about an --event flag nobody gave.
    for bad, message in (
        ({"gate_name": " "}, "'gate_name': the gate name must be 1 to 40"),
        ({"event": "x"}, "'event' 'x'"),
    ):
        path.write_text(json.dumps(bad), encoding="utf-8")
        with pytest.raises(SettingsError, match=message):
            load_settings(path)
    path.write_text(json.dumps({"gate_name": " North  Gate ", "event": "vl9ihu"}), encoding="utf-8")
    assert load_settings(path) == GateSettings(gate_name=" North  Gate ", event="vl9ihu")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        # A lone surrogate passed validation, then no scan could be stored and none was shown.
        (b'{"gate_name": "Gate \\ud800"}', "'gate_name': the gate name must be printable text"),
        (b'{"gate_name": "Gate \\u001b[2J"}', "'gate_name': the gate name must be printable text"),
        (b'{"gate_name": "Gate \\u0000"}', "'gate_name': the gate name must be printable text"),
        (b'{"gate_name": "Gate \xff\xfe"}', "is not UTF-8 text"),  # crashed `ticketgate scan`
        (b"\xff\xfe{\x00}", "is not UTF-8 text"),
        (b"{}" + b" " * 70_000, "too large to be a settings file"),
        (b"", "not valid JSON"),
    ],
)
def test_settings_the_gate_could_not_use_are_refused_with_the_reason(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "settings.json"
    path.write_bytes(content)
    with pytest.raises(SettingsError, match=re.escape(message)):
        load_settings(path)


def test_a_settings_file_replaced_by_an_endless_device_is_refused_not_read_forever(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.symlink_to("/dev/zero")
    with pytest.raises(SettingsError, match="too large to be a settings file"):
        load_settings(path)


def test_settings_from_a_newer_version_are_ignored_not_refused(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"gate_name": "Gate C", "theme": "dark"}), encoding="utf-8")
    assert load_settings(path) == GateSettings(gate_name="Gate C")


def test_saving_where_no_folder_can_be_made_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "var"
    blocker.write_text("a file where the data folder's var/ should be", encoding="utf-8")
    with pytest.raises(SettingsError, match="cannot save settings"):
        save_settings(blocker / "settings.json", GateSettings())


def test_flags_override_stored_settings_and_camera_replaces_source() -> None:
    stored = GateSettings(gate_name="Gate A", event="VL9IHU", sound=True, source="/data/demo")
    args = argparse.Namespace(gate="Gate B", event=None, no_sound=True, camera="1", source=None)
    assert settings_for_run(stored, args) == GateSettings(
        gate_name="Gate B", event="VL9IHU", sound=False, camera="1", source=None
    )
    args = argparse.Namespace(gate=None, event=None, no_sound=False, camera=None, source=None)
    assert settings_for_run(stored, args) == stored


def test_each_kind_of_verdict_has_its_own_bell_pattern() -> None:
    patterns = {
        Verdict.ADMIT: ADMIT_PATTERN,
        Verdict.ALREADY_USED: ALREADY_USED_PATTERN,
        Verdict.INVALID: REJECT_PATTERN,
        Verdict.REVOKED: REJECT_PATTERN,
        Verdict.WRONG_EVENT: REJECT_PATTERN,
        Verdict.UNKNOWN_KEY: UNKNOWN_KEY_PATTERN,
    }
    for verdict, pattern in patterns.items():
        assert pattern_for(verdict) == pattern
    kinds = {ADMIT_PATTERN, ALREADY_USED_PATTERN, REJECT_PATTERN, UNKNOWN_KEY_PATTERN, ERROR_PATTERN}
    assert len(kinds) == 5  # staff can tell every kind apart by ear
    assert pattern_for(None) == ERROR_PATTERN  # a scan that was not recorded
    assert pattern_for("SOMETHING_NEW") != ADMIT_PATTERN  # an unknown verdict never sounds like ADMIT


def test_sounder_rings_now_and_schedules_the_rest_and_is_silent_when_off() -> None:
    rings: list[str] = []
    scheduled: list[float] = []

    def schedule(delay: float, ring: object) -> None:
        scheduled.append(delay)

    sounder = VerdictSounder(ring=lambda: rings.append("ring"), schedule=schedule)
    assert sounder.play(Verdict.INVALID) == REJECT_PATTERN
    assert rings == ["ring"] and scheduled == list(REJECT_PATTERN[1:])
    sounder.enabled = False
    assert sounder.play(Verdict.ADMIT) == ()
    assert rings == ["ring"]


def test_wedge_buffer_collects_a_burst_and_drops_stale_keys() -> None:
    wedge = WedgeBuffer(gap_seconds=1.0)
    wedge.feed("x", 0.0)  # a knocked key...
    for i, char in enumerate("VL9IHU-001-aaaaaaaa"):
        wedge.feed(char, 5.0 + i * 0.005)  # ...then a scanner's burst, seconds later
    assert wedge.take() == "VL9IHU-001-aaaaaaaa"
    assert wedge.take() == ""
    wedge.feed("a", 10.0)
    wedge.feed("b", 10.1)
    wedge.backspace()
    assert wedge.text == "a"


def test_big_text_fits_its_box_or_falls_back() -> None:
    rows = box_rows("ADMIT")
    assert rows is not None and len(rows) == 3 and len(rows[0]) == 5 * 4 - 1
    assert box_rows("ÄDMIT") is None  # no glyph: the widget shows plain capitals instead
    drawn = drawn_rows("ADMIT", 80, 11)
    assert drawn is not None and len(drawn) <= 11 and max(len(r) for r in drawn) <= 80
    assert drawn_rows("ALREADY USED", 30, 11) is None  # too narrow to be legible: not drawn


def _result(verdict: Verdict, **extra: object) -> ScanResult:
    fields: dict[str, object] = {
        "scan_id": 1,
        "verdict": verdict,
        "direction": Direction.IN,
        "raw": "VL9IHU-042-0badc0de",
        "code": "VL9IHU-042-0badc0de",
        "event": "VL9IHU",
        "serial": 42,
        "reason": "as the gate said",
        "scanned_at": datetime(2026, 6, 20, 19, 50, tzinfo=UTC),
        "gate": "Gate A",
        "source": "camera",
    }
    fields.update(extra)
    return ScanResult(**fields)  # type: ignore[arg-type]


def test_verdict_views_name_the_colour_word_and_reason_staff_act_on() -> None:
    used = _result(
        Verdict.ALREADY_USED,
        first_admitted_at=datetime(2026, 6, 20, 19, 42, 7, tzinfo=UTC),
        first_admitted_gate="Gate B",
    )
    view = verdict_view(used, UTC)
    assert (view.word, view.style, view.serial) == ("ALREADY USED", "-used", "042")
    assert view.reason == "first admitted 19:42:07 at Gate B"
    assert verdict_view(_result(Verdict.ADMIT), UTC).style == "-admit"
    assert verdict_view(_result(Verdict.ADMIT, direction=Direction.OUT), UTC).word == "EXIT"
    for verdict in (Verdict.INVALID, Verdict.REVOKED, Verdict.WRONG_EVENT):
        assert verdict_view(_result(verdict), UTC).style == "-reject"
    unknown = verdict_view(_result(Verdict.UNKNOWN_KEY), UTC)
    assert (unknown.style, unknown.reason) == ("-unknown", "no key for VL9IHU — sync or import a key")
    not_inside = verdict_view(_result(Verdict.NOT_INSIDE, direction=Direction.OUT), UTC)
    assert (not_inside.word, not_inside.style) == ("NOT INSIDE", "-used")  # never the green of ADMIT
    garbage = verdict_view(_result(Verdict.INVALID, code=None, serial=None, raw="hello"), UTC)
    assert garbage.serial == "" and garbage.detail.startswith("hello")
