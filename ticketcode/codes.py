"""The ``EVENT-SERIAL-TAG`` code: issue, parse and check the signature.

The tag is either an HMAC tag (lower-case hex, 8 to 64 digits, compared in constant time) or an
Ed25519 signature (64 bytes as upper-case base32 without padding: 103 characters, so a QR code of the
whole code stays in alphanumeric mode). The length tells them apart.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass
from hashlib import sha256

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ticketcode.errors import MalformedCode
from ticketcode.keys import ALGORITHM, ED25519, Ed25519Signer, EventKey, SigningKey

ED25519_TAG_CHARS = 103  # 64 bytes in base32 without its "=" padding
# Bounded lengths so that a 10 kB QR payload is rejected by the regex engine at once.
_CODE_RE = re.compile(r"([A-Za-z0-9]{4,12})-([0-9]{3,9})-([0-9A-Za-z]{8,103})")
_HEX_TAG_RE = re.compile(r"[0-9a-f]{8,64}")
_BASE32_TAG_RE = re.compile(r"[A-Z2-7]{103}")
# ``EVENT-SERIAL`` alone: what staff type for an Ed25519 ticket (its signature is not typeable).
_REFERENCE_RE = re.compile(r"([A-Za-z0-9]{4,12})-([0-9]{3,9})")
MAX_INPUT_CHARS = 200


@dataclass(frozen=True)
class TicketCode:
    """A well-formed code, normalised: event upper case, an HMAC tag lower case, an Ed25519 signature
    upper case, serial as printed."""

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

    @property
    def is_ed25519(self) -> bool:
        """True when the tag is an Ed25519 signature (base32), not an HMAC tag (hex)."""
        return len(self.tag) == ED25519_TAG_CHARS

    def __str__(self) -> str:
        # A typed EVENT-SERIAL reference (no tag) prints as just that.
        return f"{self.event}-{self.serial_text}-{self.tag}" if self.tag else self.signed_part


def serial_width(capacity: int) -> int:
    """Digits of the zero-padded serial for an event of this size: at least 3."""
    return max(3, len(str(max(capacity, 1))))


def _tag(key: EventKey, signed_part: str) -> str:
    digest = hmac.new(key.key, signed_part.encode("ascii"), sha256).hexdigest()
    return digest[: key.tag_hex_digits]


def issue_code(key: SigningKey, serial: int, *, width: int = 3) -> str:
    """The code of ticket ``serial`` of ``key.event``, signed with ``key`` (an HMAC key or an Ed25519
    private key; an Ed25519 public key cannot issue: ValueError)."""
    if serial < 1:
        raise ValueError("ticket serials start at 1")
    serial_text = str(serial).zfill(max(width, 3))
    signed = f"{key.event}-{serial_text}"
    if isinstance(key, Ed25519Signer):
        signature = key.private_key.sign(signed.encode("ascii"))
        return f"{signed}-{base64.b32encode(signature).decode('ascii').rstrip('=')}"
    if key.algorithm != ALGORITHM:
        raise ValueError("an Ed25519 public key verifies codes; it cannot issue them")
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
    if _HEX_TAG_RE.fullmatch(tag.lower()):
        tag = tag.lower()
    elif _BASE32_TAG_RE.fullmatch(tag.upper()):
        tag = tag.upper()
    else:
        raise MalformedCode("not a ticket code (expected EVENT-SERIAL-TAG)")
    if int(serial_text) == 0:
        raise MalformedCode("serial 0 does not exist")
    return TicketCode(event=event.upper(), serial_text=serial_text, tag=tag)


def parse_reference(raw: str) -> tuple[str, int] | None:
    """``(EVENT, serial)`` of a typed ``EVENT-SERIAL`` (no tag), or None for anything else."""
    if not isinstance(raw, str) or len(raw) > MAX_INPUT_CHARS:
        return None
    match = _REFERENCE_RE.fullmatch(raw.strip())
    if match is None or int(match.group(2)) == 0:
        return None
    return match.group(1).upper(), int(match.group(2))


def find_signing_key(code: TicketCode, keys: Iterable[EventKey]) -> EventKey | None:
    """The key (of the code's event, any version) whose tag matches, or None.

    HMAC candidates are compared with ``hmac.compare_digest``; a tag of the wrong length or kind for
    a key simply does not match that key. An Ed25519 signature must be in its one canonical base32
    spelling (the unused low bits of the last character zero), so no two codes carry one signature.
    """
    found: EventKey | None = None
    signature = _signature(code.tag) if code.is_ed25519 else None
    for key in keys:
        if key.event != code.event:
            continue
        if key.algorithm == ED25519:
            if signature is not None and found is None and _ed25519_valid(key.key, signature, code):
                found = key
            continue
        if signature is not None:
            continue
        expected = _tag(key, code.signed_part)
        # Keep looping after a match so the time taken does not reveal which version matched.
        if hmac.compare_digest(expected, code.tag) and found is None:
            found = key
    return found


def _signature(tag: str) -> bytes | None:
    try:
        raw = base64.b32decode(tag + "=" * (-len(tag) % 8))
    except (binascii.Error, ValueError):
        return None
    if len(raw) != 64 or base64.b32encode(raw).decode("ascii").rstrip("=") != tag:
        return None
    return raw


@functools.lru_cache(maxsize=64)
def _public_key(raw: bytes) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(raw)


def _ed25519_valid(public: bytes, signature: bytes, code: TicketCode) -> bool:
    try:
        _public_key(public).verify(signature, code.signed_part.encode("ascii"))
    except InvalidSignature:
        return False
    return True
