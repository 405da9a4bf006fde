"""Event keys: derivation from the backend's master secret, and the JSON key file both programs exchange.

Two signing schemes, chosen per event:

- ``hmac`` (``HMAC-SHA256``, the default): one secret key both issues and verifies codes; the short
  hex tag is typeable. A gate holding it could mint tickets.
- ``ed25519`` (``Ed25519``): the backend holds the private key (derived, never stored); gates and
  key files carry only the public key, which verifies codes and cannot issue them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ticketcode.errors import KeyFileError

ALGORITHM = "HMAC-SHA256"
ED25519 = "Ed25519"
ALGORITHMS = (ALGORITHM, ED25519)
# The event's signing scheme (what operators choose) and the algorithm its key files name.
SCHEMES = {"hmac": ALGORITHM, "ed25519": ED25519}
KEY_BYTES = 32
DEFAULT_TAG_HEX_DIGITS = 8
# 32 bits is the documented default; fewer would make a guessed tag too likely, more than the full
# HMAC is meaningless.
MIN_TAG_HEX_DIGITS = 8
MAX_TAG_HEX_DIGITS = 64
EVENT_CODE_RE = re.compile(r"[A-Z0-9]{4,12}")
# Domain separation: the same master secret may one day derive other kinds of keys.
_HKDF_SALT = b"ticketgate/event-key/v1"
# A different salt for the Ed25519 seed: the same (event, version) never yields related HMAC and
# Ed25519 keys, so holding one tells nothing about the other.
_HKDF_SALT_ED25519 = b"ticketgate/event-ed25519-seed/v1"
PUBLIC_KEY_NOTE = "public key: verifies this event's tickets, cannot issue them; holds no secret"


@dataclass(frozen=True, repr=False)
class EventKey:
    """One version of one event's verification key: the HMAC secret, or the Ed25519 public key.

    ``retired``: the backend re-signed every ticket with a newer version; a code signed with this one
    is superseded (the gate says REVOKED, "superseded: ask for the new ticket").
    """

    event: str
    version: int
    key: bytes
    tag_hex_digits: int = DEFAULT_TAG_HEX_DIGITS
    algorithm: str = ALGORITHM
    retired: bool = False

    def __post_init__(self) -> None:
        if not EVENT_CODE_RE.fullmatch(self.event):
            raise KeyFileError(f"event code {self.event!r} is not 4 to 12 of A-Z and 0-9")
        if isinstance(self.version, bool) or not isinstance(self.version, int) or self.version < 1:
            raise KeyFileError(f"key version must be a positive integer, not {self.version!r}")
        if self.algorithm not in ALGORITHMS:
            raise KeyFileError(
                f"algorithm {self.algorithm!r} is not supported (only {' or '.join(ALGORITHMS)})"
            )
        if self.algorithm == ED25519 and len(self.key) != KEY_BYTES:
            raise KeyFileError(f"an Ed25519 public key is {KEY_BYTES} bytes, not {len(self.key)}")
        if len(self.key) < KEY_BYTES:
            raise KeyFileError(f"key is {len(self.key)} bytes; at least {KEY_BYTES} are required")
        if not isinstance(self.retired, bool):
            raise KeyFileError("'retired' must be true or false")
        if not MIN_TAG_HEX_DIGITS <= self.tag_hex_digits <= MAX_TAG_HEX_DIGITS:
            raise KeyFileError(
                f"tag_hex_digits must be {MIN_TAG_HEX_DIGITS}..{MAX_TAG_HEX_DIGITS}, "
                f"not {self.tag_hex_digits}"
            )

    @property
    def fingerprint(self) -> str:
        """A short, non-secret identifier of the key bytes (safe to print and compare)."""
        return hashlib.sha256(b"ticketgate-fingerprint:" + self.key).hexdigest()[:16]

    @property
    def scheme(self) -> str:
        """``hmac`` or ``ed25519``, as operators name it."""
        return "ed25519" if self.algorithm == ED25519 else "hmac"

    @property
    def can_issue(self) -> bool:
        """True for an HMAC key (the secret that verifies also signs); an Ed25519 public key cannot."""
        return self.algorithm == ALGORITHM

    def __repr__(self) -> str:  # never let key bytes reach a log line
        return (
            f"EventKey(event={self.event!r}, version={self.version}, algorithm={self.algorithm},"
            f" fingerprint={self.fingerprint}{', retired' if self.retired else ''})"
        )


@dataclass(frozen=True, repr=False)
class Ed25519Signer:
    """One version of an Ed25519 event's private key: the backend's only (derived, never stored)."""

    event: str
    version: int
    seed: bytes

    @property
    def private_key(self) -> Ed25519PrivateKey:
        return Ed25519PrivateKey.from_private_bytes(self.seed)

    @property
    def public_key(self) -> EventKey:
        """The verification key gates receive."""
        raw = self.private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return EventKey(event=self.event, version=self.version, key=raw, algorithm=ED25519)

    def __repr__(self) -> str:  # the seed would let anyone issue tickets
        return f"Ed25519Signer(event={self.event!r}, version={self.version})"


# What issues codes: an HMAC EventKey, or an Ed25519 event's private key.
SigningKey = EventKey | Ed25519Signer


def _hkdf(master_secret: bytes, *, salt: bytes, event: str, version: int) -> bytes:
    if len(master_secret) < 16:
        raise KeyFileError("the master secret must be at least 16 bytes")
    hkdf = HKDF(
        algorithm=hashes.SHA256(),
        length=KEY_BYTES,
        salt=salt,
        info=f"event={event};version={version}".encode(),
    )
    return hkdf.derive(master_secret)


def scheme_algorithm(scheme: str) -> str:
    """The key-file algorithm of a signing scheme (``hmac`` or ``ed25519``); KeyFileError otherwise."""
    try:
        return SCHEMES[scheme]
    except (KeyError, TypeError):
        raise KeyFileError(f"signing scheme {scheme!r} is not one of: {', '.join(SCHEMES)}") from None


def derive_signing_key(
    master_secret: bytes, event: str, version: int = 1, *, scheme: str = "hmac"
) -> SigningKey:
    """What issues ``event``'s codes at ``version`` under ``scheme``: deterministic, from the master secret.

    ``hmac``: the HMAC key (``derive_event_key``). ``ed25519``: the private key, whose 32-byte seed is
    HKDF-SHA256 of the master secret with its own salt (domain separation) and the same info.
    """
    if scheme_algorithm(scheme) == ALGORITHM:
        return derive_event_key(master_secret, event, version)
    seed = _hkdf(master_secret, salt=_HKDF_SALT_ED25519, event=event, version=version)
    signer = Ed25519Signer(event=event, version=version, seed=seed)
    signer.public_key  # noqa: B018 - validates the event code and version as an EventKey would
    return signer


def derive_verify_key(
    master_secret: bytes, event: str, version: int = 1, *, scheme: str = "hmac"
) -> EventKey:
    """The key a gate holds for ``event`` at ``version``: the HMAC key, or the Ed25519 public key."""
    signer = derive_signing_key(master_secret, event, version, scheme=scheme)
    return signer.public_key if isinstance(signer, Ed25519Signer) else signer


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
    key = _hkdf(master_secret, salt=_HKDF_SALT, event=event, version=version)
    return EventKey(event=event, version=version, key=key, tag_hex_digits=tag_hex_digits)


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
    """The key file's fields as a JSON-ready mapping (the same shape sync carries keys in).

    An HMAC key keeps the documented shape; an Ed25519 key says it is public and holds no secret, and
    ``retired`` appears only when true (older gates ignore fields they do not know).
    """
    mapping: dict[str, object] = {
        "event": key.event,
        "version": key.version,
        "algorithm": key.algorithm,
    }
    if key.algorithm == ALGORITHM:
        mapping["tag_hex_digits"] = key.tag_hex_digits
    mapping["key"] = base64.b64encode(key.key).decode("ascii")
    if key.algorithm == ED25519:
        mapping["public"] = True
        mapping["note"] = PUBLIC_KEY_NOTE
    if key.retired:
        mapping["retired"] = True
    return mapping


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
    retired = data.get("retired", False)
    if not isinstance(retired, bool):
        raise KeyFileError("'retired' must be true or false")
    if "private_key" in data or "seed" in data:
        raise KeyFileError("a key file must not carry a private key (gates need only the public key)")
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
        retired=retired,
    )
