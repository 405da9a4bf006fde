"""The ``EVENT-SERIAL-TAG`` code: issue, parse and check the signature, in constant time."""

from __future__ import annotations

import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass
from hashlib import sha256

from ticketcode.errors import MalformedCode
from ticketcode.keys import EventKey

# Bounded lengths so that a 10 kB QR payload is rejected by the regex engine at once.
_CODE_RE = re.compile(r"([A-Za-z0-9]{4,12})-([0-9]{3,9})-([0-9A-Fa-f]{8,64})")
MAX_INPUT_CHARS = 200


@dataclass(frozen=True)
class TicketCode:
    """A well-formed code, normalised: event upper case, tag lower case, serial as printed."""

    event: str
    serial_text: str
    tag: str

    @property
    def serial(self) -> int:
        return int(self.serial_text)

    @property
    def signed_part(self) -> str:
        """The text the tag signs: ``EVENT-SERIAL``."""
        return f"{self.event}-{self.serial_text}"

    def __str__(self) -> str:
        return f"{self.event}-{self.serial_text}-{self.tag}"


def serial_width(capacity: int) -> int:
    """Digits of the zero-padded serial for an event of this size: at least 3."""
    return max(3, len(str(max(capacity, 1))))


def _tag(key: EventKey, signed_part: str) -> str:
    digest = hmac.new(key.key, signed_part.encode("ascii"), sha256).hexdigest()
    return digest[: key.tag_hex_digits]


def issue_code(key: EventKey, serial: int, *, width: int = 3) -> str:
    """The code of ticket ``serial`` of ``key.event``, signed with ``key``."""
    if serial < 1:
        raise ValueError("ticket serials start at 1")
    serial_text = str(serial).zfill(max(width, 3))
    signed = f"{key.event}-{serial_text}"
    return f"{signed}-{_tag(key, signed)}"


def parse_code(raw: str | bytes) -> TicketCode:
    """Parse a code as typed or scanned: case-insensitive, surrounding white space ignored.

    Raises MalformedCode (with a short reason) for anything else; never any other exception.
    """
    if isinstance(raw, bytes | bytearray | memoryview):
        try:
            raw = bytes(raw).decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedCode("not text (binary data)") from None
    if not isinstance(raw, str):
        raise MalformedCode("not text")
    text = raw.strip()
    if not text:
        raise MalformedCode("empty")
    if len(text) > MAX_INPUT_CHARS:
        raise MalformedCode(f"too long to be a ticket code ({len(text)} characters)")
    match = _CODE_RE.fullmatch(text)
    if match is None:
        raise MalformedCode("not a ticket code (expected EVENT-SERIAL-TAG)")
    event, serial_text, tag = match.groups()
    if int(serial_text) == 0:
        raise MalformedCode("serial 0 does not exist")
    return TicketCode(event=event.upper(), serial_text=serial_text, tag=tag.lower())


def find_signing_key(code: TicketCode, keys: Iterable[EventKey]) -> EventKey | None:
    """The key (of the code's event, any version) whose tag matches, or None.

    Every candidate is compared with ``hmac.compare_digest``; a tag of the wrong length for a
    key simply does not match that key.
    """
    found: EventKey | None = None
    for key in keys:
        if key.event != code.event:
            continue
        expected = _tag(key, code.signed_part)
        # Keep looping after a match so the time taken does not reveal which version matched.
        if hmac.compare_digest(expected, code.tag) and found is None:
            found = key
    return found
