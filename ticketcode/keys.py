"""Event keys: derivation from the backend's master secret, and the JSON key file both programs exchange."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ticketcode.errors import KeyFileError

ALGORITHM = "HMAC-SHA256"
KEY_BYTES = 32
DEFAULT_TAG_HEX_DIGITS = 8
# 32 bits is the documented default; fewer would make a guessed tag too likely, more than the full
# HMAC is meaningless.
MIN_TAG_HEX_DIGITS = 8
MAX_TAG_HEX_DIGITS = 64
EVENT_CODE_RE = re.compile(r"[A-Z0-9]{4,12}")
# Domain separation: the same master secret may one day derive other kinds of keys.
_HKDF_SALT = b"ticketgate/event-key/v1"


@dataclass(frozen=True, repr=False)
class EventKey:
    """One version of one event's signing key."""

    event: str
    version: int
    key: bytes
    tag_hex_digits: int = DEFAULT_TAG_HEX_DIGITS
    algorithm: str = ALGORITHM

    def __post_init__(self) -> None:
        if not EVENT_CODE_RE.fullmatch(self.event):
            raise KeyFileError(f"event code {self.event!r} is not 4 to 12 of A-Z and 0-9")
        if isinstance(self.version, bool) or not isinstance(self.version, int) or self.version < 1:
            raise KeyFileError(f"key version must be a positive integer, not {self.version!r}")
        if self.algorithm != ALGORITHM:
            raise KeyFileError(f"algorithm {self.algorithm!r} is not supported (only {ALGORITHM})")
        if len(self.key) < KEY_BYTES:
            raise KeyFileError(f"key is {len(self.key)} bytes; at least {KEY_BYTES} are required")
        if not MIN_TAG_HEX_DIGITS <= self.tag_hex_digits <= MAX_TAG_HEX_DIGITS:
            raise KeyFileError(
                f"tag_hex_digits must be {MIN_TAG_HEX_DIGITS}..{MAX_TAG_HEX_DIGITS}, "
                f"not {self.tag_hex_digits}"
            )

    @property
    def fingerprint(self) -> str:
        """A short, non-secret identifier of the key bytes (safe to print and compare)."""
        return hashlib.sha256(b"ticketgate-fingerprint:" + self.key).hexdigest()[:16]

    def __repr__(self) -> str:  # never let key bytes reach a log line
        return f"EventKey(event={self.event!r}, version={self.version}, fingerprint={self.fingerprint})"


def derive_event_key(
    master_secret: bytes,
    event: str,
    version: int = 1,
    *,
    tag_hex_digits: int = DEFAULT_TAG_HEX_DIGITS,
) -> EventKey:
    """Derive the key of ``event`` at ``version`` from the master secret (HKDF-SHA256).

    Deterministic: the backend never stores event keys, and a gate laptop holding one event's key
    learns nothing about another event's.
    """
    if len(master_secret) < 16:
        raise KeyFileError("the master secret must be at least 16 bytes")
    hkdf = HKDF(
        algorithm=hashes.SHA256(),
        length=KEY_BYTES,
        salt=_HKDF_SALT,
        info=f"event={event};version={version}".encode(),
    )
    return EventKey(
        event=event, version=version, key=hkdf.derive(master_secret), tag_hex_digits=tag_hex_digits
    )


def dump_key_file(key: EventKey) -> str:
    """The key file's JSON text (docs/architecture.md, "Ticket codes")."""
    return json.dumps(key_to_mapping(key), indent=2) + "\n"


def load_key_file(text: str | bytes) -> EventKey:
    """Parse and validate a key file; raise KeyFileError saying exactly what is wrong."""
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise KeyFileError(f"not a JSON key file: {exc}") from None
    except RecursionError:  # json's answer to brackets nested thousands deep
        raise KeyFileError("not a JSON key file: nested too deeply") from None
    return key_from_mapping(data)


def key_to_mapping(key: EventKey) -> dict[str, object]:
    """The key file's fields as a JSON-ready mapping (the same shape sync carries keys in)."""
    return {
        "event": key.event,
        "version": key.version,
        "algorithm": key.algorithm,
        "tag_hex_digits": key.tag_hex_digits,
        "key": base64.b64encode(key.key).decode("ascii"),
    }


def key_from_mapping(data: object) -> EventKey:
    """An EventKey from a parsed key file (or a key carried by sync); KeyFileError saying what is wrong."""
    if not isinstance(data, dict):
        raise KeyFileError("a key file must be a JSON object")
    missing = [f for f in ("event", "version", "algorithm", "key") if f not in data]
    if missing:
        raise KeyFileError(f"key file lacks field(s): {', '.join(missing)}")
    if not isinstance(data["event"], str) or not isinstance(data["key"], str):
        raise KeyFileError("'event' and 'key' must be strings")
    if not isinstance(data["algorithm"], str):
        raise KeyFileError("'algorithm' must be a string")
    digits = data.get("tag_hex_digits", DEFAULT_TAG_HEX_DIGITS)
    if isinstance(digits, bool) or not isinstance(digits, int):
        raise KeyFileError("'tag_hex_digits' must be an integer")
    try:
        raw = base64.b64decode(data["key"], validate=True)
    except (binascii.Error, ValueError):
        raise KeyFileError("'key' is not valid base64") from None
    return EventKey(
        event=data["event"],
        version=data["version"],
        key=raw,
        tag_hex_digits=digits,
        algorithm=data["algorithm"],
    )
