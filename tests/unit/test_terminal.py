"""Operator output: text from users cannot drive the terminal."""

from __future__ import annotations

import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from backend.terminal import safe


def test_escapes_and_bidi_overrides_are_shown_not_obeyed() -> None:
    assert safe("Gate A\x1b[2J") == "Gate A\\x1b[2J"
    assert safe("ann\u202e@example.org") == "ann\\u202e@example.org"
    assert safe("two\nlines\ttab") == "two\\nlines\\ttab"
    assert safe("Zoë 北门") == "Zoë 北门"
    assert safe(None) == ""


@given(st.text())
def test_nothing_unsafe_is_left(text: str) -> None:
    # Printable, or a space of some width (no-break space and the like).
    assert all(c.isprintable() or unicodedata.category(c) == "Zs" for c in safe(text))
