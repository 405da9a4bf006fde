"""Verdicts and the pure decision of a scan: parse → event → signature → revocation → already used.

No I/O here: the gate (``scanner.gate``) reads a ticket's state from the store, asks
:func:`decide` what it means, and records the answer in the same transaction.

Re-entry policy (the design leaves it to the gate; docs/architecture.md):

* Entry (``Direction.IN``): a ticket admits once. A second entry while it is inside is
  ``ALREADY_USED``, naming the first admission.
* Exit (``Direction.OUT``): a ticket that is inside records an exit (``ADMIT``, "exit recorded");
  after that the same ticket may enter again (``ADMIT``, "re-entry ...").
* An exit scan of a ticket that is not inside (never entered, or already left) records nothing and
  is ``NOT_INSIDE`` — neither "already used" nor "invalid" would tell the staff the truth.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from enum import Enum, StrEnum

from ticketcode import (
    ED25519,
    EventKey,
    MalformedCode,
    TicketCode,
    find_signing_key,
    parse_code,
    parse_reference,
)

RAW_DISPLAY_CHARS = 80
SUPERSEDED_REASON = "superseded: ask for the new ticket"
NOT_KNOWN_REASON = (
    "not in this gate's ticket list: a typed EVENT-SERIAL admits only tickets synced to this gate"
    " — scan the QR code, or sync"
)


class Verdict(StrEnum):
    """The one outcome of a scan. Values equal names so they read the same in the store and on screen."""

    ADMIT = "ADMIT"
    ALREADY_USED = "ALREADY_USED"
    INVALID = "INVALID"
    WRONG_EVENT = "WRONG_EVENT"
    REVOKED = "REVOKED"
    UNKNOWN_KEY = "UNKNOWN_KEY"
    # Only in exit mode: the ticket is valid but nobody holding it is inside, so no exit is recorded.
    NOT_INSIDE = "NOT_INSIDE"


class Direction(StrEnum):
    IN = "in"
    OUT = "out"


class Movement(Enum):
    """What a decision does to the ticket's presence: nothing, an entry, or an exit."""

    NONE = "none"
    ENTRY = "entry"
    EXIT = "exit"


@dataclass(frozen=True)
class ScanResult:
    """One recorded scan, as the TUI and ``ticketgate verify`` show it."""

    scan_id: int
    verdict: Verdict
    direction: Direction
    raw: str  # what was scanned, printable and truncated, for display
    code: str | None  # normalised code when well-formed
    event: str | None
    serial: int | None
    reason: str  # short, actionable, for gate staff
    scanned_at: datetime  # aware UTC
    gate: str
    source: str  # "camera" | "wedge" | "manual" | "cli" ...
    first_admitted_at: datetime | None = None  # for ALREADY_USED
    first_admitted_gate: str | None = None

    @property
    def admitted(self) -> bool:
        """True when the person may pass (an entry, a re-entry or a recorded exit)."""
        return self.verdict is Verdict.ADMIT


@dataclass(frozen=True)
class KnownTicket:
    """A ticket the gate knows of (from sync or an imported list); a code need not be known to admit."""

    event: str
    serial: int
    holder: str | None = None
    revoked: bool = False
    revoked_reason: str | None = None
    code: str | None = None  # the full code, when the backend sent it
    order_ref: str | None = None  # the order's reference, for staff looking a ticket up
    changed_at: datetime | None = None  # when the backend last changed its status


@dataclass(frozen=True)
class Counters:
    """Scan counts of one event (or all): admitted entries, rejected scans, people inside now."""

    admitted: int
    rejected: int
    inside: int
    exits: int = 0


@dataclass(frozen=True)
class TicketState:
    """What the store knows about one ticket when it is scanned."""

    revoked: bool = False
    revoked_reason: str | None = None
    first_admitted_at: datetime | None = None
    first_admitted_gate: str | None = None
    inside: bool = False
    last_moved_at: datetime | None = None  # time of the last entry or exit
    last_moved_gate: str | None = None
    entries: int = 0
    known: bool = False  # the gate holds this ticket from sync or an imported list


