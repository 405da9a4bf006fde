"""The sync protocol between gate devices and the backend: the message shapes both programs agree on.

Pure: JSON-ready mappings in, frozen dataclasses out, and back. Both sides decode what they receive
with the ``decode_*`` functions, which check every field and raise ``ProtocolError`` (never anything
else) for a message that is not what this version of the protocol says; see docs/sync-protocol.md.

Endpoints (JSON bodies; errors in the API's one shape ``{"error": {"code", "message"}}``):

- ``POST /api/device/pair`` ``PairRequest`` -> ``PairResponse``: a one-time pairing code for a
  long-lived device token. No other authentication: the code is the secret.
- ``GET /api/sync/pull?cursor=C&limit=N`` -> ``PullPage``: the event's keys, and the changes after
  cursor C (tickets, other gates' movements, conflicts), at most N; ``more`` says whether to ask again.
- ``POST /api/sync/scans`` ``PushRequest`` -> ``PushResponse``: scans recorded at the gate; the
  answer lists the gate's scan ids the server now holds (stored now or before).

Device calls carry ``Authorization: Device <token>``. Every answer carries ``server_time`` so the
gate can measure its clock's offset.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlsplit

import idna

from ticketcode.errors import KeyFileError, TicketCodeError
from ticketcode.keys import EVENT_CODE_RE, EventKey, key_from_mapping, key_to_mapping

PROTOCOL_VERSION = 1

PAIR_PATH = "/api/device/pair"
PULL_PATH = "/api/sync/pull"
PUSH_PATH = "/api/sync/scans"
AUTH_SCHEME = "Device"

# A pull page of this many changes is a few hundred kB of JSON: large enough that 100,000 tickets
# arrive in a couple of dozen round trips, small enough that an interrupted page costs little.
DEFAULT_PULL_LIMIT = 5_000
MAX_PULL_LIMIT = 20_000
MAX_PUSH_BATCH = 1_000

# Pairing text, as printed and drawn as a QR code: "ticketgate-pair:1:K7QX-M2PA-9TRD:http://host:8000".
PAIRING_PREFIX = "ticketgate-pair:"
# Crockford's base32: no I, L, O or U, so a code read aloud or typed is unambiguous.
PAIRING_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
PAIRING_CODE_CHARS = 12  # 60 bits; one-time and valid 15 minutes
_CROCKFORD_ALIASES = str.maketrans("OIL", "011")

VERDICTS = frozenset(
    {"ADMIT", "ALREADY_USED", "INVALID", "WRONG_EVENT", "REVOKED", "UNKNOWN_KEY", "NOT_INSIDE"}
)
Direction = Literal["in", "out"]
TicketStatus = Literal["valid", "revoked"]
MAX_TEXT_CHARS = 200
MAX_SCAN_ID = 2**63 - 1


class ProtocolError(TicketCodeError):
    """A message that does not follow the sync protocol (names the field at fault)."""

    code = "protocol_error"


# ---- pairing ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pairing:
    """What a gate needs to pair: the one-time code and, when the pairing text carried it, the server."""

    code: str
    server_url: str | None = None

    def text(self) -> str:
        """The pairing text printed and drawn as a QR code (needs the server URL)."""
        if self.server_url is None:
            raise ProtocolError("a pairing text needs the server URL")
        return f"{PAIRING_PREFIX}{PROTOCOL_VERSION}:{format_pairing_code(self.code)}:{self.server_url}"


def format_pairing_code(code: str) -> str:
    """``K7QXM2PA9TRD`` as typed by people: ``K7QX-M2PA-9TRD``."""
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


def normalise_pairing_code(text: str) -> str:
    """The canonical code from what a person typed: case, dashes and spaces ignored; O read as 0 and
    I or L as 1 (Crockford). ProtocolError unless it is a well-formed code."""
    if not isinstance(text, str):
        raise ProtocolError("a pairing code must be text")
    cleaned = text.strip().upper().replace("-", "").replace(" ", "")
    cleaned = cleaned.translate(_CROCKFORD_ALIASES)
    if len(cleaned) != PAIRING_CODE_CHARS or any(ch not in PAIRING_ALPHABET for ch in cleaned):
        raise ProtocolError(
            f"not a pairing code: expected {PAIRING_CODE_CHARS} letters and digits like K7QX-M2PA-9TRD"
        )
    return cleaned


_HOST_LABEL_RE = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")


def normalise_server_url(text: str) -> str:
    """``http(s)://host[:port][/path]`` without a trailing slash; ProtocolError for anything else."""
    if not isinstance(text, str) or len(text) > 500:
        raise ProtocolError("the server URL must be text of at most 500 characters")
    url = text.strip().rstrip("/")
    try:
        url.encode("utf-8")
    except UnicodeEncodeError:  # a byte that was not UTF-8 (a lone surrogate): no client can send it
        raise ProtocolError(f"not a server URL (it holds bytes that are not text): {text!r}") from None
    if any(ch.isspace() or unicodedata.category(ch) == "Cc" for ch in url):
        raise ProtocolError(f"not a server URL (it holds spaces or control characters): {text!r}")
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError for a port out of range
    except ValueError:
        raise ProtocolError(f"not a server URL: {text!r}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ProtocolError(f"not a server URL (expected http://host:port): {text!r}")
    if port is not None and port == 0:
        raise ProtocolError(f"not a server URL (port 0): {text!r}")
    if not _is_host(parts.hostname):
        raise ProtocolError(f"not a server URL (no such host name can exist): {text!r}")
    return url


def _is_host(host: str) -> bool:
    """An IP address, or a name a resolver can carry: labels of 1-63 letters, digits, '-' or '_'
    (Docker's service names), or international names and xn-- labels valid under IDNA 2008. The gate's
    HTTP client and resolver meet an empty label, bytes that are not text or a malformed xn-- label
    with an exception, not a reason."""
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    try:
        if not host.isascii():
            # As the gate's HTTP client (httpx) encodes it: IDNA 2008 of the lower-cased name, with
            # no UTS 46 mapping (a full-width name mapped here would be refused there, a traceback).
            host = idna.encode(host.lower()).decode("ascii")
        labels = host.rstrip(".").split(".")
        if not all(_HOST_LABEL_RE.fullmatch(label) for label in labels) or len(host) > 253:
            return False
        for label in labels:
            if label.lower().startswith("xn--"):
                idna.decode(label)
    except (idna.IDNAError, UnicodeError, ValueError):
        return False
    return True


def parse_pairing(text: str, *, server_url: str | None = None) -> Pairing:
    """A pairing from the full pairing text, or from a bare code plus ``server_url``.

    A ``server_url`` given explicitly wins over the one in the text (the operator knows better, e.g.
    behind a proxy). ProtocolError for anything else, saying what was expected.
    """
    if not isinstance(text, str):
        raise ProtocolError("a pairing must be text")
    stripped = text.strip()
    server = normalise_server_url(server_url) if server_url else None
    if stripped.lower().startswith(PAIRING_PREFIX):
        rest = stripped[len(PAIRING_PREFIX) :]
        version, _, rest = rest.partition(":")
        code, _, url = rest.partition(":")
        if version != str(PROTOCOL_VERSION):
            raise ProtocolError(
                f"this pairing is for protocol version {version!r}; this ticketgate speaks {PROTOCOL_VERSION}"
            )
        return Pairing(normalise_pairing_code(code), server or normalise_server_url(url))
    return Pairing(normalise_pairing_code(stripped), server)


# ---- messages --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventInfo:
    """The device's event, as the gate needs it."""

    code: str
    name: str
    capacity: int
    signing: str = "hmac"


@dataclass(frozen=True)
class PairRequest:
    code: str
    protocol: int = PROTOCOL_VERSION


@dataclass(frozen=True)
class PairResponse:
    """A paired device: its id, its name (the gate name it shows), its token (shown once), its event."""

    device_id: str
    device_name: str
    token: str
    event: EventInfo
    server_time: datetime


@dataclass(frozen=True)
class TicketChange:
    """A ticket of the device's event as it is now: issued (valid) or revoked, with why and when."""

    serial: int
    code: str
    status: TicketStatus
    changed_at: datetime
    reason: str | None = None
    order: str | None = None  # the order's reference (its id), for staff looking a ticket up
    holder: str | None = None  # only where the organiser shares holder names with gates


@dataclass(frozen=True)
class MovementChange:
    """An entry or exit another gate recorded (an ADMIT scan), in the server's merged timeline."""

    scan: str  # the scan's global id: "<device id>/<gate scan id>"
    gate: str
    serial: int
    direction: Direction
    at: datetime  # when it happened, corrected to the server's clock


@dataclass(frozen=True)
class ConflictChange:
    """Two gates admitted the same ticket while it was inside (both offline, say): both scans stand.

    A conflict is sent again whenever it changes, stating it as it is now (the same ``id``): when a
    late upload shows the ticket had left in between (an exit recorded offline), it is ``withdrawn``.
    """

    id: str
    serial: int
    scans: tuple[str, str]
    gates: tuple[str, str]
    at: tuple[datetime, datetime]
    withdrawn: bool = False  # added within protocol 1: absent means False, older gates ignore it


Change = TicketChange | MovementChange | ConflictChange


@dataclass(frozen=True)
class PullPage:
    event: EventInfo
    keys: tuple[EventKey, ...]
    changes: tuple[Change, ...]
    cursor: str  # opaque: hand it back to get what follows
    more: bool  # another page is ready now
    server_time: datetime
    remaining: int | None = None  # changes ready after this page (for a progress bar), when known


@dataclass(frozen=True)
class ScanUpload:
    """One scan as the gate recorded it; ``id`` is the gate's own scan id (unique per device)."""

    id: int
    scanned_at: datetime  # the device's clock
    gate: str
    direction: Direction
    verdict: str
    reason: str
    source: str
    clock_offset_ms: int | None = None  # server clock minus device clock, last measured
    code: str | None = None  # the normalised code, when the scan was a well-formed code
    event: str | None = None
    serial: int | None = None


@dataclass(frozen=True)
class PushRequest:
    scans: tuple[ScanUpload, ...]


@dataclass(frozen=True)
class PushResponse:
    acknowledged: tuple[int, ...]
    server_time: datetime


# ---- encoding --------------------------------------------------------------------------------------


def _time(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ProtocolError("times on the wire must be aware (UTC)")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def encode_event(event: EventInfo) -> dict[str, Any]:
    return {"code": event.code, "name": event.name, "capacity": event.capacity, "signing": event.signing}


def encode_pair_request(request: PairRequest) -> dict[str, Any]:
    return {"code": request.code, "protocol": request.protocol}


def encode_pair_response(response: PairResponse) -> dict[str, Any]:
    return {
        "device_id": response.device_id,
        "device_name": response.device_name,
        "token": response.token,
        "event": encode_event(response.event),
        "server_time": _time(response.server_time),
    }


def encode_change(change: Change) -> dict[str, Any]:
    if isinstance(change, TicketChange):
        return {
            "type": "ticket",
            "serial": change.serial,
            "code": change.code,
            "status": change.status,
            "changed_at": _time(change.changed_at),
            "reason": change.reason,
            "order": change.order,
            "holder": change.holder,
        }
    if isinstance(change, MovementChange):
        return {
            "type": "movement",
            "scan": change.scan,
            "gate": change.gate,
            "serial": change.serial,
            "direction": change.direction,
            "at": _time(change.at),
        }
    return {
        "type": "conflict",
        "id": change.id,
        "serial": change.serial,
        "scans": list(change.scans),
        "gates": list(change.gates),
        "at": [_time(t) for t in change.at],
        "withdrawn": change.withdrawn,
    }


def encode_pull_page(page: PullPage) -> dict[str, Any]:
    return {
        "event": encode_event(page.event),
        "keys": [key_to_mapping(k) for k in page.keys],
        "changes": [encode_change(c) for c in page.changes],
        "cursor": page.cursor,
        "more": page.more,
        "remaining": page.remaining,
        "server_time": _time(page.server_time),
    }


def encode_scan(scan: ScanUpload) -> dict[str, Any]:
    return {
        "id": scan.id,
        "scanned_at": _time(scan.scanned_at),
        "clock_offset_ms": scan.clock_offset_ms,
        "gate": scan.gate,
        "direction": scan.direction,
        "verdict": scan.verdict,
        "reason": scan.reason,
        "source": scan.source,
        "code": scan.code,
        "event": scan.event,
        "serial": scan.serial,
    }


def encode_push_request(request: PushRequest) -> dict[str, Any]:
    return {"scans": [encode_scan(s) for s in request.scans]}


def encode_push_response(response: PushResponse) -> dict[str, Any]:
    return {"acknowledged": list(response.acknowledged), "server_time": _time(response.server_time)}


# ---- decoding --------------------------------------------------------------------------------------

_GLOBAL_SCAN_RE = re.compile(r"[0-9a-fA-F-]{1,64}/[0-9]{1,19}")


def _object(data: object, what: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise ProtocolError(f"{what} must be a JSON object")
    return data


def _field(data: Mapping[str, Any], name: str, what: str) -> Any:
    if name not in data:
        raise ProtocolError(f"{what} lacks {name!r}")
    return data[name]


def _text(value: object, where: str, *, optional: bool = False, limit: int = MAX_TEXT_CHARS) -> Any:
    if value is None and optional:
        return None
    if not isinstance(value, str) or len(value) > limit or "\x00" in value:
        raise ProtocolError(f"{where} must be text of at most {limit} characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ProtocolError(f"{where} is not valid text (lone surrogate)") from None
    return value


def _int(value: object, where: str, *, minimum: int, maximum: int, optional: bool = False) -> Any:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise ProtocolError(f"{where} must be a whole number from {minimum} to {maximum}")
    return value


def _bool(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise ProtocolError(f"{where} must be true or false")
    return value


def _when(value: object, where: str) -> datetime:
    text = _text(value, where, limit=64)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ProtocolError(f"{where} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise ProtocolError(f"{where} must carry a time zone")
    return moment.astimezone(UTC)


def _event_code(value: object, where: str, *, optional: bool = False) -> Any:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not EVENT_CODE_RE.fullmatch(value):
        raise ProtocolError(f"{where} must be an event code (4 to 12 of A-Z and 0-9)")
    return value


def _direction(value: object, where: str) -> Direction:
    if value == "in":
        return "in"
    if value == "out":
        return "out"
    raise ProtocolError(f"{where} must be 'in' or 'out'")


def _list(value: object, where: str, *, limit: int) -> list[Any]:
    if not isinstance(value, list) or len(value) > limit:
        raise ProtocolError(f"{where} must be a list of at most {limit} items")
    return value


def _serial(value: object, where: str, *, optional: bool = False) -> Any:
    return _int(value, where, minimum=1, maximum=999_999_999, optional=optional)


def _global_scan(value: object, where: str) -> str:
    text = _text(value, where, limit=90)
    if not _GLOBAL_SCAN_RE.fullmatch(text):
        raise ProtocolError(f"{where} must be '<device id>/<scan id>'")
    return str(text)


def decode_event(data: object) -> EventInfo:
    obj = _object(data, "event")
    return EventInfo(
        code=_event_code(_field(obj, "code", "event"), "event.code"),
        name=_text(_field(obj, "name", "event"), "event.name"),
        capacity=_int(_field(obj, "capacity", "event"), "event.capacity", minimum=1, maximum=10_000_000),
        signing=_text(obj.get("signing", "hmac"), "event.signing", limit=20),
    )


def decode_pair_request(data: object) -> PairRequest:
    obj = _object(data, "pairing request")
    protocol = _int(obj.get("protocol", PROTOCOL_VERSION), "protocol", minimum=1, maximum=1000)
    return PairRequest(code=normalise_pairing_code(_field(obj, "code", "pairing request")), protocol=protocol)


def decode_pair_response(data: object) -> PairResponse:
    obj = _object(data, "pairing response")
    return PairResponse(
        device_id=_text(_field(obj, "device_id", "pairing response"), "device_id", limit=64),
        device_name=_text(_field(obj, "device_name", "pairing response"), "device_name", limit=40),
        token=_text(_field(obj, "token", "pairing response"), "token", limit=200),
        event=decode_event(_field(obj, "event", "pairing response")),
        server_time=_when(_field(obj, "server_time", "pairing response"), "server_time"),
    )


def decode_change(data: object) -> Change:
    obj = _object(data, "change")
    kind = obj.get("type")
    if kind == "ticket":
        status = _field(obj, "status", "ticket change")
        if status not in ("valid", "revoked"):
            raise ProtocolError("ticket change status must be 'valid' or 'revoked'")
        return TicketChange(
            serial=_serial(_field(obj, "serial", "ticket change"), "ticket.serial"),
            code=_text(_field(obj, "code", "ticket change"), "ticket.code", limit=200),
            status=status,
            changed_at=_when(_field(obj, "changed_at", "ticket change"), "ticket.changed_at"),
            reason=_text(obj.get("reason"), "ticket.reason", optional=True),
            order=_text(obj.get("order"), "ticket.order", optional=True, limit=64),
            holder=_text(obj.get("holder"), "ticket.holder", optional=True),
        )
    if kind == "movement":
        return MovementChange(
            scan=_global_scan(_field(obj, "scan", "movement"), "movement.scan"),
            gate=_text(_field(obj, "gate", "movement"), "movement.gate", limit=40),
            serial=_serial(_field(obj, "serial", "movement"), "movement.serial"),
            direction=_direction(_field(obj, "direction", "movement"), "movement.direction"),
            at=_when(_field(obj, "at", "movement"), "movement.at"),
        )
    if kind == "conflict":
        scans = _list(_field(obj, "scans", "conflict"), "conflict.scans", limit=2)
        gates = _list(_field(obj, "gates", "conflict"), "conflict.gates", limit=2)
        times = _list(_field(obj, "at", "conflict"), "conflict.at", limit=2)
        if not len(scans) == len(gates) == len(times) == 2:
            raise ProtocolError("a conflict names exactly two scans, two gates and two times")
        return ConflictChange(
            id=_text(_field(obj, "id", "conflict"), "conflict.id", limit=64),
            serial=_serial(_field(obj, "serial", "conflict"), "conflict.serial"),
            scans=(_global_scan(scans[0], "conflict.scans"), _global_scan(scans[1], "conflict.scans")),
            gates=(
                _text(gates[0], "conflict.gates", limit=40),
                _text(gates[1], "conflict.gates", limit=40),
            ),
            at=(_when(times[0], "conflict.at"), _when(times[1], "conflict.at")),
            withdrawn=_bool(obj.get("withdrawn", False), "conflict.withdrawn"),
        )
    raise ProtocolError(f"unknown change type {kind!r}")


def decode_pull_page(data: object) -> PullPage:
    obj = _object(data, "pull page")
    keys = []
    for raw in _list(_field(obj, "keys", "pull page"), "keys", limit=1000):
        try:
            keys.append(key_from_mapping(raw))
        except KeyFileError as exc:
            raise ProtocolError(f"a key in the pull page is unusable: {exc}") from None
    changes = tuple(
        decode_change(c) for c in _list(_field(obj, "changes", "pull page"), "changes", limit=MAX_PULL_LIMIT)
    )
    remaining = obj.get("remaining")
    return PullPage(
        event=decode_event(_field(obj, "event", "pull page")),
        keys=tuple(keys),
        changes=changes,
        cursor=_text(_field(obj, "cursor", "pull page"), "cursor", limit=500),
        more=_bool(_field(obj, "more", "pull page"), "more"),
        server_time=_when(_field(obj, "server_time", "pull page"), "server_time"),
        remaining=_int(remaining, "remaining", minimum=0, maximum=2**62, optional=True),
    )


def decode_scan(data: object) -> ScanUpload:
    obj = _object(data, "scan")
    verdict = _field(obj, "verdict", "scan")
    if not isinstance(verdict, str) or verdict not in VERDICTS:  # a list or object is unhashable
        raise ProtocolError(f"scan.verdict must be one of {', '.join(sorted(VERDICTS))}")
    return ScanUpload(
        id=_int(_field(obj, "id", "scan"), "scan.id", minimum=1, maximum=MAX_SCAN_ID),
        scanned_at=_when(_field(obj, "scanned_at", "scan"), "scan.scanned_at"),
        gate=_text(_field(obj, "gate", "scan"), "scan.gate", limit=40),
        direction=_direction(_field(obj, "direction", "scan"), "scan.direction"),
        verdict=verdict,
        reason=_text(_field(obj, "reason", "scan"), "scan.reason", limit=300),
        source=_text(_field(obj, "source", "scan"), "scan.source", limit=20),
        clock_offset_ms=_int(
            obj.get("clock_offset_ms"),
            "scan.clock_offset_ms",
            minimum=-(10**12),
            maximum=10**12,
            optional=True,
        ),
        code=_text(obj.get("code"), "scan.code", optional=True),
        event=_event_code(obj.get("event"), "scan.event", optional=True),
        serial=_serial(obj.get("serial"), "scan.serial", optional=True),
    )


def decode_push_request(data: object) -> PushRequest:
    obj = _object(data, "push request")
    scans = _list(_field(obj, "scans", "push request"), "scans", limit=MAX_PUSH_BATCH)
    return PushRequest(scans=tuple(decode_scan(s) for s in scans))


def decode_push_response(data: object) -> PushResponse:
    obj = _object(data, "push response")
    acknowledged = _list(_field(obj, "acknowledged", "push response"), "acknowledged", limit=MAX_PUSH_BATCH)
    return PushResponse(
        acknowledged=tuple(_int(i, "acknowledged", minimum=1, maximum=MAX_SCAN_ID) for i in acknowledged),
        server_time=_when(_field(obj, "server_time", "push response"), "server_time"),
    )
