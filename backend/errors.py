"""Errors of the backend.

BackendError               root; ``code`` is a machine code, ``str(err)`` a human message
 +-- ConfigError           a required setting is missing or malformed (names the variable)
 +-- InvalidInput          a request or command argument is out of range or malformed
 |    +-- PayloadTooLarge  a request body over its route's limit
 +-- EventNotFound         no event has this code
 +-- EventExists           an event with this code already exists
 +-- SoldOut               the event has not enough stock left for this quantity
 +-- OrderNotFound         no order has this id
 +-- InvalidTransition     the order's status does not allow this (cancel a paid order as a buyer, ...)
 +-- Unauthorized          the order's access token is missing or wrong
 +-- NoTickets             the order has no tickets to show (not paid yet, expired, refunded, ...)
 +-- TooMany               a limit on a buyer was reached; ``retry_after`` says in how many seconds to retry
 |    +-- HoldLimit        this email already holds the most pending tickets allowed for the event
 |    +-- RateLimited      this client sent more checkouts than TICKETGATE_CHECKOUT_RATE allows
 +-- RefundFailed          the payment provider did not refund (refused, or unreachable): nothing changed
 +-- DeviceNotFound        no gate device matches this name or id
 +-- DeviceExists          a device of this name is already paired with the event
 +-- PairingInvalid        a pairing code that is unknown, used or expired (not told apart)
 +-- DeviceUnauthorized    a device call without a known device token
 +-- DeviceRevoked         the device's token was revoked by the operator
 +-- BadCursor             a sync cursor this database did not hand out
 +-- Busy                  the database is contended (lock timeout, deadlock): retry shortly
 +-- DatabaseUnavailable   the database cannot be reached or dropped the connection: retry later
"""

from __future__ import annotations


class BackendError(Exception):
    """Root of every error the backend raises on purpose."""

    code = "backend_error"


class ConfigError(BackendError):
    code = "config_error"


class InvalidInput(BackendError):
    code = "invalid_input"


class PayloadTooLarge(InvalidInput):
    code = "payload_too_large"


class EventNotFound(BackendError):
    code = "event_not_found"


class EventExists(BackendError):
    code = "event_exists"


class SoldOut(BackendError):
    code = "sold_out"


class OrderNotFound(BackendError):
    code = "order_not_found"


class Busy(BackendError):
    code = "busy"


class DatabaseUnavailable(BackendError):
    code = "database_unavailable"


class InvalidTransition(BackendError):
    code = "invalid_transition"


class Unauthorized(BackendError):
    code = "unauthorized"


class NoTickets(BackendError):
    code = "no_tickets"


class TooMany(BackendError):
    code = "too_many"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class HoldLimit(TooMany):
    code = "hold_limit"


class RateLimited(TooMany):
    code = "rate_limited"


class RefundFailed(BackendError):
    code = "refund_failed"


class DeviceNotFound(BackendError):
    code = "device_not_found"


class DeviceExists(BackendError):
    code = "device_exists"


class PairingInvalid(BackendError):
    code = "pairing_invalid"


class DeviceUnauthorized(BackendError):
    code = "device_unauthorized"


class DeviceRevoked(BackendError):
    code = "device_revoked"


class BadCursor(BackendError):
    code = "bad_cursor"


class ScanIdsReused(BackendError):
    """A device sent scans under ids it had used for other scans: its store was replaced or restored."""

    code = "scan_ids_reused"
