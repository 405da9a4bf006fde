"""How text that came from outside (arguments, paths, file names) reads in a one-line error. Pure."""

from __future__ import annotations

import re

# A byte that is not UTF-8 reaches Python as a lone surrogate (U+DC80-U+DCFF, PEP 383), and a repr of
# it reads '\udcff'. Shown to a person, either is the byte as they would write it: '\xff'.
_ESCAPED_BYTE = re.compile(r"\\udc([89a-f][0-9a-f])")


def readable(message: str) -> str:
    """``message`` with each byte that was not UTF-8 shown as ``\\xNN``, as in bash's ``$'\\xff'``."""
    text = "".join(f"\\x{ord(c) - 0xDC00:02x}" if 0xDC80 <= ord(c) <= 0xDCFF else c for c in message)
    return _ESCAPED_BYTE.sub(r"\\x\1", text)
