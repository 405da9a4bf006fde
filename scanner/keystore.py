"""The gate's key store: one key file per event and key version in the keys folder, mode 0600."""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from pathlib import Path

from scanner import key_protection
from scanner.durable import replace_file
from scanner.errors import KeyStoreError
from ticketcode import EventKey, KeyFileError, dump_key_file, load_key_file

log = logging.getLogger(__name__)

_KEY_FILE_RE = re.compile(r"([A-Z0-9]{4,12})\.v([0-9]+)\.json")
# A key file is a few hundred bytes; refuse to read a stray large file into memory.
_MAX_KEY_FILE_BYTES = 64 * 1024
_CACHE_SECONDS = 2.0
LOCKED_MESSAGE = (
    "the key files are protected by a passphrase and not unlocked: enter it (the gate app asks at"
    " start; commands ask in a terminal or read TICKETGATE_KEY_PASSPHRASE)"
)


def orphaned_message(directory: Path) -> str:
    """What to say when sealed key files lie in a folder without the protection file that opens them."""
    protection = key_protection.protection_path(directory)
    return (
        f"the key files in {directory} are sealed with a passphrase, but {protection} (which opens them)"
        f" is missing: restore {key_protection.PROTECTION_FILE} from a backup, or remove the key folder and"
        " pair the laptop again (or import the keys again)"
    )


