"""Messages the gate app's parts post upward: scans typed or decoded, verdicts, camera and store status."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from PIL.Image import Image
from textual.message import Message

from scanner.store.sync_state import SyncState
from scanner.sync.background import SyncOutcome
from scanner.verdicts import Counters, ScanResult


class CodeTyped(Message):
    """Gate staff (or a keyboard-wedge scanner) finished typing a code."""

    def __init__(self, text: str, *, source: str, started: float) -> None:
        super().__init__()
        self.text = text
        self.source = source
        self.started = started  # perf_counter() of the keystroke that submitted it


class ScanDecided(Message):
    """A scan was checked and durably recorded; ``started`` is when its input arrived."""

    def __init__(self, result: ScanResult, *, started: float) -> None:
        super().__init__()
        self.result = result
        self.started = started


class ScanNotRecorded(Message):
    """A scan could not be decided or recorded (full disk, read-only store...): staff must retry."""

    def __init__(self, raw: str, *, source: str, message: str, started: float) -> None:
        super().__init__()
        self.raw = raw
        self.source = source
        self.message = message
        self.started = started


class CameraStatusChanged(Message):
    """The camera reader reported a new state (starting, live, retrying, no camera, ended, error)."""

    def __init__(self, state: str, message: str) -> None:
        super().__init__()
        self.state = state
        self.message = message


@dataclass(frozen=True)
class GateFigures:
    """What the status line and counters show, read from the store and key store off the UI thread."""

    counters: Counters | None
    pending_upload: int | None
    last_sync_at: datetime | None
    key_versions: tuple[int, ...]
    keys_checked: bool = False  # whether the key folder was checked for unusable files this time
    problem: str | None = None  # unusable key files, when checked
    paired: bool = False
    sync: SyncState | None = None


class StoreTrouble(Message):
    """Reading the store's figures failed (the scans themselves report their own failures)."""

    def __init__(self, message: str) -> None:
        super().__init__()
        self.message = message


class FiguresLoaded(Message):
    """Fresh counters, key state and sync state for the status line."""

    def __init__(self, figures: GateFigures) -> None:
        super().__init__()
        self.figures = figures


class RecentLoaded(Message):
    """The last scans recorded on this gate, newest first (shown at start)."""

    def __init__(self, scans: list[ScanResult]) -> None:
        super().__init__()
        self.scans = scans


class PreviewDrawn(Message):
    """A new picture for the live camera view, with how many codes are outlined in it."""

    def __init__(self, picture: Image, *, codes: int) -> None:
        super().__init__()
        self.picture = picture
        self.codes = codes


class SyncFinished(Message):
    """The background worker finished a round (or found the gate not paired)."""

    def __init__(self, outcome: SyncOutcome) -> None:
        super().__init__()
        self.outcome = outcome


class PairingScanned(Message):
    """The camera or handheld scanner read a pairing text: never a ticket scan."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class PairingDone(Message):
    """A pairing asked for from the pair dialog ended: ``error`` None when paired."""

    def __init__(self, *, summary: str, error: str | None, event: str | None, gate: str | None) -> None:
        super().__init__()
        self.summary = summary
        self.error = error
        self.event = event
        self.gate = gate
