"""A ticket's merged record: conflicts found in time order, never in arrival order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from random import Random

from hypothesis import given
from hypothesis import strategies as st

from backend.timeline import Movement, find_conflicts, is_inside, merged

T0 = datetime(2026, 11, 24, 19, 0, tzinfo=UTC)


def move(row: int, device: str, minute: int, direction: str = "in") -> Movement:
    return Movement(
        row=row,
        device=device,
        scan_id=row,
        gate=f"Gate {device.upper()}",
        direction="out" if direction == "out" else "in",
        at=T0 + timedelta(minutes=minute),
    )


def pairs(movements: list[Movement]) -> list[tuple[int, int]]:
    return [(c.first.row, c.second.row) for c in find_conflicts(movements)]


def test_an_entry_while_inside_from_another_gate_is_a_conflict_against_the_entry_that_let_it_in() -> None:
    assert pairs([move(2, "b", 30), move(1, "a", 0)]) == [(1, 2)]
    # Three gates letting one ticket in: two conflicts, both against the first entry of the stay.
    assert pairs([move(1, "a", 0), move(2, "b", 10), move(3, "c", 20)]) == [(1, 2), (1, 3)]


def test_exit_and_re_entry_at_any_gates_is_no_conflict() -> None:
    night = [
        move(1, "a", 0),
        move(2, "b", 20, "out"),
        move(3, "c", 40),
        move(4, "a", 60, "out"),
        move(5, "b", 90),
    ]
    assert pairs(night) == []
    assert is_inside(night)
    assert not is_inside(night[:4])


def test_a_second_entry_from_the_same_gate_is_that_gates_own_matter() -> None:
    assert pairs([move(1, "a", 0), move(2, "a", 5)]) == []


def test_equal_times_are_ordered_by_device_and_scan_id_not_by_arrival() -> None:
    one, two = move(1, "b", 0), move(2, "a", 0)
    assert merged([one, two]) == merged([two, one]) == [two, one]


_movements = st.lists(
    st.tuples(st.sampled_from("abc"), st.integers(0, 30), st.sampled_from(["in", "out"])),
    max_size=12,
).map(
    lambda items: [
        move(i + 1, device, minute, direction) for i, (device, minute, direction) in enumerate(items)
    ]
)


@given(_movements, st.randoms())
def test_the_conflicts_do_not_depend_on_the_order_scans_arrive_in(
    movements: list[Movement], rnd: Random
) -> None:
    shuffled = list(movements)
    rnd.shuffle(shuffled)
    assert pairs(shuffled) == pairs(movements)
    for conflict in find_conflicts(movements):
        assert conflict.first.direction == conflict.second.direction == "in"
        assert conflict.first.device != conflict.second.device
        assert conflict.first.at <= conflict.second.at
