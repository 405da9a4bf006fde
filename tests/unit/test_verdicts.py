"""The pure decision of a scan: check order, reasons, the re-entry policy, and properties over any input."""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import scanner.verdicts
from scanner.verdicts import (
    Authentic,
    Decision,
    Direction,
    Movement,
    Rejected,
    TicketState,
    Verdict,
    decide,
    decide_scan,
    printable,
    screen,
)
from ticketcode import derive_event_key, issue_code, parse_code

SECRET = b"unit-test-master-secret-32-bytes!"
KEY_V1 = derive_event_key(SECRET, "VL9IHU", 1)
KEY_V2 = derive_event_key(SECRET, "VL9IHU", 2)
OTHER_KEY = derive_event_key(SECRET, "OTHER1", 1)
NOW = datetime(2026, 6, 1, 19, 42, tzinfo=UTC)


def test_valid_code_screens_as_authentic_with_the_matching_key_version() -> None:
    result = screen(issue_code(KEY_V2, 7), gate_event="VL9IHU", keys=[KEY_V1, KEY_V2])
    assert isinstance(result, Authentic)
    assert (result.code.event, result.code.serial, result.key_version) == ("VL9IHU", 7, 2)


def test_code_signed_with_an_older_key_version_still_held_is_authentic() -> None:
    result = screen(issue_code(KEY_V1, 3), gate_event="VL9IHU", keys=[KEY_V1, KEY_V2])
    assert isinstance(result, Authentic) and result.key_version == 1


def test_parsing_ignores_case_and_surrounding_white_space() -> None:
    code = issue_code(KEY_V1, 12)
    result = screen(f"  \t{code.lower()}\r\n", gate_event="VL9IHU", keys=[KEY_V1])
    assert isinstance(result, Authentic) and str(result.code) == code


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty scan"),
        ("   ", "empty scan"),
        ("https://example.com/ticket?id=1", "not a ticket code (expected EVENT-SERIAL-TAG)"),
        ("x" * 10_000, "too long to be a ticket code (10000 characters)"),
        (b"\xff\xfe\x00binary", "not text (binary data)"),
        ("VL9IHU-000-12345678", "not a ticket code: serial 0 does not exist"),
    ],
)
def test_anything_that_is_not_a_code_is_invalid_with_a_short_reason(raw: str | bytes, reason: str) -> None:
    result = screen(raw, gate_event="VL9IHU", keys=[KEY_V1])
    assert result == Rejected(Verdict.INVALID, reason)


def test_check_order_event_before_signature_and_key() -> None:
    # Another event's code is WRONG_EVENT even though this gate holds no key for it and its tag is junk.
    result = screen("OTHER1-001-00000000", gate_event="VL9IHU", keys=[KEY_V1])
    assert isinstance(result, Rejected) and result.verdict is Verdict.WRONG_EVENT
    assert result.reason == "ticket for event OTHER1; this gate checks VL9IHU"


def test_no_key_held_for_the_gate_event_is_unknown_key_never_invalid() -> None:
    result = screen(issue_code(KEY_V1, 1), gate_event="VL9IHU", keys=[OTHER_KEY])
    assert isinstance(result, Rejected) and result.verdict is Verdict.UNKNOWN_KEY
    assert result.reason == "no key for VL9IHU — sync or import a key"


def test_tampered_serial_tampered_tag_and_foreign_key_are_invalid() -> None:
    good = issue_code(KEY_V1, 5)
    event, serial, tag = good.split("-")
    forged_with_other_key = (
        "VL9IHU-005-"
        + issue_code(derive_event_key(b"another-master-secret-of-32-bytes", "VL9IHU", 1), 5).split("-")[2]
    )
    flipped = tag[:-1] + ("0" if tag[-1] != "0" else "1")
    for raw in (f"{event}-006-{tag}", f"{event}-{serial}-{flipped}", forged_with_other_key):
        result = screen(raw, gate_event="VL9IHU", keys=[KEY_V1, KEY_V2])
        assert result == Rejected(
            Verdict.INVALID, "signature does not match: forged or mistyped", parse_code(raw)
        )


