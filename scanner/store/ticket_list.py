"""Ticket lists an operator imports by hand (JSON or CSV): parsed into KnownTickets, or refused whole."""

from __future__ import annotations

import csv
import io
import json
import os
import stat
import unicodedata
from pathlib import Path

from scanner.errors import TicketListError
from scanner.store.tickets import MAX_SERIAL
from scanner.verdicts import KnownTicket
from ticketcode import MalformedCode, parse_code
from ticketcode.keys import EVENT_CODE_RE

# A million tickets with holder names is about 60 MB; anything far larger is not a ticket list.
MAX_TICKET_LIST_BYTES = 256 * 1024 * 1024


def read_ticket_list(path: Path) -> str:
    """The text of the ticket list at ``path``; TicketListError for a file that is missing, not a
    regular file (a device like /dev/zero was read until memory ran out), too large or not UTF-8."""
    try:
        with path.open("rb") as fh:
            info = os.fstat(fh.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise TicketListError(f"{path}: not a regular file")
            if info.st_size > MAX_TICKET_LIST_BYTES:
                raise TicketListError(f"{path}: larger than {MAX_TICKET_LIST_BYTES // 2**20} MiB")
            data = fh.read(MAX_TICKET_LIST_BYTES + 1)
    except FileNotFoundError:
        raise TicketListError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise TicketListError(f"{path}: is a folder, not a ticket list") from None
    except OSError as exc:
        raise TicketListError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_TICKET_LIST_BYTES:
        raise TicketListError(f"{path}: larger than {MAX_TICKET_LIST_BYTES // 2**20} MiB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TicketListError(f"{path}: not UTF-8 text (byte {exc.start})") from None


def parse_ticket_list(text: str, *, name: str = "ticket list") -> list[KnownTicket]:
    """Known tickets from JSON or CSV text; raises TicketListError naming the entry at fault.

    JSON: a list of tickets, or ``{"tickets": [...], "revocations": [...]}``. A ticket is
    ``{"event": "VL9IHU", "serial": 1, "holder": "Ada", "revoked": false, "reason": "..."}`` or
    ``{"code": "VL9IHU-001-f3a2b1c0", ...}``; a revocation is the same, revoked implied.
    CSV: a header row with ``event,serial`` or ``code``, and optionally ``holder``, ``revoked``, ``reason``.
    """
    stripped = text.lstrip("\ufeff").lstrip()
    if stripped.startswith(("[", "{")):
        try:
            data = json.loads(stripped)
        except ValueError as exc:
            raise TicketListError(f"{name}: not valid JSON: {exc}") from None
        except RecursionError:  # json's answer to brackets nested thousands deep
            raise TicketListError(f"{name}: not valid JSON: nested too deeply") from None
        if isinstance(data, list):
            entries = [(e, False) for e in data]
        elif isinstance(data, dict) and set(data) <= {"tickets", "revocations"} and data:
            tickets, revocations = data.get("tickets", []), data.get("revocations", [])
            if not isinstance(tickets, list) or not isinstance(revocations, list):
                raise TicketListError(f"{name}: 'tickets' and 'revocations' must be lists")
            entries = [(e, False) for e in tickets] + [(e, True) for e in revocations]
        else:
            raise TicketListError(f"{name}: expected a list or an object with 'tickets' / 'revocations'")
        return [_ticket_from(e, revoked=r, where=f"{name} entry {i + 1}") for i, (e, r) in enumerate(entries)]
    # newline="": the csv module's own line handling (a lone CR inside a field raised csv.Error).
    reader = csv.DictReader(io.StringIO(stripped, newline=""))
    found = []
    try:
        fields = {f.strip().lower() for f in reader.fieldnames or []}
        if not ({"event", "serial"} <= fields or "code" in fields):
            raise TicketListError(
                f"{name}: not JSON, and not CSV with a header naming 'event,serial' or 'code'"
            )
        for row in reader:
            entry = {k.strip().lower(): (v.strip() if isinstance(v, str) else v) for k, v in row.items() if k}
            found.append(_ticket_from(entry, revoked=False, where=f"{name} line {reader.line_num}"))
    except csv.Error as exc:
        # line_num counts the lines read whole; the one the reader choked on is the next.
        raise TicketListError(f"{name} line {reader.line_num + 1}: not valid CSV: {exc}") from None
    return found


MAX_TEXT_CHARS = 200  # a holder's name or a revocation reason, as shown on the gate's screen
_TRUE = {"1", "true", "yes", "y", "revoked"}
_FALSE = {"", "0", "false", "no", "n", "valid", "paid"}


def _ticket_from(entry: object, *, revoked: bool, where: str) -> KnownTicket:
    if not isinstance(entry, dict):
        raise TicketListError(f"{where}: expected an object")
    if entry.get("code"):
        try:
            code = parse_code(str(entry["code"]))
        except MalformedCode as exc:
            raise TicketListError(f"{where}: code {entry['code']!r}: {exc}") from None
        event, serial = code.event, code.serial
    else:
        event = str(entry.get("event") or "").strip().upper()
        if not EVENT_CODE_RE.fullmatch(event):
            raise TicketListError(f"{where}: event {entry.get('event')!r} is not 4 to 12 of A-Z and 0-9")
        raw_serial = entry.get("serial")
        try:
            if isinstance(raw_serial, bool | float):
                raise ValueError
            serial = int(str(raw_serial).strip())
        except (TypeError, ValueError):
            raise TicketListError(f"{where}: serial {raw_serial!r} is not a whole number") from None
        if not 1 <= serial <= MAX_SERIAL:
            raise TicketListError(f"{where}: serial {serial} does not exist (serials are 1 to {MAX_SERIAL})")
    flag = entry.get("revoked", entry.get("status", False))
    if isinstance(flag, str):
        lowered = flag.strip().lower()
        if lowered in _TRUE or lowered in ("refunded", "cancelled", "canceled"):
            flag = True
        elif lowered in _FALSE:
            flag = False
        else:
            raise TicketListError(f"{where}: revoked/status {flag!r} is neither yes nor no")
    if not isinstance(flag, bool):
        raise TicketListError(f"{where}: revoked must be true or false, not {flag!r}")
    is_revoked = revoked or flag
    reason = entry.get("reason") or entry.get("revoked_reason")
    if is_revoked and not reason:
        status = entry.get("status")
        reason = status if isinstance(status, str) and status.strip() else "refunded or cancelled"
    holder = entry.get("holder")
    return KnownTicket(
        event=event,
        serial=serial,
        holder=_text(holder, "holder", where) if holder is not None else None,
        revoked=is_revoked,
        revoked_reason=_text(reason, "reason", where) if is_revoked and reason else None,
    )


def _text(value: object, field: str, where: str) -> str | None:
    """``value`` as shown on the gate's screen; TicketListError for text the gate cannot store or show
    (a lone surrogate made SQLite raise mid-import; control characters would reach a terminal)."""
    text = " ".join(str(value).split())
    if len(text) > MAX_TEXT_CHARS:
        raise TicketListError(f"{where}: {field} is longer than {MAX_TEXT_CHARS} characters")
    if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in text):
        raise TicketListError(
            f"{where}: {field} {text[:40]!r} holds control characters or unpaired surrogates"
        )
    return text or None
