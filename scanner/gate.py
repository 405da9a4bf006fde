"""The gate: one call turns a scanned string into a recorded verdict (``Gate.check``)."""

from __future__ import annotations

import socket
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from scanner.errors import GateConfigError, KeyStoreError
from scanner.keystore import LOCKED_MESSAGE, KeyStore
from scanner.paths import keys_dir, store_path
from scanner.store import Store
from scanner.verdicts import Direction, ScanResult, printable, screen
from ticketcode.keys import EVENT_CODE_RE

MAX_GATE_NAME_CHARS = 40


def gate_name_problem(name: str) -> str | None:
    """Why ``name`` (white space already collapsed) cannot name a gate, or None when it can.

    The name is stored with every scan and shown to staff at other gates ("already used at ..."):
    control characters would reach their terminals, and a lone surrogate cannot be stored at all
    (every scan would then fail to record).
    """
    if not 1 <= len(name) <= MAX_GATE_NAME_CHARS:
        return f"the gate name must be 1 to {MAX_GATE_NAME_CHARS} characters"
    if any(unicodedata.category(ch) in ("Cc", "Cs", "Co", "Cn") for ch in name):
        return "the gate name must be printable text (no control characters or unpaired surrogates)"
    return None


class Gate:
    """Checks codes for one event at one named gate. Thread-safe: the camera and a handheld scanner
    may call ``check`` at the same time; the store serialises the decisions."""

    def __init__(
        self,
        *,
        store: Store,
        keys: KeyStore,
        event: str,
        gate_name: str,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        event = event.strip().upper()
        if not EVENT_CODE_RE.fullmatch(event):
            raise GateConfigError(f"event code {event!r} is not 4 to 12 of A-Z and 0-9")
        gate_name = " ".join(gate_name.split())
        problem = gate_name_problem(gate_name)
        if problem is not None:
            raise GateConfigError(problem)
        self.store = store
        self.keys = keys
        self.event = event
        self.gate_name = gate_name
        # Injectable so the TUI's snapshot tests can freeze scan times; aware UTC either way.
        self._clock = clock if clock is not None else (lambda: datetime.now(UTC))

    def check(
        self, raw: str | bytes, *, direction: Direction = Direction.IN, source: str = "manual"
    ) -> ScanResult:
        """Verify ``raw`` and record the scan durably; return its verdict.

        Never raises for any input: anything that is not an authentic code of this event gets a
        non-ADMIT verdict with a short reason. Raises StoreError (a ScannerError) only when the scan
        could not be recorded — then no verdict may be shown — and KeyStoreError when the key
        folder cannot be read.
        """
        if self.keys.locked:
            # No key can be read: any verdict would be a wrong one (UNKNOWN_KEY for every ticket).
            raise KeyStoreError(LOCKED_MESSAGE)
        scanned_at = self._clock()
        # Signature checks happen before the store's write lock is taken: they need no state.
        # Only a code typed by hand (the app's manual entry, `ticketgate verify`) may be a bare
        # EVENT-SERIAL (Ed25519 events): a QR code or a handheld scanner always carries the signature.
        screened = screen(
            raw, gate_event=self.event, keys=self.keys.keys_for(self.event), typed=source in ("manual", "cli")
        )
        return self.store.record_scan(
            screened,
            direction=Direction(direction),
            gate=self.gate_name,
            gate_event=self.event,
            source=source,
            raw=printable(raw),
            scanned_at=scanned_at,
        )

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Gate:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def default_gate_name() -> str:
    """This machine's short host name (so "already used at laptop-3" points at a device), else "Gate"."""
    try:
        name = socket.gethostname().split(".")[0].strip()
    except OSError:
        name = ""
    return name[:MAX_GATE_NAME_CHARS] or "Gate"


def choose_event(keys: KeyStore, event: str | None) -> str:
    """``event`` normalised, or the single event whose key is held; GateConfigError otherwise."""
    if event is not None:
        chosen = event.strip().upper()
        if not EVENT_CODE_RE.fullmatch(chosen):
            raise GateConfigError(f"--event {event!r} is not an event code (4 to 12 of A-Z and 0-9)")
        return chosen
    held = keys.events()
    if not held:
        raise GateConfigError(
            f"no event key held in {keys.directory}; pair this laptop with the backend (`ticketgate pair"
            " PAIRING`), import a key with `ticketgate keys import FILE`, or give the event with --event"
        )
    if len(held) > 1:
        raise GateConfigError(
            f"keys for several events are held ({', '.join(held)}); choose one with --event"
        )
    return held[0]


def open_gate(home: Path, *, event: str | None = None, gate_name: str | None = None) -> Gate:
    """A gate over the data folder ``home``: its key store and local store.

    ``event`` None means the single event whose key is held; none or several is a GateConfigError.
    An event given explicitly needs no key: its codes are then UNKNOWN_KEY until one is imported.
    """
    keys = KeyStore(keys_dir(home))
    chosen = choose_event(keys, event)
    name = gate_name if gate_name is not None else default_gate_name()
    store = Store.open(store_path(home))
    try:
        return Gate(store=store, keys=keys, event=chosen, gate_name=name)
    except GateConfigError:
        store.close()
        raise
