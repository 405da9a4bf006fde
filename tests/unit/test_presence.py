"""Replaying a ticket's movements from every gate: what the merge promises, over any set of movements."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from scanner.presence import Move, Presence, replay
from scanner.verdicts import Direction, TicketState, Verdict, decide
from ticketcode import derive_event_key, issue_code, parse_code

T0 = datetime(2026, 6, 20, 19, 0, tzinfo=UTC)
CODE = parse_code(issue_code(derive_event_key(b"presence unit test secret 32 by", "VL9IHU"), 5))


def move(minute: int, gate: str, direction: Direction, tie: str = "") -> Move:
    return Move(T0 + timedelta(minutes=minute), gate, direction, tie or f"{gate}/{minute}")


def state_of(presence: Presence | None) -> TicketState:
    if presence is None:
        return TicketState()
    return TicketState(
        first_admitted_at=presence.first_admitted_at,
        first_admitted_gate=presence.first_admitted_gate,
        inside=presence.inside,
        last_moved_at=presence.last_moved_at,
        last_moved_gate=presence.last_moved_gate,
        entries=presence.entries,
    )


def test_an_entry_at_another_gate_makes_the_next_entry_here_already_used_naming_it() -> None:
    presence = replay([move(42, "Gate A", Direction.IN)])
    decision = decide(CODE, state_of(presence), direction=Direction.IN, now=T0 + timedelta(hours=1), tz=UTC)
    assert decision.verdict is Verdict.ALREADY_USED
    assert decision.reason == "already used 19:42 at Gate A"


def test_an_exit_at_another_gate_lets_the_ticket_enter_again_here() -> None:
    presence = replay([move(10, "Gate A", Direction.IN), move(50, "Gate C", Direction.OUT)])
    decision = decide(CODE, state_of(presence), direction=Direction.IN, now=T0 + timedelta(hours=1), tz=UTC)
    assert decision.verdict is Verdict.ADMIT and decision.reason == "re-entry (left 19:50 at Gate C)"


def test_two_entries_while_inside_count_both_and_name_the_first() -> None:
    presence = replay([move(20, "Gate B", Direction.IN), move(10, "Gate A", Direction.IN)])
    assert presence is not None
    assert (presence.first_admitted_gate, presence.entries, presence.inside) == ("Gate A", 2, True)
    assert presence.last_moved_gate == "Gate B"


def test_only_exits_known_is_no_presence_yet() -> None:
    assert replay([move(5, "Gate A", Direction.OUT)]) is None
    assert replay([]) is None


def test_an_exit_that_arrives_before_its_entry_still_ends_outside() -> None:
    presence = replay([move(30, "Gate A", Direction.OUT), move(10, "Gate B", Direction.IN)])
    assert presence is not None and not presence.inside and presence.last_moved_gate == "Gate A"


_moves = st.lists(
    st.builds(
        move,
        st.integers(0, 120),
        st.sampled_from(["Gate A", "Gate B", "Gate C"]),
        st.sampled_from(list(Direction)),
        st.text("abcdef0123456789", min_size=1, max_size=8),
    ),
    max_size=12,
    unique_by=lambda m: m.tiebreak,
)


@given(_moves, st.randoms())
def test_replay_depends_only_on_the_set_of_movements(moves: list[Move], rnd: object) -> None:
    """Movements arriving in any order give the same presence (the store keeps each movement once,
    by its scan id, so one applied twice is still one)."""
    shuffled = list(moves)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert replay(shuffled) == replay(moves)


@given(_moves, _moves)
def test_entries_count_every_entry_so_they_never_go_down(known: list[Move], more: list[Move]) -> None:
    """The store numbers a new local entry ``entries + 1`` under a unique index: the count must only grow."""
    more = [m for m in more if m.tiebreak not in {k.tiebreak for k in known}]
    before, after = replay(known), replay(known + more)
    assert (before.entries if before else 0) <= (after.entries if after else 0)
    assert (after.entries if after else 0) == sum(1 for m in known + more if m.direction is Direction.IN)
