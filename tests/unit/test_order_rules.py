"""The checkout's refusals that are pure rules: a reused Idempotency-Key, the per-buyer hold limit and
its Retry-After (how long until the buyer's first hold ends, rounded up)."""

from __future__ import annotations

import pytest

from backend.errors import InvalidInput
from backend.orders import hold_limit_error, same_request


def test_a_key_used_for_another_quantity_is_refused_saying_so() -> None:
    same_request({"quantity": 2}, 2)
    with pytest.raises(InvalidInput) as refused:
        same_request({"quantity": 2}, 3)
    assert str(refused.value) == "you already used this Idempotency-Key for an order of another quantity"


@pytest.mark.parametrize(
    ("wait_seconds", "retry_after"),
    [
        (89.6, 90),  # the first hold ends in 89.6 s: come back after it
        (0.2, 1),
        (None, 1),  # no hold found any more (it just ended): at once
        (-5.0, 1),  # a hold past its end the reaper has not reached: at once, never 0 or less
    ],
)
def test_the_hold_limit_says_how_many_are_held_and_when_to_retry(
    wait_seconds: float | None, retry_after: int
) -> None:
    refusal = hold_limit_error("SHOW1", pending=4, max_pending=4, wait_seconds=wait_seconds)
    assert refusal.retry_after == retry_after
    assert str(refusal) == (
        "this email already holds 4 unpaid ticket(s) for event SHOW1; at most 4 may be pending at "
        "once: pay or cancel an order first (or wait until a hold ends)"
    )
