"""The key folder's passphrase on the command line: from TICKETGATE_KEY_PASSPHRASE, else typed in a
terminal (never echoed), else one line of standard input (for scripts: ``echo … | ticketgate sync``);
the gate app asks in its own dialog instead (``tui/screens/passphrase.py``)."""

from __future__ import annotations

import getpass
import os
import sys

from scanner.errors import KeyStoreError
from scanner.key_protection import require_text
from scanner.keystore import KeyStore

PASSPHRASE_ENV = "TICKETGATE_KEY_PASSPHRASE"


def unlock_for_command(keys: KeyStore, *, stdin_free: bool = True) -> KeyStore:
    """``keys`` unlocked if it is protected (and returned); KeyStoreError when no passphrase can be had,
    it is wrong, or sealed key files lie without their protection file. A folder that is not
    protected is returned as it is. ``stdin_free`` False: standard input carries something else (the
    codes of ``verify -``), so a passphrase is not read from it."""
    keys.refuse_if_orphaned()
    if not keys.locked:
        return keys
    passphrase = os.environ.get(PASSPHRASE_ENV)
    if passphrase is None:
        if sys.stdin.isatty():
            passphrase = getpass.getpass("passphrase for the key files: ")
        elif not stdin_free:
            raise KeyStoreError(
                f"the key files in {keys.directory} are protected by a passphrase, and standard input"
                f" carries the codes: set {PASSPHRASE_ENV}, or run this in a terminal to type it"
            )
        else:
            passphrase = _piped_line(
                f"the key files in {keys.directory} are protected by a passphrase and none was given:"
                f" type it in a terminal, pipe it in (one line), or set {PASSPHRASE_ENV}"
            )
    keys.unlock(passphrase)
    return keys


def new_passphrase() -> str:
    """The passphrase to protect the key files with: TICKETGATE_KEY_PASSPHRASE, else typed twice in a
    terminal, else one line of standard input (for scripts)."""
    passphrase = os.environ.get(PASSPHRASE_ENV)
    if passphrase is not None:
        return require_text(passphrase)
    if sys.stdin.isatty():
        first = getpass.getpass("new passphrase for the key files: ")
        if getpass.getpass("the same passphrase again: ") != first:
            raise KeyStoreError("the two passphrases differ: nothing was protected")
        return first
    return _piped_line(f"no passphrase given: type it in a terminal, pipe it in, or set {PASSPHRASE_ENV}")


def _piped_line(missing: str) -> str:
    """One line of standard input, without its line end; KeyStoreError ``missing`` when there is none,
    and one line (never the bytes) when it is not text."""
    try:
        line = sys.stdin.readline()
    except UnicodeDecodeError:
        raise KeyStoreError("the passphrase on standard input is not valid UTF-8 text") from None
    if not line:
        raise KeyStoreError(missing)
    return require_text(line.rstrip("\r\n"))
