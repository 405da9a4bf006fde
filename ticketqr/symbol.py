"""How a payload becomes a QR symbol: one choice of error correction and mode for every image drawn."""

from __future__ import annotations

import segno

from ticketcode import parse_code
from ticketcode.errors import MalformedCode


def symbol_text(code: str) -> str:
    """What the QR symbol of a ticket code holds: the code upper-cased, so that it fits QR's
    alphanumeric mode (upper case, digits, '-'): 5.5 bits a character instead of 8, a version-1
    symbol (21 modules) instead of version 2 for ``VL9IHU-001-f3a2b1c0``, with bigger modules on the
    same paper. Gates parse codes case-insensitively, so the upper-case tag verifies the same.

    Text that is not a ticket code is returned as it is.
    """
    try:
        parsed = parse_code(code)
    except MalformedCode:
        return code
    return f"{parsed.event}-{parsed.serial_text}-{parsed.tag.upper()}"


def make_symbol(payload: str | bytes) -> segno.QRCode:
    """The QR symbol of ``payload`` exactly as given (segno picks the most compact mode for it):
    error correction M (15% of the symbol may be lost), never a Micro QR, which phone cameras and most
    gate scanners do not read."""
    return segno.make(payload, error="m", micro=False)
