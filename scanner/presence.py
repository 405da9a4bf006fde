"""A ticket's presence from all its movements, this gate's and other gates', replayed in time order.

Pure: the store hands over every entry and exit it knows of one ticket (its own ADMIT scans and the
movements pulled from the backend) and keeps what :func:`replay` returns. The result depends only on
the *set* of movements, so applying a pulled movement twice, or receiving movements out of order,
ends in the same presence.

Rules, the same the gate applies live (``scanner.verdicts.decide``), extended to what only a merge
can see:

* an entry makes the ticket inside and counts as an entry; the earliest entry is the first admission;
* an entry while the ticket is already inside (two gates admitted it while both were offline: a
  conflict) still counts, and becomes the latest movement;
* an exit makes the ticket not inside, whether or not an entry is known yet.

``entries`` counts every entry known. The store numbers a new local entry ``entries + 1`` under a
unique index: since movements are only ever added, the count never goes down and that number is
always new.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from scanner.verdicts import Direction


@dataclass(frozen=True)
class Move:
    """One entry or exit. ``at`` is in this gate's clock; ``tiebreak`` orders moves at the same time."""

    at: datetime
    gate: str
    direction: Direction
    tiebreak: str


@dataclass(frozen=True)
class Presence:
    """What the store keeps per ticket (one ``presence`` row), the state ``decide`` reads."""

    first_admitted_at: datetime
    first_admitted_gate: str
    inside: bool
    last_moved_at: datetime
    last_moved_gate: str
    entries: int


def replay(moves: Iterable[Move]) -> Presence | None:
    """The presence after every move in time order; None while no entry is known."""
    first: Move | None = None
    last: Move | None = None
    inside = False
    entries = 0
    for move in sorted(moves, key=lambda m: (m.at, m.tiebreak)):
        if move.direction is Direction.IN:
            entries += 1
            inside = True
            if first is None:
                first = move
        else:
            inside = False
        last = move
    if first is None or last is None:
        return None
    return Presence(
        first_admitted_at=first.at,
        first_admitted_gate=first.gate,
        inside=inside,
        last_moved_at=last.at,
        last_moved_gate=last.gate,
        entries=entries,
    )
