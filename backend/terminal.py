"""Text from users (device names, gate names, emails) made safe to print on an operator's terminal."""

from __future__ import annotations

import unicodedata

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# Control and format characters (ESC sequences, bidi overrides, line separators) and unassigned ones
# could move the cursor, recolour or hide text in a terminal: shown as escapes instead.
_UNSAFE = ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")


def safe(text: str | None) -> str:
    """``text`` on one line with every control or format character as a backslash escape."""
    if text is None:
        return ""
    out = []
    for char in text:
        if char in _NAMED:
            out.append(_NAMED[char])
        elif unicodedata.category(char) in _UNSAFE:
            code = ord(char)
            out.append(
                f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"
            )
        else:
            out.append(char)
    return "".join(out)