def _state(**kw: object) -> TicketState:
    return TicketState(**kw)  # type: ignore[arg-type]


CODE = parse_code(issue_code(KEY_V1, 9))
EARLIER = NOW - timedelta(minutes=30)


def test_first_entry_admits_and_records_an_entry() -> None:
    d = decide(CODE, TicketState(), direction=Direction.IN, now=NOW, tz=UTC)
    assert (d.verdict, d.reason, d.movement) == (Verdict.ADMIT, "admitted", Movement.ENTRY)


def test_second_entry_is_already_used_naming_first_admission_time_and_gate() -> None:
    state = _state(
        first_admitted_at=EARLIER, first_admitted_gate="Gate B", inside=True,
        last_moved_at=EARLIER, last_moved_gate="Gate B", entries=1,
    )  # fmt: skip
    d = decide(CODE, state, direction=Direction.IN, now=NOW, tz=UTC)
    assert d.verdict is Verdict.ALREADY_USED and d.movement is Movement.NONE
    assert d.reason == "already used 19:12 at Gate B"
    assert (d.first_admitted_at, d.first_admitted_gate) == (EARLIER, "Gate B")


def test_already_used_on_another_day_names_the_date() -> None:
    yesterday = NOW - timedelta(days=1)
    state = _state(
        first_admitted_at=yesterday, first_admitted_gate="North", inside=True,
        last_moved_at=yesterday, last_moved_gate="North", entries=1,
    )  # fmt: skip
    d = decide(CODE, state, direction=Direction.IN, now=NOW, tz=UTC)
    assert d.reason == "already used 31 May 19:42 at North"


def test_revocation_is_checked_before_already_used() -> None:
    state = _state(revoked=True, revoked_reason="refunded", inside=True, entries=1, first_admitted_at=EARLIER)
    d = decide(CODE, state, direction=Direction.IN, now=NOW, tz=UTC)
    assert (d.verdict, d.reason, d.movement) == (Verdict.REVOKED, "revoked: refunded", Movement.NONE)


def test_exit_of_a_ticket_inside_is_recorded_then_it_may_enter_again() -> None:
    inside = _state(
        first_admitted_at=EARLIER, first_admitted_gate="A", inside=True,
        last_moved_at=EARLIER, last_moved_gate="A", entries=1,
    )  # fmt: skip
    out = decide(CODE, inside, direction=Direction.OUT, now=NOW, tz=UTC)
    assert (out.verdict, out.reason, out.movement) == (Verdict.ADMIT, "exit recorded", Movement.EXIT)
    left = _state(
        first_admitted_at=EARLIER, first_admitted_gate="A", inside=False,
        last_moved_at=NOW, last_moved_gate="Exit 1", entries=1,
    )  # fmt: skip
    again = decide(CODE, left, direction=Direction.IN, now=NOW + timedelta(minutes=5), tz=UTC)
    assert (again.verdict, again.movement) == (Verdict.ADMIT, Movement.ENTRY)
    assert again.reason == "re-entry (left 19:42 at Exit 1)"


def test_exit_of_a_ticket_not_inside_records_nothing_and_says_so() -> None:
    never = decide(CODE, TicketState(), direction=Direction.OUT, now=NOW, tz=UTC)
    assert (never.verdict, never.movement) == (Verdict.NOT_INSIDE, Movement.NONE)
    assert never.reason == "not inside: never admitted — no exit recorded"
    left = _state(
        first_admitted_at=EARLIER, first_admitted_gate="A", inside=False,
        last_moved_at=EARLIER, last_moved_gate="Exit 1", entries=1,
    )  # fmt: skip
    twice = decide(CODE, left, direction=Direction.OUT, now=NOW, tz=UTC)
    assert twice.verdict is Verdict.NOT_INSIDE
    assert twice.reason == "not inside: left 19:12 at Exit 1 — no exit recorded"


