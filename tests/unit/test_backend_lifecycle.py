"""The order state machine: every transition keeps the stock accounting consistent with the status."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backend.lifecycle import (
    Attention,
    OrderStatus,
    Outcome,
    PaymentStatus,
    StockMove,
    Trigger,
    decide,
    stock_bucket,
)

# Where a stock move takes the quantity from and puts it.
_MOVES = {
    StockMove.NONE: (None, None),
    StockMove.HELD_TO_SOLD: ("held", "sold"),
    StockMove.AVAILABLE_TO_SOLD: (None, "sold"),
    StockMove.HELD_TO_AVAILABLE: ("held", None),
    StockMove.SOLD_TO_AVAILABLE: ("sold", None),
    StockMove.SOLD_TO_WITHDRAWN: ("sold", "withdrawn"),
}
_OPTIONS = st.fixed_dictionaries(
    {"stock_available": st.booleans(), "return_stock": st.booleans(), "revoke_on_dispute": st.booleans()}
)


@given(st.sampled_from(OrderStatus), st.sampled_from(Trigger), _OPTIONS, st.booleans())
def test_stock_move_takes_the_quantity_from_where_the_old_status_kept_it(
    status: OrderStatus, trigger: Trigger, options: dict[str, bool], withdrawn: bool
) -> None:
    # Only an order whose tickets were revoked can have its seats withdrawn.
    withdrawn = withdrawn and status in (OrderStatus.REFUNDED, OrderStatus.REFUND_DUE, OrderStatus.DISPUTED)
    decision = decide(status, trigger, **options)
    source, target = _MOVES[decision.stock]
    now_withdrawn = withdrawn or decision.stock is StockMove.SOLD_TO_WITHDRAWN
    if decision.stock is StockMove.NONE:
        assert stock_bucket(decision.to_status, withdrawn=withdrawn) == stock_bucket(
            status, withdrawn=withdrawn
        )
    else:
        assert source == stock_bucket(status, withdrawn=withdrawn)
        assert target == stock_bucket(decision.to_status, withdrawn=now_withdrawn)


@given(st.sampled_from(OrderStatus), st.sampled_from(Trigger), _OPTIONS)
def test_tickets_are_issued_exactly_when_an_order_becomes_paid(
    status: OrderStatus, trigger: Trigger, options: dict[str, bool]
) -> None:
    decision = decide(status, trigger, **options)
    becomes_paid = decision.to_status is OrderStatus.PAID and status is not OrderStatus.PAID
    assert decision.issue_tickets == becomes_paid
    assert decision.revoke_tickets == (
        status is OrderStatus.PAID and decision.to_status is not OrderStatus.PAID
    )


@given(st.lists(st.tuples(st.sampled_from(Trigger), st.booleans()), max_size=30))
def test_a_payment_is_never_dropped_silently(steps: list[tuple[Trigger, bool]]) -> None:
    """Whatever happened before, a successful payment pays the order or is recorded as due back."""
    status = OrderStatus.PENDING
    for trigger, stock_available in steps:
        decision = decide(status, trigger, stock_available=stock_available)
        if trigger in (Trigger.PAYMENT_SUCCEEDED, Trigger.PAYMENT_MISMATCH):
            became_paid = decision.to_status is OrderStatus.PAID and status is not OrderStatus.PAID
            assert decision.payment is (PaymentStatus.PAID if became_paid else PaymentStatus.REFUND_DUE)
        status = decision.to_status


@given(st.lists(st.tuples(st.sampled_from(Trigger), st.booleans()), max_size=30))
def test_terminal_statuses_stay_terminal(steps: list[tuple[Trigger, bool]]) -> None:
    status = OrderStatus.PENDING
    for trigger, stock_available in steps:
        new = decide(status, trigger, stock_available=stock_available).to_status
        if status is OrderStatus.REFUNDED and trigger is not Trigger.PAYMENT_SUCCEEDED:
            assert new is OrderStatus.REFUNDED
        if status is not OrderStatus.PAID and new is OrderStatus.PAID:
            assert trigger is Trigger.PAYMENT_SUCCEEDED  # only a matching payment makes an order paid
        status = new


@pytest.mark.parametrize(
    ("status", "trigger", "stock_available", "expected", "outcome"),
    [
        (OrderStatus.PENDING, Trigger.PAYMENT_SUCCEEDED, False, OrderStatus.PAID, Outcome.PAID),
        (OrderStatus.EXPIRED, Trigger.PAYMENT_SUCCEEDED, True, OrderStatus.PAID, Outcome.LATE_PAID),
        (OrderStatus.EXPIRED, Trigger.PAYMENT_SUCCEEDED, False, OrderStatus.REFUND_DUE, Outcome.REFUND_DUE),
        (OrderStatus.PAID, Trigger.PAYMENT_SUCCEEDED, True, OrderStatus.PAID, Outcome.REFUND_DUE),
        (OrderStatus.PENDING, Trigger.PAYMENT_MISMATCH, True, OrderStatus.PENDING, Outcome.PAYMENT_MISMATCH),
        (OrderStatus.PENDING, Trigger.PAYMENT_REUSED, True, OrderStatus.PENDING, Outcome.PAYMENT_REUSED),
        (OrderStatus.PENDING, Trigger.CANCEL, False, OrderStatus.CANCELLED, Outcome.CANCELLED),
        (OrderStatus.PAID, Trigger.CANCEL, False, OrderStatus.REFUND_DUE, Outcome.REFUND_DUE),
        (OrderStatus.EXPIRED, Trigger.CANCEL, False, OrderStatus.EXPIRED, Outcome.IGNORED),
        (OrderStatus.REFUND_DUE, Trigger.REFUND, False, OrderStatus.REFUNDED, Outcome.REFUNDED),
        (OrderStatus.PAID, Trigger.PARTIAL_REFUND, False, OrderStatus.PAID, Outcome.PARTIALLY_REFUNDED),
        (OrderStatus.PAID, Trigger.DISPUTE, False, OrderStatus.PAID, Outcome.DISPUTED),
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


def test_a_second_payment_for_a_paid_or_disputed_order_is_due_back_and_flagged() -> None:
    for status in (OrderStatus.PAID, OrderStatus.DISPUTED):
        decision = decide(status, Trigger.PAYMENT_SUCCEEDED)
        assert (decision.to_status, decision.outcome, decision.stock) == (
            status,
            Outcome.REFUND_DUE,
            StockMove.NONE,
        )
        assert (decision.payment, decision.attention, decision.issue_tickets) == (
            PaymentStatus.REFUND_DUE,
            Attention.DOUBLE_PAYMENT,
            False,
        )


def test_each_status_keeps_its_quantity_in_one_place() -> None:
    """The accounting the property tests above check every transition against."""
    kept = {status: stock_bucket(status) for status in OrderStatus}
    assert kept[OrderStatus.PENDING] == "held" and kept[OrderStatus.PAID] == "sold"
    assert {status for status, bucket in kept.items() if bucket is None} == set(OrderStatus) - {
        OrderStatus.PENDING,
        OrderStatus.PAID,
    }
    assert stock_bucket(OrderStatus.REFUNDED, withdrawn=True) == "withdrawn"


@pytest.mark.parametrize(
    ("return_stock", "move"), [(True, StockMove.SOLD_TO_AVAILABLE), (False, StockMove.SOLD_TO_WITHDRAWN)]
)
def test_a_refund_revokes_the_tickets_and_returns_or_withdraws_the_seats(
    return_stock: bool, move: StockMove
) -> None:
    decision = decide(OrderStatus.PAID, Trigger.REFUND, return_stock=return_stock)
    assert (decision.to_status, decision.stock, decision.revoke_tickets) == (OrderStatus.REFUNDED, move, True)


def test_a_dispute_revokes_tickets_only_when_configured() -> None:
    kept = decide(OrderStatus.PAID, Trigger.DISPUTE)
    revoked = decide(OrderStatus.PAID, Trigger.DISPUTE, revoke_on_dispute=True)
    assert (kept.to_status, kept.revoke_tickets, kept.attention) == (
        OrderStatus.PAID,
        False,
        Attention.DISPUTED,
    )
    assert (revoked.to_status, revoked.revoke_tickets) == (OrderStatus.DISPUTED, True)


@pytest.mark.parametrize(
    ("status", "trigger", "expected"),
    [
        (OrderStatus.REFUND_DUE, Trigger.PAYMENT_SUCCEEDED, (OrderStatus.REFUND_DUE, Outcome.REFUND_DUE, StockMove.NONE)),  # noqa: E501
        (OrderStatus.PENDING, Trigger.CANCEL, (OrderStatus.CANCELLED, Outcome.CANCELLED, StockMove.HELD_TO_AVAILABLE)),  # noqa: E501
        (OrderStatus.REFUND_DUE, Trigger.REFUND, (OrderStatus.REFUNDED, Outcome.REFUNDED, StockMove.NONE)),
        (OrderStatus.EXPIRED, Trigger.PAYMENT_SUCCEEDED, (OrderStatus.REFUND_DUE, Outcome.REFUND_DUE, StockMove.NONE)),  # noqa: E501
    ],
)  # fmt: skip
def test_each_transition_reports_its_outcome_and_a_late_payment_finds_no_stock_unless_told(
    status: OrderStatus, trigger: Trigger, expected: tuple[OrderStatus, Outcome, StockMove]
) -> None:
    # The last case leaves stock_available at its default: no stock unless the caller found some.
    decision = decide(status, trigger)
    assert (decision.to_status, decision.outcome, decision.stock) == expected


@pytest.mark.parametrize(
    ("status", "trigger", "options", "expected"),
    [
        (
            OrderStatus.PENDING,
            Trigger.HOLD_EXPIRED,
            {},
            (OrderStatus.EXPIRED, StockMove.HELD_TO_AVAILABLE, False),
        ),
        (OrderStatus.PAID, Trigger.REFUND, {}, (OrderStatus.REFUNDED, StockMove.SOLD_TO_AVAILABLE, True)),
        (
            OrderStatus.PAID,
            Trigger.CANCEL,
            {"return_stock": True},
            (OrderStatus.REFUND_DUE, StockMove.SOLD_TO_AVAILABLE, True),
        ),
        (
            OrderStatus.PAID,
            Trigger.CANCEL,
            {"return_stock": False},
            (OrderStatus.REFUND_DUE, StockMove.SOLD_TO_WITHDRAWN, True),
        ),
        (
            OrderStatus.PAID,
            Trigger.DISPUTE,
            {"revoke_on_dispute": True, "return_stock": True},
            (OrderStatus.DISPUTED, StockMove.SOLD_TO_AVAILABLE, True),
        ),
        (
            OrderStatus.PAID,
            Trigger.DISPUTE,
            {"revoke_on_dispute": True, "return_stock": False},
            (OrderStatus.DISPUTED, StockMove.SOLD_TO_WITHDRAWN, True),
        ),
    ],
)
def test_where_the_seats_of_an_ended_order_go(
    status: OrderStatus, trigger: Trigger, options: dict[str, bool], expected: tuple[object, ...]
) -> None:
    """Each case pinned, not left to the property tests' sampling: an expired hold's seats go back
    on sale; a revoked paid order's seats go back unless the operator withdraws them (the default
    returns them)."""
    decision = decide(status, trigger, **options)
    assert (decision.to_status, decision.stock, decision.revoke_tickets) == expected
