"""How an event's stock is split over shard rows and how an order's quantity is taken from them (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

# More shards than concurrent writers buys nothing; 16 keeps a hot event's row locks apart on a
# small machine while the fallback scan over all shards stays cheap.
MAX_SHARDS = 16
# Below this many tickets per shard, splitting only makes orders straddle shards more often.
MIN_TICKETS_PER_SHARD = 8


def shard_count(capacity: int) -> int:
    """How many stock rows an event of this capacity gets."""
    return max(1, min(MAX_SHARDS, capacity // MIN_TICKETS_PER_SHARD))


def split_capacity(capacity: int, shards: int) -> list[int]:
    """The initial available stock of each shard: as even as possible, summing to ``capacity``."""
    base, extra = divmod(capacity, shards)
    return [base + (1 if i < extra else 0) for i in range(shards)]


def allocate(available: Mapping[int, int], quantity: int, *, start: int = 0) -> list[tuple[int, int]] | None:
    """Take ``quantity`` from the shards' ``available`` counts: ``[(shard, n), ...]``, or None if too few.

    One shard that fits the whole order is preferred (searched from ``start`` onwards, wrapping), so
    most orders touch one row; otherwise the order is taken across shards, so a buyer is never told
    "sold out" while the event as a whole still has the tickets.
    """
    if quantity < 1:
        raise ValueError("quantity must be at least 1")
    if sum(max(0, n) for n in available.values()) < quantity:
        return None
    shards = sorted(available)
    if not shards:
        return None
    pivot = start % len(shards)
    rotated = shards[pivot:] + shards[:pivot]
    for shard in rotated:
        if available[shard] >= quantity:
            return [(shard, quantity)]
    taken: list[tuple[int, int]] = []
    remaining = quantity
    for shard in shards:
        n = min(available[shard], remaining)
        if n > 0:
            taken.append((shard, n))
            remaining -= n
        if remaining == 0:
            break
    return taken


def merge_allocations(allocations: Sequence[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """Sum ``(event_id, shard, quantity)`` triples per shard, sorted: the order rows are locked in."""
    totals: dict[tuple[int, int], int] = {}
    for event_id, shard, quantity in allocations:
        totals[(event_id, shard)] = totals.get((event_id, shard), 0) + quantity
    return [(event_id, shard, n) for (event_id, shard), n in sorted(totals.items())]
