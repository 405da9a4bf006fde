"""A ticket's merged record: its movements from every gate in time order, and the conflicts in it. Pure.

Gates upload when they can, so scans arrive in any order (an offline gate uploads an hour late). The
record is therefore always rebuilt from all of a ticket's movements sorted by the server-clock time
(the device's time plus its measured offset), never from arrival order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal


@dataclass(frozen=True)
class Movement:
    """An ADMIT scan of one ticket: an entry (``in``) or an exit (``out``)."""

    row: int  # the scan's row id on the server
    device: str  # the device's id
    scan_id: int  # the gate's own scan id
    gate: str
    direction: Literal["in", "out"]
    at: datetime  # corrected to the server's clock

    @property
    def global_id(self) -> str:
        return f"{self.device}/{self.scan_id}"


@dataclass(frozen=True)
class Conflict:
    """``second`` entered while ``first``, another device's entry, had the ticket inside."""

    first: Movement
    second: Movement


def merged(movements: Iterable[Movement]) -> list[Movement]:
    """Time order; equal times by device and scan id, so the record never depends on arrival order."""
    return sorted(movements, key=lambda m: (m.at, m.device, m.scan_id))


def find_conflicts(movements: Iterable[Movement]) -> list[Conflict]:
    """Every entry made while the ticket was already inside through another device's entry.

    An exit (from any gate) ends the stay, so exit and re-entry is no conflict. The entry that brought
    the ticket in stays the reference for the whole stay: three gates admitting one ticket give two
    conflicts, each against the first. A second entry from the same device is that gate's own matter
    (it blocks re-use itself) and no conflict between gates.
    """
    found: list[Conflict] = []
    inside: Movement | None = None
    for movement in merged(movements):
        if movement.direction == "out":
            inside = None
        elif inside is None:
            inside = movement
        elif movement.device != inside.device:
            found.append(Conflict(first=inside, second=movement))
    return found


def is_inside(movements: Iterable[Movement]) -> bool:
    """Whether the ticket is inside at the end of its merged record."""
    ordered = merged(movements)
    return bool(ordered) and ordered[-1].direction == "in"
