"""Key files sealed with a passphrase: scrypt derives an AES-256-GCM key; each key file is encrypted.

``ticketgate keys protect`` seals the key folder; from then on every key file written there (by an
import, a pairing or a sync) is sealed too, and reading one needs the passphrase (the gate app asks
for it at start). A stolen laptop's disk then holds no usable key without the passphrase.

Files (in the key folder):

- ``protection.json``: ``{"kdf": "scrypt", "n", "r", "p", "salt", "check"}``. ``check`` is a known
  text sealed with the derived key: a wrong passphrase is told at once, not as a folder of keys that
  fail to open.
- ``EVENT.vN.json`` sealed: ``{"sealed": "AES-256-GCM", "event", "version", "nonce", "ciphertext"}``;
  event and version stay readable (the file name says them anyway) and are bound to the ciphertext as
  associated data, so a sealed file renamed to another event or version does not open.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from scanner.errors import KeyStoreError

PROTECTION_FILE = "protection.json"
SEALED = "AES-256-GCM"
# scrypt cost: about 0.1-0.3 s and 32 MiB on a laptop, once per start; too slow to guess many.
SCRYPT_N = 2**15
SCRYPT_R = 8
SCRYPT_P = 1
MIN_PASSPHRASE_CHARS = 8
_CHECK_TEXT = b"ticketgate key folder"
_CHECK_AAD = b"ticketgate/protection-check"


@dataclass(frozen=True, repr=False)
class Unlocked:
    """The key that seals and opens this folder's key files (held in memory only)."""

    key: bytes

    def __repr__(self) -> str:
        return "Unlocked(<key hidden>)"


def protection_path(directory: Path) -> Path:
    return Path(directory) / PROTECTION_FILE


def is_protected(directory: Path) -> bool:
    """True when the folder's key files are sealed with a passphrase."""
    return protection_path(directory).exists()


def is_sealed(data: bytes) -> bool:
    """True for the bytes of a sealed key file (without opening it)."""
    return b'"sealed"' in data[:200]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(value: object, what: str) -> bytes:
    if not isinstance(value, str):
        raise KeyStoreError(f"{what} is not base64 text")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise KeyStoreError(f"{what} is not valid base64") from None


def require_text(passphrase: str) -> str:
    """``passphrase`` when it is text; else KeyStoreError that never repeats it. Bytes that are not
    UTF-8 (in TICKETGATE_KEY_PASSPHRASE, say) reach Python as lone surrogates that cannot be encoded."""
    try:
        passphrase.encode("utf-8")
    except UnicodeEncodeError:
        raise KeyStoreError(
            "the passphrase is not valid UTF-8 text (check TICKETGATE_KEY_PASSPHRASE or what was typed)"
        ) from None
    return passphrase


def _derive(passphrase: str, salt: bytes, *, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase.encode("utf-8"))


def passphrase_problem(passphrase: str) -> str | None:
    """Why ``passphrase`` cannot protect keys, or None."""
    if len(passphrase) < MIN_PASSPHRASE_CHARS:
        return f"the passphrase must be at least {MIN_PASSPHRASE_CHARS} characters"
    try:
        passphrase.encode("utf-8")
    except UnicodeEncodeError:
        return "the passphrase must be text"
    return None


def new_protection(passphrase: str) -> tuple[Unlocked, str]:
    """A fresh salt and derived key for ``passphrase``: the key, and the text of ``protection.json``."""
    require_text(passphrase)
    problem = passphrase_problem(passphrase)
    if problem:
        raise KeyStoreError(problem)
    salt = os.urandom(16)
    key = _derive(passphrase, salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P)
    nonce = os.urandom(12)
    check = nonce + AESGCM(key).encrypt(nonce, _CHECK_TEXT, _CHECK_AAD)
    document = {
        "kdf": "scrypt",
        "n": SCRYPT_N,
        "r": SCRYPT_R,
        "p": SCRYPT_P,
        "salt": _b64(salt),
        "check": _b64(check),
    }
    return Unlocked(key), json.dumps(document, indent=2) + "\n"


def unlock(directory: Path, passphrase: str) -> Unlocked:
    """The folder's key for ``passphrase``; KeyStoreError for a wrong one or an unreadable file."""
    require_text(passphrase)
    path = protection_path(directory)
    try:
        document: Any = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise KeyStoreError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError:
        raise KeyStoreError(f"{path} is not a protection file (not JSON)") from None
    if not isinstance(document, dict) or document.get("kdf") != "scrypt":
        raise KeyStoreError(f"{path} is not a protection file this ticketgate reads")
    costs: list[int] = []
    for name in ("n", "r", "p"):
        cost = document.get(name)
        if not isinstance(cost, int) or isinstance(cost, bool) or not 0 < cost <= 2**20:
            raise KeyStoreError(f"{path}: scrypt costs n, r, p must be whole numbers up to 2**20")
        costs.append(cost)
    salt = _unb64(document.get("salt"), f"{path}: salt")
    check = _unb64(document.get("check"), f"{path}: check")
    try:
        key = _derive(passphrase, salt, n=costs[0], r=costs[1], p=costs[2])
    except ValueError as exc:  # n not a power of 2, and the like
        raise KeyStoreError(f"{path}: {exc}") from None
    try:
        opened = AESGCM(key).decrypt(check[:12], check[12:], _CHECK_AAD)
    except (InvalidTag, ValueError):
        raise KeyStoreError("wrong passphrase for the key files") from None
    if opened != _CHECK_TEXT:
        raise KeyStoreError("wrong passphrase for the key files")
    return Unlocked(key)


def _aad(event: str, version: int) -> bytes:
    return f"ticketgate/key-file/{event}.v{version}".encode()


def seal(unlocked: Unlocked, text: str, *, event: str, version: int) -> str:
    """The sealed key file holding ``text`` (a key file's JSON)."""
    nonce = os.urandom(12)
    ciphertext = AESGCM(unlocked.key).encrypt(nonce, text.encode("utf-8"), _aad(event, version))
    document = {
        "sealed": SEALED,
        "event": event,
        "version": version,
        "nonce": _b64(nonce),
        "ciphertext": _b64(ciphertext),
    }
    return json.dumps(document, indent=2) + "\n"


def open_sealed(unlocked: Unlocked, data: bytes) -> bytes:
    """The key file's JSON inside a sealed file; KeyStoreError when it does not open."""
    try:
        document: Any = json.loads(data)
    except ValueError:
        raise KeyStoreError("not a sealed key file (not JSON)") from None
    if not isinstance(document, dict) or document.get("sealed") != SEALED:
        raise KeyStoreError(f"not a sealed key file (expected {SEALED})")
    event, version = document.get("event"), document.get("version")
    if not isinstance(event, str) or not isinstance(version, int) or isinstance(version, bool):
        raise KeyStoreError("a sealed key file names its event and version")
    nonce = _unb64(document.get("nonce"), "nonce")
    ciphertext = _unb64(document.get("ciphertext"), "ciphertext")
    try:
        return AESGCM(unlocked.key).decrypt(nonce, ciphertext, _aad(event, version))
    except (InvalidTag, ValueError):
        raise KeyStoreError(
            "a sealed key file does not open with this passphrase (altered or renamed?)"
        ) from None
