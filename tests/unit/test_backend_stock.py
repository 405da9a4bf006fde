"""Splitting stock over shards and taking an order's quantity from them."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from backend.stock import MAX_SHARDS, allocate, merge_allocations, shard_count, split_capacity


@given(st.integers(min_value=1, max_value=10_000_000))
def test_shards_split_the_capacity_exactly(capacity: int) -> None:
    shards = shard_count(capacity)
    parts = split_capacity(capacity, shards)
    assert 1 <= shards <= MAX_SHARDS
    assert sum(parts) == capacity
    assert max(parts) - min(parts) <= 1
    assert min(parts) >= 1


@given(
    st.dictionaries(st.integers(0, 15), st.integers(0, 20), max_size=16),
    st.integers(1, 40),
    st.integers(0, 100),
)
def test_allocation_takes_exactly_the_quantity_or_says_sold_out_only_when_it_is(
    available: dict[int, int], quantity: int, start: int
) -> None:
    taken = allocate(available, quantity, start=start)
    if sum(available.values()) < quantity:
        assert taken is None
        return
    assert taken is not None, "stock remained but the buyer was told sold out"
    assert sum(n for _, n in taken) == quantity
    assert len({shard for shard, _ in taken}) == len(taken)
    for shard, n in taken:
        assert 0 < n <= available[shard]
    if any(n >= quantity for n in available.values()):
        assert len(taken) == 1, "an order that fits one shard should touch only that row"


def test_an_order_larger_than_every_shard_is_taken_across_shards() -> None:
    assert allocate({0: 3, 1: 0, 2: 3}, 5) == [(0, 3), (2, 2)]


def test_merged_allocations_are_summed_and_sorted_for_locking() -> None:
    merged = merge_allocations([(2, 1, 1), (1, 3, 2), (2, 1, 4), (1, 0, 1)])
    assert merged == [(1, 0, 1), (1, 3, 2), (2, 1, 5)]
