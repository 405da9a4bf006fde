"""The checkout's refusals that are pure rules: a request's quantity, email and Idempotency-Key, a
reused key, the per-buyer hold limit and its Retry-After (how long until the buyer's first hold ends,
rounded up)."""

from __future__ import annotations

import pytest

from backend.errors import InvalidInput
from backend.orders import (
    MAX_EMAIL_CHARS,
    MAX_IDEMPOTENCY_KEY_CHARS,
    hold_limit_error,
    same_request,
    validate_order_request,
)


def _validate(email: object, key: object = None) -> tuple[int, str, str | None]:
    return validate_order_request(quantity=1, email=email, idempotency_key=key, max_per_order=10)


@pytest.mark.parametrize("email", [None, 5, ["a@example.com"], b"a@example.com"])
def test_an_email_that_is_not_text_is_refused_with_the_whole_message(email: object) -> None:
    with pytest.raises(InvalidInput) as refused:
        _validate(email)
    assert str(refused.value) == "email must be an e-mail address"


def test_an_email_of_up_to_254_characters_around_its_spaces_is_read_and_255_is_refused() -> None:
    longest = "a" * (MAX_EMAIL_CHARS - len("@example.com")) + "@example.com"
    assert len(longest) == 254
    assert _validate(f"  {longest}\n") == (1, longest, None)  # the spaces around it do not count
    with pytest.raises(InvalidInput) as refused:
        _validate("a" + longest)
    assert str(refused.value) == "email must be an e-mail address"


def test_an_idempotency_key_of_1_to_200_characters_is_read_and_0_or_201_are_refused() -> None:
    assert MAX_IDEMPOTENCY_KEY_CHARS == 200
    for key in ("k", "k" * 200):
        assert _validate("a@example.com", key) == (1, "a@example.com", key)
    for key in ("", "k" * 201, 7):
        with pytest.raises(InvalidInput) as refused:
            _validate("a@example.com", key)
        assert str(refused.value) == "Idempotency-Key must be 1 to 200 characters of text"


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
