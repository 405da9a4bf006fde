"""The whole story, in the order it is told: the sale, two gates paired, Gate A lets someone in, Gate
B's camera sees five people (valid, already in at Gate A, forged, refunded, another event's), the
gates sync both ways, and at the end the checks. Gate B's part is played by the caller: headless
through the camera loop, or in the gate app."""

from __future__ import annotations

import asyncio
import secrets
import string
from dataclasses import dataclass
from pathlib import Path

from scanner.verdicts import ScanResult, Verdict
from ticketgate.demo import gates
from ticketgate.demo.camera import Shot
from ticketgate.demo.narration import Narrator
from ticketgate.demo.sale import Crowd, Sale, run_sale
from ticketgate.demo.system import DemoError, System

GATE_A, GATE_B = "Gate A", "Gate B"


@dataclass(frozen=True)
class Stage:
    """Everything Gate B's part needs: the sale, both gate folders, and what Gate B's camera sees."""

    sale: Sale
    gate_a: Path
    gate_b: Path
    admitted_at_a: ScanResult
    shots: tuple[Shot, ...]


@dataclass(frozen=True)
class Played:
    """Every verdict of the story's shots, by gate, in order."""

    gate_b: tuple[ScanResult, ...]
    gate_a_again: ScanResult | None


def new_event_code() -> str:
    # A fresh code per run, so a reused folder never mixes this run's tickets with an earlier one's.
    return "DEMO" + "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(4))


def set_the_stage(system: System, crowd: Crowd, narrator: Narrator, *, event: str | None = None) -> Stage:
    """The sale, the pairing, and Gate A's first entry; then Gate B learns of it by sync."""
    sale = asyncio.run(run_sale(system, event or new_event_code(), crowd, narrator))
    if len(sale.paid) < 3 or not sale.refunded_tickets or not sale.other_event_ticket:
        raise DemoError("the sale ended without the tickets the gates need (see the story above)")
    narrator.chapter("Two gates")
    gate_a = gates.pair(system, sale.event, GATE_A, narrator)
    gate_b = gates.pair(system, sale.event, GATE_B, narrator)
    first, second = (sale.tickets[order.id][0] for order in sale.paid[:2])
    at_a = Shot(first, sale.paid[0].email, Verdict.ADMIT.value, "a paid ticket")
    admitted = _one(GATE_A, gates.play(gate_a, [at_a], on_shot=lambda _: _shown(narrator, GATE_A, at_a)))
    _said(narrator, GATE_A, at_a, admitted)
    pushed = gates.sync(gate_a).pushed
    pulled = gates.sync(gate_b).pulled
    narrator.say(
        f"{GATE_A} synced (uploaded {pushed} scan); {GATE_B} synced (learnt {pulled.movements} entry)"
    )
    forged = second[:-1] + ("0" if second[-1] != "0" else "1")
    shots = (
        Shot(second, sale.paid[1].email, Verdict.ADMIT.value, "a paid ticket"),
        Shot(first, sale.paid[0].email, Verdict.ALREADY_USED.value, f"the ticket {GATE_A} let in"),
        Shot(forged, "a forger", Verdict.INVALID.value, "a copy of a ticket with its signature changed"),
        Shot(sale.refunded_tickets[0], sale.refunded.email if sale.refunded else "?", Verdict.REVOKED.value,
             "the ticket of the refunded order"),
        Shot(sale.other_event_ticket, "a lost guest", Verdict.WRONG_EVENT.value, "another event's ticket"),
    )  # fmt: skip
    return Stage(sale=sale, gate_a=gate_a, gate_b=gate_b, admitted_at_a=admitted, shots=shots)


def gate_b_headless(stage: Stage, narrator: Narrator) -> list[ScanResult]:
    """Gate B's camera loop sees the shots, without a terminal."""
    narrator.chapter(f"{GATE_B}'s camera")
    results: list[ScanResult] = []

    def result(found: ScanResult) -> None:
        results.append(found)
        _said(
            narrator,
            GATE_B,
            stage.shots[len(results) - 1] if len(results) <= len(stage.shots) else None,
            found,
        )

    gates.play(
        stage.gate_b,
        stage.shots,
        on_shot=lambda i: _shown(narrator, GATE_B, stage.shots[i]),
        on_result=result,
    )
    return results


def finish(stage: Stage, gate_b_results: list[ScanResult], narrator: Narrator) -> Played:
    """Gate B uploads; Gate A learns of Gate B's entry and turns that ticket away; Gate A uploads."""
    narrator.chapter("The gates sync both ways")
    pushed = gates.sync(stage.gate_b).pushed
    pulled = gates.sync(stage.gate_a).pulled
    narrator.say(f"{GATE_B} uploaded {pushed} scans; {GATE_A} learnt {pulled.movements} entry")
    again: ScanResult | None = None
    admitted_at_b = [r for r in gate_b_results if r.admitted and r.code]
    if admitted_at_b:
        ticket = admitted_at_b[0].code
        assert ticket is not None
        shot = Shot(ticket, "the same person", Verdict.ALREADY_USED.value, f"the ticket {GATE_B} let in")
        seen = gates.play(stage.gate_a, [shot], on_shot=lambda _: _shown(narrator, GATE_A, shot))
        again = _one(GATE_A, seen)
        _said(narrator, GATE_A, shot, again)
        gates.sync(stage.gate_a)
    return Played(gate_b=tuple(gate_b_results), gate_a_again=again)


def _one(gate: str, results: list[ScanResult]) -> ScanResult:
    """The one verdict a single shot gives; DemoError if the camera loop read it not once."""
    if len(results) != 1:
        raise DemoError(f"{gate}'s camera read the ticket {len(results)} times, not once")
    return results[0]


def _shown(narrator: Narrator, gate: str, shot: Shot) -> None:
    narrator.say(f"{gate} camera: {shot.who} holds up {shot.payload} ({shot.why})")


def _said(narrator: Narrator, gate: str, shot: Shot | None, result: ScanResult) -> None:
    narrator.say(describe(gate, shot, result))


def describe(gate: str, shot: Shot | None, result: ScanResult) -> str:
    """A verdict as the narration tells it, with whether it is the one the design gives."""
    verdict = result.verdict.value.replace("_", " ")
    expected = (
        ""
        if shot is None
        else (
            " as designed"
            if result.verdict.value == shot.expected
            else f" — the design says {shot.expected}!"
        )
    )
    return f"{gate} says {verdict}: {result.reason}{expected}"
