"""backend.money: amounts in a currency's smallest unit, as the operator reads them."""

from __future__ import annotations

import pytest

from backend.money import amount, decimals
from monitor.presentation import money


@pytest.mark.parametrize(
    ("units", "currency", "text"),
    [
        (1000, "EUR", "10.00 EUR"),
        (1, "EUR", "0.01 EUR"),
        (0, "EUR", "0.00 EUR"),
        (-250, "USD", "-2.50 USD"),
        (1000, "JPY", "1000 JPY"),  # Stripe's zero-decimal currencies count whole yen
        (1000, "jpy", "1000 jpy"),
        (1500, "KWD", "1.500 KWD"),  # and its three-decimal ones, thousandths of a dinar
        (10**20 + 1, "EUR", "1000000000000000000.01 EUR"),  # exact: no float on the way
        (1000, "???", "1000 ??? (smallest units)"),  # a payment that named no currency
    ],
)
def test_an_amount_reads_in_the_currencys_own_decimals(units: int, currency: str, text: str) -> None:
    assert amount(units, currency) == text


def test_every_currency_stripe_names_has_its_decimals() -> None:
    zero = [
        "BIF",
        "CLP",
        "DJF",
        "GNF",
        "JPY",
        "KMF",
        "KRW",
        "MGA",
        "PYG",
        "RWF",
        "UGX",
        "VND",
        "VUV",
        "XAF",
        "XOF",
        "XPF",
    ]
    three = ["BHD", "JOD", "KWD", "OMR", "TND"]
    assert [decimals(c) for c in ("EUR", "GBP", "CHF", "XYZ")] == [2, 2, 2, 2]
    assert {c: decimals(c) for c in zero + three} == {**dict.fromkeys(zero, 0), **dict.fromkeys(three, 3)}


def test_the_dashboard_separates_thousands_in_the_same_decimals() -> None:
    assert (money(123456, "EUR"), money(1234567, "JPY"), money(1234567, "KWD")) == (
        "1,234.56 EUR",
        "1,234,567 JPY",
        "1,234.567 KWD",
    )