def test_printable_replaces_control_characters_and_truncates() -> None:
    assert printable("\x1b[2Jhello\x00") == "?[2Jhello?"
    assert printable(b"\xffok") == "\ufffdok"
    long = printable("a" * 500)
    assert len(long) == 80 and long.endswith("…")


# -- properties ------------------------------------------------------------------------------------


# Any text, lone surrogates included: st.text never generates them, so lists of characters are joined.
def any_text(max_size: int) -> st.SearchStrategy[str]:
    chars = st.one_of(st.characters(), st.characters(categories=["Cs"]))
    return st.lists(chars, max_size=max_size).map("".join)


@settings(max_examples=400, deadline=None)
@given(raw=st.one_of(any_text(300), st.binary(max_size=300)))
def test_any_string_or_bytes_gets_exactly_one_verdict_and_never_raises(raw: str | bytes) -> None:
    d = decide_scan(
        raw, gate_event="VL9IHU", keys=[KEY_V1, KEY_V2], state_of=lambda c: TicketState(),
        direction=Direction.IN, now=NOW,
    )  # fmt: skip
    assert isinstance(d.verdict, Verdict) and d.reason
    assert len(printable(raw)) <= 80


def _is_correctly_tagged(raw: str) -> bool:
    code = parse_code(raw)
    return code.event == "VL9IHU" and any(
        code.tag == issue_code(k, code.serial, width=len(code.serial_text)).split("-")[2]
        for k in (KEY_V1, KEY_V2)
    )


code_like = st.builds(
    lambda event, serial, tag, pad: f"{pad}{event}-{serial:0{3}d}-{tag}{pad}",
    event=st.sampled_from(["VL9IHU", "vl9ihu", "OTHER1", "ABCD"]),
    serial=st.integers(min_value=1, max_value=99_999),
    tag=st.text(alphabet="0123456789abcdefABCDEF", min_size=8, max_size=10),
    pad=st.sampled_from(["", " ", "\n"]),
)


@settings(max_examples=500, deadline=None)
@given(raw=code_like, serial=st.integers(min_value=1, max_value=99_999), use_real=st.booleans())
def test_only_codes_with_a_correct_tag_ever_admit(raw: str, serial: int, use_real: bool) -> None:
    if use_real:  # half the examples are real codes, so that ADMIT is actually exercised
        raw = issue_code(KEY_V1 if serial % 2 else KEY_V2, serial)
    d = decide_scan(
        raw, gate_event="VL9IHU", keys=[KEY_V1, KEY_V2], state_of=lambda c: TicketState(),
        direction=Direction.IN, now=NOW,
    )  # fmt: skip
    assert (d.verdict is Verdict.ADMIT) == _is_correctly_tagged(raw)
    if use_real:
        assert d.verdict is Verdict.ADMIT


def test_the_decision_module_does_no_io() -> None:
    """verdicts.py is the pure domain rule: it imports the code format and plain data types only,
    never the store, the key store, files, processes or the network."""
    tree = ast.parse(Path(scanner.verdicts.__file__).read_text())
    imported = {
        name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for name in ([node.module] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names])
    }
    allowed = {
        "__future__",
        "unicodedata",
        "collections.abc",
        "dataclasses",
        "datetime",
        "enum",
        "ticketcode",
    }
    # `make mutants` runs this on a mutated copy, which imports mutmut's trampoline.
    imported = {name for name in imported if not (name or "").startswith("mutmut.")}
    assert imported <= allowed, imported - allowed


