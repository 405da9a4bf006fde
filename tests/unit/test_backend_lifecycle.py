"""The order state machine: every transition keeps the stock accounting consistent with the status."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backend.lifecycle import Decision, OrderStatus, Outcome, StockMove, Trigger, decide, stock_bucket

# Where a stock move takes the quantity from and puts it.
_MOVES = {
    StockMove.NONE: (None, None),
    StockMove.HELD_TO_SOLD: ("held", "sold"),
    StockMove.AVAILABLE_TO_SOLD: (None, "sold"),
    StockMove.HELD_TO_AVAILABLE: ("held", None),
    StockMove.SOLD_TO_AVAILABLE: ("sold", None),
}


@given(st.sampled_from(OrderStatus), st.sampled_from(Trigger), st.booleans())
def test_stock_move_takes_the_quantity_from_where_the_old_status_kept_it(
    status: OrderStatus, trigger: Trigger, stock_available: bool
) -> None:
    decision = decide(status, trigger, stock_available=stock_available)
    source, target = _MOVES[decision.stock]
    if decision.stock is StockMove.NONE:
        assert stock_bucket(decision.to_status) == stock_bucket(status)
    else:
        assert source == stock_bucket(status)
        assert target == stock_bucket(decision.to_status)


@given(st.sampled_from(OrderStatus), st.sampled_from(Trigger), st.booleans())
def test_tickets_are_issued_exactly_when_an_order_becomes_paid(
    status: OrderStatus, trigger: Trigger, stock_available: bool
) -> None:
    decision = decide(status, trigger, stock_available=stock_available)
    becomes_paid = decision.to_status is OrderStatus.PAID and status is not OrderStatus.PAID
    assert decision.issue_tickets == becomes_paid
    assert decision.revoke_tickets == (
        status is OrderStatus.PAID and decision.to_status is not OrderStatus.PAID
    )


@given(st.lists(st.tuples(st.sampled_from(Trigger), st.booleans()), max_size=30))
def test_a_payment_is_never_dropped_silently(steps: list[tuple[Trigger, bool]]) -> None:
    """Whatever happened before, a successful payment leaves the order paid or flagged for a refund."""
    status = OrderStatus.PENDING
    for trigger, stock_available in steps:
        decision = decide(status, trigger, stock_available=stock_available)
        if trigger is Trigger.PAYMENT_SUCCEEDED:
            assert decision.to_status in (OrderStatus.PAID, OrderStatus.REFUND_DUE)
        status = decision.to_status


@given(st.lists(st.tuples(st.sampled_from(Trigger), st.booleans()), max_size=30))
def test_terminal_statuses_stay_terminal(steps: list[tuple[Trigger, bool]]) -> None:
    status = OrderStatus.PENDING
    for trigger, stock_available in steps:
        new = decide(status, trigger, stock_available=stock_available).to_status
        if status is OrderStatus.REFUNDED and trigger is not Trigger.PAYMENT_SUCCEEDED:
            assert new is OrderStatus.REFUNDED
        status = new


@pytest.mark.parametrize(
    ("status", "trigger", "stock_available", "expected", "outcome"),
    [
        (OrderStatus.PENDING, Trigger.PAYMENT_SUCCEEDED, False, OrderStatus.PAID, Outcome.PAID),
        (OrderStatus.EXPIRED, Trigger.PAYMENT_SUCCEEDED, True, OrderStatus.PAID, Outcome.LATE_PAID),
        (OrderStatus.EXPIRED, Trigger.PAYMENT_SUCCEEDED, False, OrderStatus.REFUND_DUE, Outcome.REFUND_DUE),
        (OrderStatus.PAID, Trigger.PAYMENT_SUCCEEDED, True, OrderStatus.PAID, Outcome.ALREADY_PAID),
        (OrderStatus.PENDING, Trigger.PAYMENT_FAILED, False, OrderStatus.PENDING, Outcome.FAILED_RECORDED),
        (OrderStatus.PENDING, Trigger.HOLD_EXPIRED, False, OrderStatus.EXPIRED, Outcome.EXPIRED),
        (OrderStatus.PAID, Trigger.HOLD_EXPIRED, False, OrderStatus.PAID, Outcome.IGNORED),
        (OrderStatus.CANCELLED, Trigger.PAYMENT_SUCCEEDED, True, OrderStatus.REFUND_DUE, Outcome.REFUND_DUE),
        (OrderStatus.PAID, Trigger.REFUND, False, OrderStatus.REFUNDED, Outcome.REFUNDED),
    ],
)
def test_the_lifecycle_of_design_md(
    status: OrderStatus, trigger: Trigger, stock_available: bool, expected: OrderStatus, outcome: Outcome
) -> None:
    decision = decide(status, trigger, stock_available=stock_available)
    assert (decision.to_status, decision.outcome) == (expected, outcome)


@pytest.mark.parametrize(
    ("status", "trigger", "expected"),
    [
        (OrderStatus.REFUND_DUE, Trigger.PAYMENT_SUCCEEDED, Decision(OrderStatus.REFUND_DUE, Outcome.REFUND_DUE)),  # noqa: E501
        (OrderStatus.PENDING, Trigger.CANCEL,
         Decision(OrderStatus.CANCELLED, Outcome.CANCELLED, StockMove.HELD_TO_AVAILABLE)),
        (OrderStatus.REFUND_DUE, Trigger.REFUND, Decision(OrderStatus.REFUNDED, Outcome.REFUNDED)),
        (OrderStatus.EXPIRED, Trigger.PAYMENT_SUCCEEDED, Decision(OrderStatus.REFUND_DUE, Outcome.REFUND_DUE)),  # noqa: E501
    ],
)  # fmt: skip
def test_each_transition_reports_its_outcome_and_a_late_payment_finds_no_stock_unless_told(
    status: OrderStatus, trigger: Trigger, expected: Decision
) -> None:
    # The last case leaves stock_available at its default: no stock unless the caller found some.
    assert decide(status, trigger) == expected