class KeyStore:
    """Event keys held on this laptop. Older versions are kept so tickets signed with them still verify.

    Safe to share between threads; re-reads the folder when its modification time changes, so a key
    added by another process (an import, a sync) is seen by a running gate.

    A folder protected with a passphrase (``protect``) holds sealed key files: until ``unlock`` is
    called they cannot be read (``locked``), and every key written is sealed.
    """

    def __init__(self, directory: Path, *, unlocked: key_protection.Unlocked | None = None) -> None:
        self.directory = Path(directory)
        self._lock = threading.Lock()
        self._cache: tuple[int, float, list[EventKey]] | None = None
        self._unlocked = unlocked

    # -- passphrase ----------------------------------------------------------------------------

    @property
    def protected(self) -> bool:
        """True when the key files are sealed with a passphrase."""
        return key_protection.is_protected(self.directory)

    @property
    def locked(self) -> bool:
        """True when the key files are sealed and the passphrase was not given yet."""
        return self._unlocked is None and self.protected

    @property
    def orphaned(self) -> bool:
        """True when sealed key files lie here without ``protection.json``: no passphrase opens them,
        and a key written now would be kept unsealed next to them, so nothing may be written."""
        if self.protected or not self.directory.is_dir():
            return False
        try:
            for path in self._key_files():
                with path.open("rb") as fh:
                    if key_protection.is_sealed(fh.read(200)):
                        return True
        except (OSError, KeyStoreError):
            return False
        return False

    def refuse_if_orphaned(self) -> None:
        """KeyStoreError (saying what happened and what to do) when the folder is ``orphaned``."""
        if self.orphaned:
            # Said before anything is written: a key kept now would lie there unsealed.
            raise KeyStoreError(f"nothing was written: {orphaned_message(self.directory)}")

    def unlock(self, passphrase: str) -> None:
        """Open the sealed key files with ``passphrase``; KeyStoreError for a wrong one."""
        unlocked = key_protection.unlock(self.directory, passphrase)
        with self._lock:
            self._unlocked = unlocked
            self._cache = None

    def protect(self, passphrase: str) -> int:
        """Seal every key file with ``passphrase`` (scrypt + AES-256-GCM); from now on every key written
        here is sealed. Run again on a protected folder (same passphrase) it seals files left plain (a
        run cut short, a file copied in by hand). Returns how many files it sealed."""
        with self._lock:
            # A fresh protection file would seal new keys with a new salt: the orphaned sealed files
            # would then never open and look like a wrong passphrase.
            self.refuse_if_orphaned()
            if key_protection.is_protected(self.directory):
                self._unlocked = key_protection.unlock(self.directory, passphrase)
            else:
                self._ensure_folder()
                unlocked, document = key_protection.new_protection(passphrase)
                # The protection file first: a run cut short leaves some files plain (still usable,
                # sealed by the next run), never sealed files without the file that opens them.
                replace_file(key_protection.protection_path(self.directory), document, prefix=".protect-")
                self._unlocked = unlocked
            sealed = 0
            for path in self._key_files():
                data = path.read_bytes()
                if key_protection.is_sealed(data):
                    continue
                try:
                    key = load_key_file(data)
                except KeyFileError as exc:
                    raise KeyStoreError(f"{path}: {exc}; move it away, then protect again") from None
                self._write(path, dump_key_file(key), key=key)
                sealed += 1
            self._cache = None
            return sealed

    # -- writing -------------------------------------------------------------------------------

    def import_file(self, path: Path, *, replace: bool = False) -> EventKey:
        """Validate the key file at ``path`` and keep it; return the key. Refuses a conflicting key
        unless ``replace`` (see ``add``)."""
        path = Path(path)
        try:
            with path.open("rb") as fh:
                data = fh.read(_MAX_KEY_FILE_BYTES + 1)
        except FileNotFoundError:
            raise KeyStoreError(f"{path}: no such file") from None
        except IsADirectoryError:
            raise KeyStoreError(f"{path}: is a folder, not a key file") from None
        except OSError as exc:
            raise KeyStoreError(f"{path}: cannot read: {exc.strerror or exc}") from None
        if len(data) > _MAX_KEY_FILE_BYTES:
            raise KeyStoreError(f"{path}: too large to be a key file")
        try:
            key = load_key_file(data)
        except KeyFileError as exc:
            raise KeyStoreError(f"{path}: {exc}") from None
        self.add(key, replace=replace)
        return key

    def add(self, key: EventKey, *, replace: bool = False) -> Path:
        """Keep ``key``; adding the same key again is a no-op. A different key under the same event
        and version is refused unless ``replace``: silently replacing it would make every ticket it
        signed INVALID (the backend's master secret changed, or the file belongs to another backend)."""
        target = self.directory / f"{key.event}.v{key.version}.json"
        with self._lock:
            held = self._read_one(target) if target.exists() else None
            if held is not None:
                same = (held.key, held.tag_hex_digits, held.algorithm) == (
                    key.key,
                    key.tag_hex_digits,
                    key.algorithm,
                )
                if same and held.retired == key.retired:
                    return target
                if same:
                    # The backend retired this version (every ticket re-signed) or, by hand, the
                    # operator brought it back: the same key, only its state changes.
                    self._write(target, dump_key_file(key), key=key)
                    self._cache = None
                    # A warning: the gate's answers change (shown by a one-shot sync too, not only -v).
                    if key.retired:
                        log.warning(
                            "key %s v%d is now retired: tickets signed with it are turned away as "
                            "superseded (the event's tickets were re-signed)",
                            key.event,
                            key.version,
                        )
                    else:
                        log.warning("key %s v%d is valid again", key.event, key.version)
                    return target
                if not replace:
                    raise KeyStoreError(
                        f"a different key for {key.event} v{key.version} is already held "
                        f"(fingerprint {held.fingerprint}, new {key.fingerprint}): tickets signed with "
                        "the held key would all become INVALID. If the backend's master secret really "
                        "changed, replace it with: ticketgate keys import --replace FILE"
                    )
                log.warning(
                    "replacing the key for %s v%d (fingerprint %s) with fingerprint %s",
                    key.event,
                    key.version,
                    held.fingerprint,
                    key.fingerprint,
                )
            self._write(target, dump_key_file(key), key=key)
            self._cache = None
        log.debug("key stored: %s v%d fingerprint %s", key.event, key.version, key.fingerprint)
        return target

    def _ensure_folder(self) -> None:
        """The key folder, 0700 (a folder made by an earlier release, or by hand, is made private)."""
        try:
            if not self.directory.exists():
                self.directory.mkdir(mode=0o700, parents=True)
            if self.directory.stat().st_mode & 0o077:
                self.directory.chmod(0o700)
        except OSError as exc:
            raise KeyStoreError(f"cannot write to {self.directory}: {exc.strerror or exc}") from None

    def _write(self, target: Path, text: str, *, key: EventKey) -> None:
        """Write a key file (0600), sealed when the folder is protected; the caller holds the lock."""
        if key_protection.is_protected(self.directory):
            if self._unlocked is None:
                raise KeyStoreError(LOCKED_MESSAGE)
            text = key_protection.seal(self._unlocked, text, event=key.event, version=key.version)
        else:
            # protection.json gone but sealed files left: never write a secret key in the clear.
            self.refuse_if_orphaned()
        self._ensure_folder()
        try:
            replace_file(target, text, prefix=".import-")
        except OSError as exc:
            raise KeyStoreError(f"cannot write to {self.directory}: {exc.strerror or exc}") from None

    # -- reading -------------------------------------------------------------------------------

    def all(self) -> list[EventKey]:
        """Every usable key held, sorted by event then version. Unreadable files are logged and skipped;
        none while the folder is locked (``locked``: the gate refuses to check scans then)."""
        if self.locked:
            return []
        try:
            stamp = self.directory.stat().st_mtime_ns
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise KeyStoreError(f"cannot read {self.directory}: {exc.strerror or exc}") from None
        with self._lock:
            now = time.monotonic()
            # The folder's mtime has a coarse tick: two changes within one tick look the same, so
            # the cache is also trusted for a short while only.
            if self._cache is not None and self._cache[0] == stamp and now - self._cache[1] < _CACHE_SECONDS:
                return list(self._cache[2])
            keys = []
            for path in self._key_files():
                key = self._read_one(path)
                if key is not None:
                    keys.append(key)
            keys.sort(key=lambda k: (k.event, k.version))
            self._cache = (stamp, now, keys)
            return list(keys)

    def keys_for(self, event: str) -> list[EventKey]:
        """All held versions of ``event``'s key, oldest first."""
        return [k for k in self.all() if k.event == event]

    def events(self) -> list[str]:
        """Events with at least one key held, sorted (while locked, or sealed files lie without their
        protection file: as the key files' names say, so the command goes on to say what is wrong)."""
        if self.locked or self.orphaned:
            return sorted({m.group(1) for p in self._key_files() if (m := _KEY_FILE_RE.fullmatch(p.name))})
        return sorted({k.event for k in self.all()})

    def problems(self) -> list[str]:
        """One line per file in the key folder that looks like a key file but cannot be used."""
        found: list[str] = []
        if not self.directory.exists():
            return found
        if self.locked:
            return [LOCKED_MESSAGE]
        if self.orphaned:
            return [orphaned_message(self.directory)]
        for path in self._key_files():
            try:
                self._load(path)
            except (OSError, KeyFileError, KeyStoreError) as exc:
                found.append(f"{path.name}: {exc}")
        return found

    def _key_files(self) -> list[Path]:
        """The files of the folder named like key files, sorted; KeyStoreError when it cannot be listed
        (a file where the folder should be, no permission): a scan must say so, not crash."""
        try:
            names = sorted(os.listdir(self.directory))
        except OSError as exc:
            why = exc.strerror or exc
            raise KeyStoreError(f"cannot read the key folder {self.directory}: {why}") from None
        return [self.directory / name for name in names if _KEY_FILE_RE.fullmatch(name)]

    def _read_one(self, path: Path) -> EventKey | None:
        try:
            return self._load(path)
        except (OSError, KeyFileError, KeyStoreError) as exc:
            log.warning("ignoring unusable key file %s: %s", path, exc)
            return None

    def _load(self, path: Path) -> EventKey:
        with path.open("rb") as fh:
            data = fh.read(_MAX_KEY_FILE_BYTES + 1)
        if len(data) > _MAX_KEY_FILE_BYTES:
            raise KeyStoreError("too large to be a key file")
        if key_protection.is_sealed(data):
            if self._unlocked is None:
                if not key_protection.is_protected(self.directory):
                    raise KeyStoreError(orphaned_message(self.directory))
                raise KeyStoreError(LOCKED_MESSAGE)
            data = key_protection.open_sealed(self._unlocked, data)
        key = load_key_file(data)
        match = _KEY_FILE_RE.fullmatch(path.name)
        if match and (match.group(1), int(match.group(2))) != (key.event, key.version):
            raise KeyStoreError(f"file name says {match.group(1)} v{match.group(2)}, content {key!r}")
        return key
