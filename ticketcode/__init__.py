"""The ticket-code format shared by the backend and the scanner: issue and verify codes, keys and key files.

Pure: depends on ``cryptography`` only and imports neither program.

Public names:
    EventKey, Ed25519Signer, derive_event_key, derive_signing_key, derive_verify_key,
    load_key_file, dump_key_file  (keys)
    TicketCode, parse_code, parse_reference, issue_code, find_signing_key, serial_width  (codes)
    TicketCodeError > MalformedCode, KeyFileError  (errors)
"""

from __future__ import annotations

from ticketcode.codes import (
    TicketCode,
    find_signing_key,
    issue_code,
    parse_code,
    parse_reference,
    serial_width,
)
from ticketcode.errors import KeyFileError, MalformedCode, TicketCodeError
from ticketcode.keys import (
    ALGORITHM,
    DEFAULT_TAG_HEX_DIGITS,
    ED25519,
    SCHEMES,
    Ed25519Signer,
    EventKey,
    SigningKey,
    derive_event_key,
    derive_signing_key,
    derive_verify_key,
    dump_key_file,
    load_key_file,
)

__all__ = [
    "ALGORITHM",
    "DEFAULT_TAG_HEX_DIGITS",
    "ED25519",
    "SCHEMES",
    "Ed25519Signer",
    "EventKey",
    "KeyFileError",
    "MalformedCode",
    "SigningKey",
    "TicketCode",
    "TicketCodeError",
    "derive_event_key",
    "derive_signing_key",
    "derive_verify_key",
    "dump_key_file",
    "find_signing_key",
    "issue_code",
    "load_key_file",
    "parse_code",
    "parse_reference",
    "serial_width",
]