# Staff read times in their own zone: +05:30, where 20:10 UTC on 4 March is 01:40 on 5 March. The
# machine running the tests is on UTC, so a time shown in the wrong zone shows as another day.
STAFF_TZ = timezone(timedelta(hours=5, minutes=30))
FIRST = datetime(2026, 3, 4, 20, 10, tzinfo=UTC)  # 5 Mar 01:40 for staff
LEFT = datetime(2026, 3, 4, 21, 0, tzinfo=UTC)  # 5 Mar 02:30
AGAIN = datetime(2026, 3, 4, 22, 20, tzinfo=UTC)  # 5 Mar 03:50
SAME_DAY = datetime(2026, 3, 5, 2, 0, tzinfo=UTC)  # 5 Mar 07:30: staff's same day, not UTC's
NEXT_WEEK = datetime(2026, 3, 12, 9, 0, tzinfo=UTC)
CODE = parse_code(issue_code(KEY_V1, 7))


@pytest.mark.parametrize(
    ("state", "direction", "now", "expected"),
    [
        (TicketState(revoked=True), Direction.IN, SAME_DAY,
         (Verdict.REVOKED, "revoked: refunded or cancelled")),
        (TicketState(revoked=True, revoked_reason="chargeback"), Direction.OUT, SAME_DAY,
         (Verdict.REVOKED, "revoked: chargeback")),
        (TicketState(), Direction.IN, SAME_DAY, (Verdict.ADMIT, "admitted", Movement.ENTRY)),
        (TicketState(first_admitted_at=FIRST, first_admitted_gate="Gate B", inside=True, last_moved_at=FIRST,
                     last_moved_gate="Gate B", entries=1), Direction.IN, SAME_DAY,
         (Verdict.ALREADY_USED, "already used 01:40 at Gate B", Movement.NONE, FIRST, "Gate B")),
        (TicketState(first_admitted_at=FIRST, first_admitted_gate="Gate B", inside=True, last_moved_at=FIRST,
                     last_moved_gate="Gate B", entries=1), Direction.IN, NEXT_WEEK,
         (Verdict.ALREADY_USED, "already used 5 Mar 01:40 at Gate B", Movement.NONE, FIRST, "Gate B")),
        (TicketState(first_admitted_at=FIRST, first_admitted_gate="Gate B", inside=True, last_moved_at=AGAIN,
                     last_moved_gate="Gate C", entries=2), Direction.IN, SAME_DAY,
         (Verdict.ALREADY_USED, "already used 01:40 at Gate B; inside again since 03:50 at Gate C",
          Movement.NONE, FIRST, "Gate B")),
        (TicketState(first_admitted_at=FIRST, first_admitted_gate="Gate B", inside=False, last_moved_at=LEFT,
                     last_moved_gate="Exit A", entries=1), Direction.IN, SAME_DAY,
         (Verdict.ADMIT, "re-entry (left 02:30 at Exit A)", Movement.ENTRY, FIRST, "Gate B")),
        (TicketState(first_admitted_at=FIRST, first_admitted_gate="Gate B", inside=True, last_moved_at=FIRST,
                     last_moved_gate="Gate B", entries=1), Direction.OUT, SAME_DAY,
         (Verdict.ADMIT, "exit recorded", Movement.EXIT, FIRST, "Gate B")),
        (TicketState(first_admitted_at=FIRST, first_admitted_gate="Gate B", inside=False, last_moved_at=LEFT,
                     last_moved_gate="Exit A", entries=1), Direction.OUT, SAME_DAY,
         (Verdict.NOT_INSIDE, "not inside: left 02:30 at Exit A — no exit recorded", Movement.NONE, FIRST,
          "Gate B")),
        (TicketState(), Direction.OUT, SAME_DAY,
         (Verdict.NOT_INSIDE, "not inside: never admitted — no exit recorded", Movement.NONE)),
    ],
)  # fmt: skip
def test_each_rule_gives_exactly_its_decision_with_times_in_the_staffs_zone(
    state: TicketState, direction: Direction, now: datetime, expected: tuple[object, ...]
) -> None:
    verdict, reason, *rest = expected
    defaults: list[object] = [Movement.NONE, None, None]
    movement, first_at, first_gate = [*rest, *defaults[len(rest) :]]
    got = decide(CODE, state, direction=direction, now=now, tz=STAFF_TZ)
    assert got == Decision(verdict, reason, CODE, movement, first_at, first_gate)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty scan"),
        ("  \t ", "empty scan"),
        ("hello", "not a ticket code (expected EVENT-SERIAL-TAG)"),
        ("VL9IHU-1-abcdefab", "not a ticket code (expected EVENT-SERIAL-TAG)"),
        ("A" * 300, "too long to be a ticket code (300 characters)"),
        (b"\xff\xfe", "not text (binary data)"),
    ],
)
def test_each_kind_of_non_code_gets_its_own_reason(raw: str | bytes, reason: str) -> None:
    assert screen(raw, gate_event="VL9IHU", keys=[KEY_V1]) == Rejected(Verdict.INVALID, reason)


