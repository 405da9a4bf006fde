"""Typed ``EVENT-SERIAL`` references of an Ed25519 event and codes of a retired key version, through
screen, decide and decide_scan: each verdict and reason whole."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from scanner.verdicts import (
    NOT_KNOWN_REASON,
    Authentic,
    Decision,
    Direction,
    Movement,
    Rejected,
    TicketState,
    Verdict,
    decide,
    decide_scan,
    screen,
)
from ticketcode import derive_event_key, derive_signing_key, derive_verify_key, issue_code, parse_code
from ticketcode.codes import TicketCode

SECRET = b"unit-test-master-secret-32-bytes!"
SIGNER = derive_signing_key(SECRET, "EDEV1", 1, scheme="ed25519")
ED_KEY = derive_verify_key(SECRET, "EDEV1", 1, scheme="ed25519")
OTHER_ED_KEY = derive_verify_key(SECRET, "OTHER1", 1, scheme="ed25519")
HMAC_V1 = derive_event_key(SECRET, "VL9IHU", 1)
HMAC_V2 = derive_event_key(SECRET, "VL9IHU", 2)
RETIRED_V1 = replace(HMAC_V1, retired=True)
NOW = datetime(2026, 6, 1, 19, 42, tzinfo=UTC)
# What staff typing EDEV1-007 (or edev1-007) stand for: the ticket, with no signature to check.
REFERENCE = TicketCode(event="EDEV1", serial_text="007", tag="")
NOT_A_CODE = "not a ticket code (expected EVENT-SERIAL-TAG)"
SUPERSEDED = "revoked: superseded: ask for the new ticket"


def test_a_typed_event_serial_of_an_ed25519_event_is_a_reference_for_the_store_to_vouch_for() -> None:
    for typed in ("EDEV1-007", " edev1-007\n"):
        got = screen(typed, gate_event="EDEV1", keys=[ED_KEY], typed=True)
        assert got == Authentic(REFERENCE, 0, typed_reference=True)  # version 0: no key checked it
        assert str(got.code) == "EDEV1-007"  # recorded and shown as typed, no tag
    longer = screen("EDEV1-1234", gate_event="EDEV1", keys=[OTHER_ED_KEY, ED_KEY], typed=True)
    assert longer == Authentic(TicketCode("EDEV1", "1234", ""), 0, typed_reference=True)
    # A whole code typed by hand is still checked by its signature.
    code = issue_code(SIGNER, 7)
    assert screen(code, gate_event="EDEV1", keys=[ED_KEY], typed=True) == Authentic(parse_code(code), 1)


def test_a_typed_event_serial_is_refused_where_it_cannot_stand_for_a_ticket() -> None:
    # Scanned, not typed (the default): a QR code or a handheld scanner always carries the signature.
    assert screen("EDEV1-007", gate_event="EDEV1", keys=[ED_KEY]) == Rejected(Verdict.INVALID, NOT_A_CODE)
    # Another event's ticket, typed at this gate.
    assert screen("OTHER1-007", gate_event="EDEV1", keys=[ED_KEY, OTHER_ED_KEY], typed=True) == Rejected(
        Verdict.WRONG_EVENT, "ticket for event OTHER1; this gate checks EDEV1"
    )
    # No key held for the gate's event (another event's key does not count): UNKNOWN_KEY.
    for keys in ([], [OTHER_ED_KEY]):
        assert screen("EDEV1-007", gate_event="EDEV1", keys=keys, typed=True) == Rejected(
            Verdict.UNKNOWN_KEY, "no key for EDEV1 — sync or import a key"
        )
    # An HMAC event's tag can be typed, so its EVENT-SERIAL alone is no ticket code.
    assert screen("VL9IHU-007", gate_event="VL9IHU", keys=[HMAC_V1], typed=True) == Rejected(
        Verdict.INVALID, NOT_A_CODE
    )


def test_a_typed_reference_admits_only_a_ticket_the_gate_knows() -> None:
    for direction in Direction:
        unknown = decide(REFERENCE, TicketState(), direction=direction, now=NOW, tz=UTC, typed_reference=True)
        assert unknown == Decision(Verdict.INVALID, NOT_KNOWN_REASON, REFERENCE)
    known = decide(REFERENCE, TicketState(known=True), direction=Direction.IN, now=NOW, typed_reference=True)
    assert known == Decision(Verdict.ADMIT, "admitted", REFERENCE, Movement.ENTRY)


def test_a_code_signed_with_a_retired_key_version_is_superseded() -> None:
    old, new = issue_code(HMAC_V1, 3), issue_code(HMAC_V2, 3)
    keys = [RETIRED_V1, HMAC_V2]
    assert screen(old, gate_event="VL9IHU", keys=keys) == Authentic(parse_code(old), 1, superseded=True)
    assert screen(new, gate_event="VL9IHU", keys=keys) == Authentic(parse_code(new), 2)
    code = parse_code(old)
    for direction in Direction:
        got = decide(code, TicketState(), direction=direction, now=NOW, superseded=True)
        assert got == Decision(Verdict.REVOKED, SUPERSEDED, code)
    # A revocation's own reason comes first: it tells staff more.
    refunded = TicketState(revoked=True, revoked_reason="refunded")
    assert (
        decide(code, refunded, direction=Direction.IN, now=NOW, superseded=True).reason == "revoked: refunded"
    )


def _scan_ed25519(raw: str, state: TicketState, *, typed: bool | None = None) -> Decision:
    """decide_scan at an Ed25519 gate, with ``typed`` left at its default when None."""
    if typed is None:
        return decide_scan(
            raw,
            gate_event="EDEV1",
            keys=[ED_KEY],
            state_of=lambda code: state,
            direction=Direction.IN,
            now=NOW,
        )
    return decide_scan(
        raw, gate_event="EDEV1", keys=[ED_KEY], state_of=lambda code: state, direction=Direction.IN, now=NOW,
        typed=typed,
    )  # fmt: skip


def test_decide_scan_carries_typing_and_supersession_to_the_decision() -> None:
    known = TicketState(known=True)
    assert _scan_ed25519("edev1-007", known, typed=True) == Decision(
        Verdict.ADMIT, "admitted", REFERENCE, Movement.ENTRY
    )
    assert _scan_ed25519("EDEV1-007", TicketState(), typed=True) == Decision(
        Verdict.INVALID, NOT_KNOWN_REASON, REFERENCE
    )
    # Not typed (the default): refused before the store is asked, known ticket or not.
    assert _scan_ed25519("EDEV1-007", known) == Decision(Verdict.INVALID, NOT_A_CODE)
    old = issue_code(HMAC_V1, 3)
    got = decide_scan(
        old, gate_event="VL9IHU", keys=[RETIRED_V1, HMAC_V2], state_of=lambda code: TicketState(),
        direction=Direction.IN, now=NOW,
    )  # fmt: skip
    assert got == Decision(Verdict.REVOKED, SUPERSEDED, parse_code(old))
