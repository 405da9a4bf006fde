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
KNOWN_TYPES = frozenset({PAYMENT_SUCCEEDED, PAYMENT_FAILED})

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

    ``order_id`` is None only for event types we do not handle and that carry no order;
    ``payment_reference`` is the provider's id of the payment (``data.object.id``), when given.
    """

    id: str
    type: str
    order_id: UUID | None
    payment_reference: str | None = None


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

    The two payment types must name their order in ``data.object.metadata.order_id``; other types are
    passed on with whatever order they name, or none.
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
    raw_order_id = _metadata_order_id(data)
    payment_object = data.get("data", {}).get("object") if isinstance(data.get("data"), dict) else None
    reference = payment_object.get("id") if isinstance(payment_object, dict) else None
    if not isinstance(reference, str) or not 1 <= len(reference) <= 255 or not storable_text(reference):
        reference = None
    if raw_order_id is None:
        if event_type in KNOWN_TYPES:
            raise MalformedEvent(f"a {event_type} event needs data.object.metadata.order_id")
        return PaymentEvent(id=event_id, type=event_type, order_id=None, payment_reference=reference)
    try:
        order_id = UUID(raw_order_id)
    except ValueError:
        raise MalformedEvent("data.object.metadata.order_id is not an order id (a UUID)") from None
    return PaymentEvent(id=event_id, type=event_type, order_id=order_id, payment_reference=reference)


def _metadata_order_id(data: dict[str, Any]) -> str | None:
    node: Any = data
    for key in ("data", "object", "metadata"):
        node = node.get(key) if isinstance(node, dict) else None
    if not isinstance(node, dict):
        return None
    value = node.get("order_id")
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 64:
        raise MalformedEvent("data.object.metadata.order_id must be a string")
    return value
