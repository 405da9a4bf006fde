"""What commands print is safe for a terminal: control characters are shown escaped, text stays text."""

from __future__ import annotations

import io

from hypothesis import given
from hypothesis import strategies as st

from ticketgate.terminal import TerminalSafeStream, terminal_safe


def test_escape_sequences_and_invisible_controls_are_shown_escaped() -> None:
    assert terminal_safe("ann\x1b[2J@example.org") == "ann\\x1b[2J@example.org"
    assert terminal_safe("\x1b]0;pwned\x07Vienna") == "\\x1b]0;pwned\\x07Vienna"
    assert terminal_safe("paid\rrefunded") == "paid\\x0drefunded"
    assert terminal_safe("\x9b31m C1 CSI") == "\\x9b31m C1 CSI"
    assert terminal_safe("abc\u202edcba") == "abc\\u202edcba"  # right-to-left override
    assert terminal_safe("lone \ud800") == "lone \\ud800"  # could not even be encoded
    # A byte of a file name or argument that is not UTF-8 (PEP 383) reads as bash would write it.
    assert terminal_safe("/tmp/k\udcff.json") == "/tmp/k\\xff.json"


def test_ordinary_text_line_breaks_and_tabs_are_unchanged() -> None:
    text = "Vienna Live — Café 測試 🎫\tfree\nnext line"
    assert terminal_safe(text) == text


@given(st.text())
def test_nothing_that_acts_on_a_terminal_gets_through_and_the_result_encodes(text: str) -> None:
    safe = terminal_safe(text)
    assert not any((ord(ch) < 0x20 and ch not in "\t\n") or 0x7F <= ord(ch) <= 0x9F for ch in safe)
    safe.encode("utf-8")  # no lone surrogate left


def test_the_stream_escapes_what_is_written_and_passes_the_rest_on() -> None:
    target = io.StringIO()
    stream = TerminalSafeStream(target)
    print("event \x1b[31mRED", file=stream, flush=True)
    assert target.getvalue() == "event \\x1b[31mRED\n"
