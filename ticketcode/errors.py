"""Errors of the ticket-code format.

TicketCodeError            root; ``code`` is a machine code, ``str(err)`` a short human reason
 +-- MalformedCode         the text is not a well-formed EVENT-SERIAL-TAG code
 +-- KeyFileError          a key file is unreadable, malformed, of another algorithm, or its key is short
"""

from __future__ import annotations


class TicketCodeError(Exception):
    """Root of every error this package raises."""

    code = "ticket_code_error"


class MalformedCode(TicketCodeError):
    """The text is not a ticket code at all (as opposed to a code with a bad signature)."""

    code = "malformed_code"


class KeyFileError(TicketCodeError):
    """A key file cannot be used; the message names what is wrong with it."""

    code = "bad_key_file"
