"""Stripe-style payment webhooks: verify the ``Stripe-Signature`` header and parse the event; pure, no I/O.

Errors (all ``BackendError``, all answered with HTTP 400 by the API):

WebhookError               root of a rejected delivery
 +-- BadSignature          header missing or garbled, or no ``v1`` signature matches
 +-- StaleTimestamp        the signed time is more than the tolerance away from now (replay protection)
 +-- MalformedEvent        correctly signed, but not the JSON event we expect
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from backend.db import storable_text
from backend.errors import BackendError

SIGNATURE_HEADER = "Stripe-Signature"
DEFAULT_TOLERANCE_SECONDS = 300
# A real header has a timestamp and one or two signatures; anything much longer is garbage or an attack.
MAX_HEADER_CHARS = 2048
MAX_SIGNATURES = 8

PAYMENT_SUCCEEDED = "payment_intent.succeeded"
PAYMENT_FAILED = "payment_intent.payment_failed"
CHARGE_REFUNDED = "charge.refunded"
DISPUTE_CREATED = "charge.dispute.created"
# Payment intent events name their order in metadata; charge and dispute events are matched to the
# order through the payment they concern (the payment intent), their metadata being optional.
PAYMENT_INTENT_TYPES = frozenset({PAYMENT_SUCCEEDED, PAYMENT_FAILED})
KNOWN_TYPES = PAYMENT_INTENT_TYPES | {CHARGE_REFUNDED, DISPUTE_CREATED}
_MAX_AMOUNT = 10**15

_TIMESTAMP_RE = re.compile(r"[0-9]{1,12}")
_V1_RE = re.compile(r"[0-9a-fA-F]{64}")


class WebhookError(BackendError):
    code = "webhook_rejected"


class BadSignature(WebhookError):
    code = "bad_signature"


class StaleTimestamp(WebhookError):
    code = "stale_timestamp"


class MalformedEvent(WebhookError):
    code = "malformed_event"


@dataclass(frozen=True)
class PaymentEvent:
    """The parts of a provider event the backend acts on.

    ``order_id`` (``data.object.metadata.order_id``) is None only for event types other than the
    payment intent ones, when they carry none. ``payment_reference`` is the provider's id of the
    payment: the payment intent (``data.object.id`` of a payment intent event, ``payment_intent`` of
    a charge or dispute; the charge id for a charge without one). ``amount_cents`` is what was
    received (``amount_received``; a charge's or dispute's ``amount``) in the currency's smallest
    unit, ``currency`` upper-case, ``event_code`` the ``metadata.event`` the payment was made for,
    ``refunded_cents`` a charge's ``amount_refunded`` (the total refunded so far).
    """

    id: str
    type: str
    order_id: UUID | None
    payment_reference: str | None = None
    amount_cents: int | None = None
    currency: str | None = None
    event_code: str | None = None
    refunded_cents: int | None = None


def sign(body: bytes, *, secret: str, timestamp: int) -> str:
    """The ``Stripe-Signature`` header value a provider would send for ``body`` at ``timestamp``."""
    return f"t={timestamp},v1={_digest(secret, str(timestamp), body)}"


def _digest(secret: str, timestamp_text: str, body: bytes) -> str:
    signed = timestamp_text.encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def verify_signature(
    body: bytes,
    header: str | None,
    *,
    secret: str,
    now: float,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
) -> int:
    """Check ``header`` signs the raw ``body`` with ``secret``; return the signed unix time.

    Several ``v1`` entries are allowed (the provider sends two while a secret is rolled); other
    schemes such as ``v0`` are ignored. A timestamp more than ``tolerance_seconds`` in the past or in
    the future is refused, so a captured delivery cannot be replayed later. Comparisons run in
    constant time.
    """
    if not header:
        raise BadSignature(f"the {SIGNATURE_HEADER} header is missing")
    if len(header) > MAX_HEADER_CHARS:
        raise BadSignature(f"the {SIGNATURE_HEADER} header is too long")
    timestamp_text: str | None = None
    candidates: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            timestamp_text = value
        elif key == "v1" and _V1_RE.fullmatch(value):
            candidates.append(value.lower())
    if timestamp_text is None or not _TIMESTAMP_RE.fullmatch(timestamp_text):
        raise BadSignature(f"the {SIGNATURE_HEADER} header has no valid timestamp (t=<unix time>)")
    if not candidates:
        raise BadSignature(f"the {SIGNATURE_HEADER} header has no v1 signature")
    if len(candidates) > MAX_SIGNATURES:
        raise BadSignature(f"the {SIGNATURE_HEADER} header has too many signatures")
    expected = _digest(secret, timestamp_text, body).encode("ascii")
    # Check every candidate, not just until the first match, so timing says nothing about which matched.
    matched = False
    for candidate in candidates:
        matched |= hmac.compare_digest(expected, candidate.encode("ascii"))
    if not matched:
        raise BadSignature("no signature matches the body: wrong secret or altered payload")
    timestamp = int(timestamp_text)
    if abs(now - timestamp) > tolerance_seconds:
        raise StaleTimestamp(
            f"the signature's timestamp is {int(now - timestamp)} s away from now "
            f"(more than {tolerance_seconds} s): refused as a possible replay"
        )
    return timestamp


def parse_event(body: bytes) -> PaymentEvent:
    """Parse a verified body into a PaymentEvent; raise MalformedEvent saying what is wrong.

    The two payment intent types must name their order in ``data.object.metadata.order_id`` (and a
    success its payment intent id); charge.refunded and charge.dispute.created must name their
    payment; other types are passed on with whatever they carry.
    """
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise MalformedEvent("the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise MalformedEvent("the event must be a JSON object")
    event_id = data.get("id")
    event_type = data.get("type")
    # storable_text: a NUL or a lone surrogate (both valid JSON escapes) cannot be recorded.
    if not isinstance(event_id, str) or not 1 <= len(event_id) <= 255 or not storable_text(event_id):
        raise MalformedEvent("the event has no 'id' (a string of 1 to 255 characters)")
    if not isinstance(event_type, str) or not 1 <= len(event_type) <= 255 or not storable_text(event_type):
        raise MalformedEvent("the event has no 'type' (a string of 1 to 255 characters)")
    raw_order_id = _metadata_text(data, "order_id", 64)
    obj = data.get("data", {}).get("object") if isinstance(data.get("data"), dict) else None
    obj = obj if isinstance(obj, dict) else {}
    if event_type in PAYMENT_INTENT_TYPES:
        reference = _text(obj.get("id"))
        amount = _amount(obj.get("amount_received"))
    else:
        reference = _text(obj.get("payment_intent")) or _text(obj.get("charge")) or _text(obj.get("id"))
        amount = _amount(obj.get("amount"))
    currency = obj.get("currency")
    fields: dict[str, Any] = {
        "payment_reference": reference,
        "amount_cents": amount,
        "currency": currency.upper()
        if isinstance(currency, str) and re.fullmatch(r"[A-Za-z]{3}", currency)
        else None,
        "event_code": _metadata_text(data, "event", 64),
        "refunded_cents": _amount(obj.get("amount_refunded")),
    }
    if event_type == PAYMENT_SUCCEEDED and reference is None:
        raise MalformedEvent(f"a {event_type} event needs data.object.id (the payment intent)")
    if event_type in (CHARGE_REFUNDED, DISPUTE_CREATED) and reference is None:
        raise MalformedEvent(f"a {event_type} event needs data.object.payment_intent or its charge id")
    if event_type == CHARGE_REFUNDED and fields["refunded_cents"] is None:
        raise MalformedEvent("a charge.refunded event needs data.object.amount_refunded")
    if raw_order_id is None:
        if event_type in PAYMENT_INTENT_TYPES:
            raise MalformedEvent(f"a {event_type} event needs data.object.metadata.order_id")
        return PaymentEvent(id=event_id, type=event_type, order_id=None, **fields)
    try:
        order_id = UUID(raw_order_id)
    except ValueError:
        raise MalformedEvent("data.object.metadata.order_id is not an order id (a UUID)") from None
    return PaymentEvent(id=event_id, type=event_type, order_id=order_id, **fields)


def _text(value: object) -> str | None:
    """A provider id we can store, or None."""
    if isinstance(value, str) and 1 <= len(value) <= 255 and storable_text(value):
        return value
    return None


def _amount(value: object) -> int | None:
    """An amount in the currency's smallest unit (a non-negative JSON integer), or None."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= _MAX_AMOUNT:
        return value
    return None


def _metadata_text(data: dict[str, Any], key: str, max_chars: int) -> str | None:
    node: Any = data
    for step in ("data", "object", "metadata"):
        node = node.get(step) if isinstance(node, dict) else None
    if not isinstance(node, dict):
        return None
    value = node.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > max_chars or not storable_text(value):
        raise MalformedEvent(f"data.object.metadata.{key} must be a string")
    return value