@dataclass(frozen=True)
class Rejected:
    """A scan refused before the store is consulted: INVALID, WRONG_EVENT or UNKNOWN_KEY."""

    verdict: Verdict
    reason: str
    code: TicketCode | None = None


@dataclass(frozen=True)
class Authentic:
    """A well-formed code of the gate's event whose tag matches a held key.

    ``superseded``: the key that signed it is retired (the ticket was re-issued with a newer one).
    ``typed_reference``: staff typed ``EVENT-SERIAL`` of an Ed25519 event (whose signature nobody can
    type); there is no signature to check, so it counts only for a ticket the gate knows from sync.
    """

    code: TicketCode
    key_version: int
    superseded: bool = False
    typed_reference: bool = False


@dataclass(frozen=True)
class Decision:
    """The verdict of a scan and what it does to the ticket's presence."""

    verdict: Verdict
    reason: str
    code: TicketCode | None = None
    movement: Movement = Movement.NONE
    first_admitted_at: datetime | None = None
    first_admitted_gate: str | None = None


def printable(raw: str | bytes, *, limit: int = RAW_DISPLAY_CHARS) -> str:
    """``raw`` as one safe display line: undecodable bytes and control characters replaced, truncated."""
    if isinstance(raw, bytes | bytearray | memoryview):
        text = bytes(raw[: limit * 4]).decode("utf-8", errors="replace")
    elif isinstance(raw, str):
        text = raw[: limit * 4]
    else:
        text = repr(raw)[: limit * 4]
    # Control and format characters could move the cursor or hide text in a terminal.
    text = "".join(
        "?" if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Zl", "Zp") else ch for ch in text.strip()
    )
    if len(text) > limit:
        return text[: limit - 1] + "…"
    return text


def screen(
    raw: str | bytes, *, gate_event: str, keys: Sequence[EventKey], typed: bool = False
) -> Rejected | Authentic:
    """Parse → event → signature. ``keys`` are the keys held for ``gate_event`` (any versions).

    ``typed``: staff typed it by hand; for an event whose keys are Ed25519, ``EVENT-SERIAL`` alone is
    then taken as a reference to a ticket the store must know (see ``Authentic``).
    Never raises: anything that is not a code of this event with a matching tag is a ``Rejected``.
    """
    try:
        code = parse_code(raw)
    except MalformedCode as exc:
        reference = parse_reference(raw) if typed and isinstance(raw, str) else None
        if reference is not None:
            return _screen_reference(reference, gate_event=gate_event, keys=keys, why=str(exc))
        return Rejected(Verdict.INVALID, _malformed_reason(str(exc)))
    if code.event != gate_event:
        return Rejected(
            Verdict.WRONG_EVENT, f"ticket for event {code.event}; this gate checks {gate_event}", code
        )
    own = [k for k in keys if k.event == gate_event]
    if not own:
        return Rejected(Verdict.UNKNOWN_KEY, f"no key for {gate_event} — sync or import a key", code)
    key = find_signing_key(code, own)
    if key is None:
        return Rejected(Verdict.INVALID, "signature does not match: forged or mistyped", code)
    return Authentic(code, key.version, superseded=key.retired)


def _screen_reference(
    reference: tuple[str, int], *, gate_event: str, keys: Sequence[EventKey], why: str
) -> Rejected | Authentic:
    event, serial = reference
    own = [k for k in keys if k.event == gate_event]
    if event == gate_event and own and all(k.algorithm == ED25519 for k in own):
        code = TicketCode(event=event, serial_text=str(serial).zfill(3), tag="")
        return Authentic(code, 0, typed_reference=True)
    if event != gate_event:
        return Rejected(Verdict.WRONG_EVENT, f"ticket for event {event}; this gate checks {gate_event}")
    if not own:
        return Rejected(Verdict.UNKNOWN_KEY, f"no key for {gate_event} — sync or import a key")
    return Rejected(Verdict.INVALID, _malformed_reason(why))


