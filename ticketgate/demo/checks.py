"""The checks at the end of the story: the sale's invariants (``backend.invariants``, the same the
tests assert), every promise of the sale's story (each step did what it was designed to: the counts,
the late payers' outcomes, the refund), and the gates' own: every scan uploaded exactly once, the
refunded ticket revoked, ALREADY USED across gates, and every shot given the verdict the design says.
A story that went differently fails the check named for its step."""

from __future__ import annotations

from backend.invariants import InvariantCheck, check_invariants, uploaded_scan_ids
from ticketgate.demo import gates
from ticketgate.demo.narration import Narrator
from ticketgate.demo.sale import Sale
from ticketgate.demo.story import GATE_A, GATE_B, Played, Stage

UPLOADED_ONCE = "every scan uploaded exactly once"
CROSS_GATE = "cross-gate ALREADY USED seen"
VERDICTS = "every shot got the design's verdict"
REVOKED = "the refunded ticket is turned away as revoked"
STORY = "story: "  # the prefix of each sale step's check


def run_checks(database_url: str, stage: Stage, played: Played) -> list[InvariantCheck]:
    return [
        *check_invariants(database_url),
        *story_checks(stage.sale),
        _uploaded_once(database_url, stage),
        _revoked(stage, played),
        _cross_gate(stage, played),
        _verdicts(stage, played),
    ]


def report(checks: list[InvariantCheck], narrator: Narrator) -> bool:
    """Say how each check went; True when all hold."""
    narrator.chapter("Checks")
    for check in checks:
        narrator.say(f"{'ok  ' if check.ok else 'FAIL'} {check.name}")
        for problem in check.problems:
            narrator.say(f"       {problem}")
    failed = [c.name for c in checks if not c.ok]
    narrator.say("every check held" if not failed else f"{len(failed)} check(s) failed: {', '.join(failed)}")
    return not failed


def story_checks(sale: Sale) -> list[InvariantCheck]:
    """One check per step of the sale: it holds when the server answered as the story promised."""
    return [
        InvariantCheck(
            STORY + p.step, () if p.kept else (f"the story promised {p.expected}; it went: {p.got}",)
        )
        for p in sale.promises
    ]


def _revoked(stage: Stage, played: Played) -> InvariantCheck:
    refunded = set(stage.sale.refunded_tickets)
    seen = [
        played.gate_b[i].verdict.value
        for i, shot in enumerate(stage.shots)
        if shot.payload in refunded and i < len(played.gate_b)
    ]
    if seen and all(v == "REVOKED" for v in seen):
        return InvariantCheck(REVOKED, ())
    return InvariantCheck(REVOKED, (f"{GATE_B} said {seen or 'nothing'} for {sorted(refunded)}",))


def _uploaded_once(database_url: str, stage: Stage) -> InvariantCheck:
    on_server = uploaded_scan_ids(database_url, stage.sale.event)
    problems = []
    for name, home in ((GATE_A, stage.gate_a), (GATE_B, stage.gate_b)):
        local, waiting = gates.scan_ids(home)
        uploaded = on_server.get(name, [])
        if waiting:
            problems.append(f"{name}: {waiting} scan(s) never uploaded")
        if sorted(uploaded) != sorted(local):
            problems.append(f"{name}: recorded scans {sorted(local)}, the server holds {uploaded}")
    return InvariantCheck(UPLOADED_ONCE, tuple(problems))


def _cross_gate(stage: Stage, played: Played) -> InvariantCheck:
    problems = []
    seen_at_b = [
        r for r in played.gate_b if r.code == stage.admitted_at_a.code and r.verdict.value == "ALREADY_USED"
    ]
    if not any(r.first_admitted_gate == GATE_A for r in seen_at_b):
        problems.append(f"{GATE_B} never said ALREADY USED at {GATE_A} for {stage.admitted_at_a.code}")
    again = played.gate_a_again
    if again is None or again.verdict.value != "ALREADY_USED" or again.first_admitted_gate != GATE_B:
        problems.append(f"{GATE_A} never said ALREADY USED at {GATE_B} for the ticket {GATE_B} let in")
    return InvariantCheck(CROSS_GATE, tuple(problems))


def _verdicts(stage: Stage, played: Played) -> InvariantCheck:
    problems = []
    for index, shot in enumerate(stage.shots):
        if index >= len(played.gate_b):
            problems.append(f"{shot.payload} ({shot.why}) was never scanned")
            continue
        got = played.gate_b[index]
        if got.verdict.value != shot.expected:
            problems.append(
                f"{shot.payload} ({shot.why}): {got.verdict.value}, the design says {shot.expected}"
            )
    return InvariantCheck(VERDICTS, tuple(problems))