def test_decide_scan_hands_the_authentic_code_its_state_direction_and_zone() -> None:
    asked: list[object] = []

    def state_of(code: object) -> TicketState:
        asked.append(code)
        return TicketState(first_admitted_at=FIRST, first_admitted_gate="Gate B", inside=True, entries=1)

    raw = issue_code(KEY_V1, 7)
    got = decide_scan(raw, gate_event="VL9IHU", keys=[KEY_V1], state_of=state_of, direction=Direction.IN,
                      now=SAME_DAY, tz=STAFF_TZ)  # fmt: skip
    assert asked == [CODE]
    assert got == Decision(
        Verdict.ALREADY_USED, "already used 01:40 at Gate B", CODE, Movement.NONE, FIRST, "Gate B"
    )
    leaving = decide_scan(raw, gate_event="VL9IHU", keys=[KEY_V1], state_of=state_of, direction=Direction.OUT,
                          now=SAME_DAY, tz=STAFF_TZ)  # fmt: skip
    assert leaving.verdict is Verdict.ADMIT and leaving.movement is Movement.EXIT
    other = issue_code(OTHER_KEY, 3)
    wrong = decide_scan(
        other, gate_event="VL9IHU", keys=[KEY_V1], state_of=state_of, direction=Direction.IN, now=NOW
    )
    assert wrong == Decision(
        Verdict.WRONG_EVENT, "ticket for event OTHER1; this gate checks VL9IHU", parse_code(other)
    )
    assert asked == [CODE, CODE]  # a rejected code never reaches the store


def test_today_is_the_staffs_today_even_when_it_is_still_yesterday_in_utc() -> None:
    now = datetime(2026, 3, 4, 20, 0, tzinfo=UTC)  # 5 Mar 01:30 for staff, 4 Mar in UTC
    first = datetime(2026, 3, 4, 19, 0, tzinfo=UTC)  # 5 Mar 00:30 for staff
    state = TicketState(first_admitted_at=first, first_admitted_gate="Gate B", inside=True, entries=1)
    got = decide(CODE, state, direction=Direction.IN, now=now, tz=STAFF_TZ)
    assert got.reason == "already used 00:30 at Gate B"


def test_a_code_with_no_key_held_keeps_its_code_and_a_display_line_of_the_limit_is_whole() -> None:
    code = issue_code(KEY_V1, 9)
    assert screen(code, gate_event="VL9IHU", keys=[]) == Rejected(
        Verdict.UNKNOWN_KEY, "no key for VL9IHU — sync or import a key", parse_code(code)
    )
    assert printable("y" * 80) == "y" * 80 and printable("y" * 81) == "y" * 79 + "…"


def test_printable_hides_what_could_disguise_a_scan_and_reads_any_value() -> None:
    # A right-to-left override (Cf) shows the text after it reversed, a private-use character (Co)
    # draws as whatever the terminal's font puts there, U+2028/U+2029 (Zl, Zp) break the line.
    assert printable("ab\u202ecd\ue000ef\u2028gh\u2029ij") == "ab?cd?ef?gh?ij"
    # parse_code refuses a value that is neither text nor bytes ("not text"); its display line is
    # its repr, so that the scan is still recorded.
    assert printable(12345) == "12345"  # type: ignore[arg-type]
