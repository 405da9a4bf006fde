"""Output made safe for a terminal: control characters in what a command prints are shown escaped.

Commands print what others typed: buyers' e-mail addresses, event and holder names, file names,
scanned text. An escape sequence among them (``\\x1b[2J`` clears the screen, ``\\x1b]0;...\\x07``
retitles the window, others have rewritten a terminal's clipboard) would act on the operator's
terminal; a carriage return can hide the start of a line, bidirectional overrides reorder it, and
a lone surrogate cannot even be encoded (a UnicodeEncodeError traceback). Line breaks and tabs stay.
"""

from __future__ import annotations

import io
import re
from typing import TextIO

# C0 controls but tab and line feed, DEL and C1 controls, Unicode line/paragraph separators, the
# bidirectional marks, embeddings, overrides and isolates, and unpaired surrogates.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]")


def terminal_safe(text: str) -> str:
    """``text`` with every character that could act on a terminal written as a Python escape."""
    return _UNSAFE.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:
        # A byte that was not UTF-8 (an argument, a file name: PEP 383), written as bash writes it.
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


class TerminalSafeStream(io.TextIOBase):
    """A text stream that writes everything through ``terminal_safe`` to ``stream``."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        self.stream.write(terminal_safe(text))
        return len(text)

    def writable(self) -> bool:
        return True

    def flush(self) -> None:
        self.stream.flush()

    def fileno(self) -> int:
        return self.stream.fileno()

    def isatty(self) -> bool:
        return self.stream.isatty()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self.stream.encoding

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return self.stream.errors