def _malformed_reason(why: str) -> str:
    if why == "empty":
        return "empty scan"
    if why.startswith("not a ticket code"):
        return "not a ticket code (expected EVENT-SERIAL-TAG)"
    return why if why.startswith(("not ", "too ")) else f"not a ticket code: {why}"


def decide(
    code: TicketCode,
    state: TicketState,
    *,
    direction: Direction,
    now: datetime,
    tz: tzinfo | None = None,
    superseded: bool = False,
    typed_reference: bool = False,
) -> Decision:
    """Revocation → already used / re-entry for an authentic code, given the ticket's state.

    ``tz`` is the zone the staff read times in (default: this machine's local zone).
    ``typed_reference`` (a typed ``EVENT-SERIAL`` of an Ed25519 event) stands in for the signature
    only when the ticket is known; ``superseded`` (signed with a retired key version) is a revocation.
    """
    if typed_reference and not state.known:
        return Decision(Verdict.INVALID, NOT_KNOWN_REASON, code)
    if state.revoked:
        why = state.revoked_reason or "refunded or cancelled"
        return Decision(Verdict.REVOKED, f"revoked: {why}", code)
    if superseded:
        return Decision(Verdict.REVOKED, f"revoked: {SUPERSEDED_REASON}", code)
    first_at, first_gate = state.first_admitted_at, state.first_admitted_gate
    if direction is Direction.OUT:
        if state.inside:
            return Decision(Verdict.ADMIT, "exit recorded", code, Movement.EXIT, first_at, first_gate)
        if state.entries and state.last_moved_at is not None:
            left = _when(state.last_moved_at, now=now, tz=tz)
            reason = f"not inside: left {left} at {state.last_moved_gate} — no exit recorded"
        else:
            reason = "not inside: never admitted — no exit recorded"
        return Decision(Verdict.NOT_INSIDE, reason, code, Movement.NONE, first_at, first_gate)
    if state.inside and first_at is not None:
        reason = f"already used {_when(first_at, now=now, tz=tz)} at {first_gate}"
        if state.entries > 1 and state.last_moved_at is not None:
            reason += f"; inside again since {_when(state.last_moved_at, now=now, tz=tz)}"
            reason += f" at {state.last_moved_gate}"
        return Decision(Verdict.ALREADY_USED, reason, code, Movement.NONE, first_at, first_gate)
    if state.entries and state.last_moved_at is not None:
        left = _when(state.last_moved_at, now=now, tz=tz)
        reason = f"re-entry (left {left} at {state.last_moved_gate})"
        return Decision(Verdict.ADMIT, reason, code, Movement.ENTRY, first_at, first_gate)
    return Decision(Verdict.ADMIT, "admitted", code, Movement.ENTRY)


def decide_scan(
    raw: str | bytes,
    *,
    gate_event: str,
    keys: Sequence[EventKey],
    state_of: Callable[[TicketCode], TicketState],
    direction: Direction,
    now: datetime,
    tz: tzinfo | None = None,
    typed: bool = False,
) -> Decision:
    """The whole decision in check order; ``state_of`` gives the stored state of an authentic code."""
    screened = screen(raw, gate_event=gate_event, keys=keys, typed=typed)
    if isinstance(screened, Rejected):
        return Decision(screened.verdict, screened.reason, screened.code)
    return decide(
        screened.code,
        state_of(screened.code),
        direction=direction,
        now=now,
        tz=tz,
        superseded=screened.superseded,
        typed_reference=screened.typed_reference,
    )


def _when(moment: datetime, *, now: datetime, tz: tzinfo | None) -> str:
    """``19:42`` today, ``23 Nov 19:42`` another day, in the staff's zone."""
    local, local_now = moment.astimezone(tz), now.astimezone(tz)
    if local.date() == local_now.date():
        return local.strftime("%H:%M")
    return local.strftime("%d %b %H:%M").lstrip("0")
