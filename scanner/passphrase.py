"""The key folder's passphrase on the command line: from TICKETGATE_KEY_PASSPHRASE, else typed in a
terminal (never echoed); the gate app asks in its own dialog instead (``tui/screens/passphrase.py``)."""

from __future__ import annotations

import getpass
import os
import sys

from scanner.errors import KeyStoreError
from scanner.keystore import KeyStore

PASSPHRASE_ENV = "TICKETGATE_KEY_PASSPHRASE"


def unlock_for_command(keys: KeyStore) -> KeyStore:
    """``keys`` unlocked if it is protected (and returned); KeyStoreError when no passphrase can be had
    or it is wrong. A folder that is not protected is returned as it is."""
    if not keys.locked:
        return keys
    passphrase = os.environ.get(PASSPHRASE_ENV)
    if passphrase is None:
        if not sys.stdin.isatty():
            raise KeyStoreError(
                f"the key files in {keys.directory} are protected by a passphrase: run this in a terminal"
                f" to type it, or set {PASSPHRASE_ENV}"
            )
        passphrase = getpass.getpass("passphrase for the key files: ")
    keys.unlock(passphrase)
    return keys


def new_passphrase() -> str:
    """The passphrase to protect the key files with: TICKETGATE_KEY_PASSPHRASE, else typed twice in a
    terminal, else one line of standard input (for scripts)."""
    passphrase = os.environ.get(PASSPHRASE_ENV)
    if passphrase is not None:
        return passphrase
    if sys.stdin.isatty():
        first = getpass.getpass("new passphrase for the key files: ")
        if getpass.getpass("the same passphrase again: ") != first:
            raise KeyStoreError("the two passphrases differ: nothing was protected")
        return first
    line = sys.stdin.readline()
    if not line:
        raise KeyStoreError(
            f"no passphrase given: type it in a terminal, pipe it in, or set {PASSPHRASE_ENV}"
        )
    return line.rstrip("\r\n")
