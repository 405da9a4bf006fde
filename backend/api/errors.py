"""The one error shape of the API, and where a ``BackendError`` becomes an HTTP status.

Every error answer, on every route: ``{"error": {"code": "<machine code>", "message": "<sentence>"}}``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fastapi.responses import JSONResponse

from backend import errors, webhooks

# The first class in an error's MRO found here decides its status (so subclasses may refine).
_STATUS: dict[type[Exception], int] = {
    errors.PayloadTooLarge: 413,
    errors.InvalidInput: 422,
    errors.EventNotFound: 404,
    errors.OrderNotFound: 404,
    errors.InvalidTransition: 409,
    errors.Unauthorized: 401,
    errors.NoTickets: 409,
    errors.TooMany: 429,
    errors.RefundFailed: 502,
    errors.EventExists: 409,
    errors.SoldOut: 409,
    errors.DeviceNotFound: 404,
    errors.DeviceExists: 409,
    errors.PairingInvalid: 401,
    errors.DeviceUnauthorized: 401,
    errors.DeviceRevoked: 403,
    errors.BadCursor: 400,
    errors.ScanIdsReused: 409,
    errors.Busy: 503,
    errors.DatabaseUnavailable: 503,
    webhooks.WebhookError: 400,
    errors.BackendError: 500,
}
RETRY_LATER = {"Retry-After": "1"}


def error_response(
    status: int, code: str, message: str, *, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """The one error shape every endpoint answers with."""
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


def status_of(exc: Exception) -> int:
    """The HTTP status of a backend error (500 for anything unmapped)."""
    for cls in type(exc).__mro__:
        if cls in _STATUS:
            return _STATUS[cls]
    return 500


def describe_errors(errors: Sequence[Any]) -> str:
    """One readable sentence from pydantic's error list, e.g. "quantity: Input should be ..."."""
    parts = []
    for error in errors[:3]:
        if error.get("type") == "json_invalid":
            parts.append("the body is not valid JSON")
            continue
        location = ".".join(str(part) for part in error.get("loc", ()) if part != "body") or "body"
        parts.append(f"{location}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"
