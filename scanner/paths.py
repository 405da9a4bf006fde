"""Where the scanner keeps its data: keys, the local store and settings, under one data folder."""

from __future__ import annotations

import os
from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parent.parent


def data_home(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The data folder: ``--home`` wins, then ``$TICKETGATE_HOME``, then this checkout.

    Run from a clone, the checkout itself is home (its ``keys/`` folder is the documented key
    store); installed elsewhere, ``~/.local/share/ticketgate``.
    """
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get("TICKETGATE_HOME")
    if env:
        return Path(env).expanduser()
    if (_CHECKOUT / "keys" / "README.md").is_file():
        return _CHECKOUT
    return Path.home() / ".local" / "share" / "ticketgate"


def keys_dir(home: Path) -> Path:
    return home / "keys"


def var_dir(home: Path) -> Path:
    """Local state that is never committed: the SQLite store, settings."""
    return home / "var"


def store_path(home: Path) -> Path:
    return var_dir(home) / "gate.sqlite3"


def settings_path(home: Path) -> Path:
    return var_dir(home) / "settings.json"
