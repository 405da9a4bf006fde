"""How amounts read: the payment provider counts money in a currency's smallest unit (cents for EUR,
yen for JPY, fils for KWD); an operator reads 10.00 EUR, 1000 JPY, 1.500 KWD. Pure."""

from __future__ import annotations

from decimal import Decimal

# Stripe's lists of currencies whose smallest unit is not a hundredth
# (https://docs.stripe.com/currencies#zero-decimal and #three-decimal). Stripe's, not ISO 4217's:
# the amounts here are the ones its webhooks carry, and for these currencies the two agree.
ZERO_DECIMAL = frozenset(
    {"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA"}
    | {"PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"}
)
THREE_DECIMAL = frozenset({"BHD", "JOD", "KWD", "OMR", "TND"})


def decimals(currency: str) -> int:
    """How many digits of ``currency`` come after the point (2 for most; 0 for JPY; 3 for KWD)."""
    code = currency.upper()
    if code in ZERO_DECIMAL:
        return 0
    if code in THREE_DECIMAL:
        return 3
    return 2


def amount(smallest_units: int, currency: str, *, grouped: bool = False) -> str:
    """``smallest_units`` of ``currency`` as a person reads it: ``amount(1000, "EUR")`` is
    "10.00 EUR", ``amount(1000, "JPY")`` "1000 JPY"; ``grouped`` separates thousands ("1,234.56")."""
    if not (len(currency) == 3 and currency.isascii() and currency.isalpha()):
        # A payment that named no currency is recorded as "???": its decimals are unknown.
        return f"{smallest_units} {currency} (smallest units)"
    places = decimals(currency)
    value = Decimal(smallest_units).scaleb(-places)
    number = f"{value:,.{places}f}" if grouped else f"{value:.{places}f}"
    return f"{number} {currency}"
