"""ticketcode.display.readable: bytes that were not UTF-8 read as the user would write them."""

from __future__ import annotations

import pytest

from ticketcode.display import readable


@pytest.mark.parametrize(
    ("message", "shown"),
    [
        ("/tmp/no\udcffthing.png: no such file", "/tmp/no\\xffthing.png: no such file"),  # a path
        (repr("Gate \udcff\udc80"), "'Gate \\xff\\x80'"),  # a repr of an argument
        ("no device is named 'Gate A'", "no device is named 'Gate A'"),  # text is left as it is
        ("Gate \ud800 and é", "Gate \ud800 and é"),  # a surrogate no byte makes, and real letters
        ("\udc80", "\\x80"),
        ("\udc7f\udd00", "\udc7f\udd00"),  # just outside the bytes 0x80-0xff
        (repr("\udc7f\udd00"), "'\\udc7f\\udd00'"),
    ],
)
def test_a_byte_that_was_not_utf8_reads_as_backslash_x(message: str, shown: str) -> None:
    assert readable(message) == shown
