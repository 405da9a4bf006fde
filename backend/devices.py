"""Gate devices: one-time pairing codes, device tokens, authentication, listing and revocation.

Only SHA-256 hashes of the secrets are stored: a pairing code (60 bits, valid 15 minutes, used once)
until it is exchanged, then the device token (256 bits) the gate keeps. A device belongs to one event
and sees only that event.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import unicodedata
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.rows import class_row, dict_row
from psycopg_pool import AsyncConnectionPool

from backend.db import database_errors, single_statements, storable_text
from backend.errors import (
    DeviceExists,
    DeviceNotFound,
    DeviceRevoked,
    DeviceUnauthorized,
    EventNotFound,
    InvalidInput,
    PairingInvalid,
)
from backend.events import code_to_look_up
from ticketcode.sync_protocol import AUTH_SCHEME, PAIRING_ALPHABET, PAIRING_CODE_CHARS

PAIRING_VALID_SECONDS = 15 * 60
MAX_DEVICE_NAME_CHARS = 40
# secrets.token_urlsafe(32): 43 characters of the URL-safe base64 alphabet.
_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{20,200}")


@dataclass(frozen=True)
class Device:
    """An authenticated device and what the sync needs of its event."""

    id: UUID
    name: str
    event_id: int
    event_code: str
    event_name: str
    capacity: int
    key_version: int
    share_holders: bool
    signing: str = "hmac"
    retired_below: int = 1


@dataclass(frozen=True)
class NewPairing:
    """A device waiting to pair, and its one-time code (shown once, never stored)."""

    device_id: UUID
    name: str
    event_code: str
    code: str
    expires_at: datetime


@dataclass(frozen=True)
class PairedDevice:
    device: Device
    token: str  # shown once, never stored
    server_time: datetime


@dataclass(frozen=True)
class DeviceInfo:
    """A device as the operator sees it."""

    id: UUID
    name: str
    event_code: str
    created_at: datetime
    pairing_expires_at: datetime | None
    paired_at: datetime | None
    revoked_at: datetime | None
    last_seen_at: datetime | None
    last_sync_at: datetime | None
    clock_offset_ms: int | None
    scans: int

    @property
    def state(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.paired_at is not None:
            return "paired"
        return "waiting"


def secret_hash(secret: str) -> bytes:
    """What the database keeps of a pairing code or token."""
    return hashlib.sha256(secret.encode("utf-8")).digest()


def new_pairing_code() -> str:
    """12 characters of Crockford base32 (60 bits), canonical form (no dashes)."""
    return "".join(secrets.choice(PAIRING_ALPHABET) for _ in range(PAIRING_CODE_CHARS))


def new_device_token() -> str:
    return secrets.token_urlsafe(32)


def normalise_device_name(name: str) -> str:
    """The name shown at gates and in listings; InvalidInput unless 1 to 40 printable characters."""
    if not isinstance(name, str):
        raise InvalidInput("the device name must be text")
    name = name.strip()
    if not storable_text(name):
        raise InvalidInput("the device name must be text (UTF-8, no NUL character)")
    if not 1 <= len(name) <= MAX_DEVICE_NAME_CHARS:
        raise InvalidInput(f"the device name must be 1 to {MAX_DEVICE_NAME_CHARS} characters")
    # Gates show it as "already used at <name>" and terminals print it: no control characters.
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in name):
        raise InvalidInput("the device name must not contain control characters")
    return name


def token_from_authorization(header: str | None) -> str:
    """The token of an ``Authorization: Device <token>`` header; DeviceUnauthorized otherwise."""
    scheme, _, token = (header or "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != AUTH_SCHEME.lower() or not _TOKEN_RE.fullmatch(token):
        raise DeviceUnauthorized(
            f"this needs a device token: Authorization: {AUTH_SCHEME} <token> (pair the gate first)"
        )
    return token


_DEVICE_COLUMNS = (
    "d.id, d.name, e.id AS event_id, e.code AS event_code, e.name AS event_name, e.capacity,"
    " e.key_version, e.share_holders, e.signing, e.retired_below"
)


async def add_device(
    pool: AsyncConnectionPool, *, event_code: str, name: str, valid_seconds: int = PAIRING_VALID_SECONDS
) -> NewPairing:
    """A device of the event waiting to pair, with a fresh one-time code valid ``valid_seconds``.

    Adding a name that is waiting to pair issues a new code for it (the old one stops working);
    DeviceExists if a device of that name is paired with the event and not revoked.
    """
    code = code_to_look_up(event_code)
    name = normalise_device_name(name)
    pairing = new_pairing_code()
    async with database_errors(), pool.connection() as conn, conn.transaction():
        cur = await conn.execute(
            "INSERT INTO devices (event_id, name, pairing_code_hash, pairing_expires_at)"
            " SELECT id, %(name)s, %(hash)s, now() + make_interval(secs => %(valid)s)"
            "   FROM events WHERE code = %(code)s"
            " ON CONFLICT (event_id, name) WHERE revoked_at IS NULL DO UPDATE"
            "   SET pairing_code_hash = excluded.pairing_code_hash,"
            "       pairing_expires_at = excluded.pairing_expires_at"
            "   WHERE devices.paired_at IS NULL"
            " RETURNING id, pairing_expires_at",
            {"name": name, "hash": secret_hash(pairing), "valid": valid_seconds, "code": code},
        )
        row = await cur.fetchone()
        if row is None:
            found = await conn.execute("SELECT 1 FROM events WHERE code = %s", (code,))
            if await found.fetchone() is None:
                raise EventNotFound(f"no event has the code {code}")
            raise DeviceExists(
                f"a device named {name!r} is already paired with event {code}: revoke it first "
                "(ticketgate device revoke) or choose another name"
            )
    return NewPairing(device_id=row[0], name=name, event_code=code, code=pairing, expires_at=row[1])


async def pair_device(pool: AsyncConnectionPool, code: str) -> PairedDevice:
    """Exchange a one-time pairing code (canonical form) for a device token, in one statement.

    PairingInvalid for a code that is unknown, used, expired or whose device was revoked: the four
    are not told apart, so the answer teaches a guesser nothing.
    """
    token = new_device_token()
    async with database_errors(), pool.connection() as conn, conn.transaction():
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(
            "UPDATE devices d SET token_hash = %s, paired_at = now(), last_seen_at = now(),"
            "   pairing_code_hash = NULL, pairing_expires_at = NULL"
            "  FROM events e"
            " WHERE d.pairing_code_hash = %s AND d.pairing_expires_at > now() AND d.revoked_at IS NULL"
            "   AND e.id = d.event_id"
            f" RETURNING {_DEVICE_COLUMNS}, now() AS server_time",
            (secret_hash(token), secret_hash(code)),
        )
        row = await cur.fetchone()
    if row is None:
        raise PairingInvalid(
            "this pairing code is unknown, used or expired: ask the operator for a new one "
            "(ticketgate device add)"
        )
    return PairedDevice(device=_device(row), token=token, server_time=row["server_time"])


def _device(row: dict[str, Any]) -> Device:
    """The Device of a row that selected ``_DEVICE_COLUMNS`` (and maybe more)."""
    return Device(**{f.name: row[f.name] for f in fields(Device)})


async def authenticate(pool: AsyncConnectionPool, token: str) -> Device:
    """The device holding ``token``; DeviceUnauthorized if none does, DeviceRevoked if it was revoked."""
    async with database_errors(), single_statements(pool) as conn:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(
            f"SELECT {_DEVICE_COLUMNS}, d.revoked_at IS NOT NULL AS revoked"
            " FROM devices d JOIN events e ON e.id = d.event_id WHERE d.token_hash = %s",
            (secret_hash(token),),
        )
        row = await cur.fetchone()
    if row is None:
        raise DeviceUnauthorized("this device token is not known here: pair the gate again")
    if row["revoked"]:
        raise DeviceRevoked(
            f"this device ({row['name']}, event {row['event_code']}) was revoked by the operator"
        )
    return _device(row)


async def record_pull(pool: AsyncConnectionPool, device_id: UUID, *, caught_up: bool) -> None:
    """Note that the device was seen at the end of a pull, and synced if nothing was left to send."""
    async with database_errors(), single_statements(pool) as conn:
        await conn.execute(
            "UPDATE devices SET last_seen_at = now(),"
            " last_sync_at = CASE WHEN %s THEN now() ELSE last_sync_at END WHERE id = %s",
            (caught_up, device_id),
        )


_INFO_QUERY = (
    "SELECT d.id, d.name, e.code AS event_code, d.created_at, d.pairing_expires_at, d.paired_at,"
    " d.revoked_at, d.last_seen_at, d.last_sync_at, d.clock_offset_ms,"
    " (SELECT count(*) FROM scans s WHERE s.device_id = d.id) AS scans"
    " FROM devices d JOIN events e ON e.id = d.event_id"
)


async def list_devices(pool: AsyncConnectionPool, *, event_code: str | None = None) -> list[DeviceInfo]:
    """Every device (of one event, if given), by event then name; EventNotFound for an unknown event."""
    async with database_errors(), pool.connection() as conn:
        cur = conn.cursor(row_factory=class_row(DeviceInfo))
        if event_code is None:
            await cur.execute(_INFO_QUERY + " ORDER BY e.code, d.name, d.created_at")
            return await cur.fetchall()
        code = code_to_look_up(event_code)
        found = await conn.execute("SELECT 1 FROM events WHERE code = %s", (code,))
        if await found.fetchone() is None:
            raise EventNotFound(f"no event has the code {code}")
        await cur.execute(_INFO_QUERY + " WHERE e.code = %s ORDER BY d.name, d.created_at", (code,))
        return await cur.fetchall()


def _as_uuid(text: str) -> UUID | None:
    try:
        return UUID(text.strip())
    except ValueError:
        return None


async def revoke_device(
    pool: AsyncConnectionPool, name_or_id: str, *, event_code: str | None = None
) -> tuple[DeviceInfo, bool]:
    """Revoke a device by id, or by name (among devices in service; ``event_code`` narrows it).

    Returns the device and whether this call revoked it (False: it was revoked before). A name that
    matches devices of several events is refused (InvalidInput): give the id. Its token stops working
    at once and its pairing code, if unused, too.
    """
    device_id = _as_uuid(name_or_id)
    if device_id is None and not storable_text(name_or_id):
        # No device can have this name (names are stored text); the statement would fail to send it.
        raise DeviceNotFound(f"no device is named {name_or_id!r} (ticketgate device list shows them)")
    async with database_errors(), pool.connection() as conn, conn.transaction():
        if device_id is None:
            device_id = await _find_by_name(conn, name_or_id.strip(), event_code)
        cur = await conn.execute(
            "UPDATE devices SET revoked_at = now(), pairing_code_hash = NULL, pairing_expires_at = NULL"
            " WHERE id = %s AND revoked_at IS NULL RETURNING id",
            (device_id,),
        )
        changed = await cur.fetchone() is not None
        info_cur = conn.cursor(row_factory=class_row(DeviceInfo))
        await info_cur.execute(_INFO_QUERY + " WHERE d.id = %s", (device_id,))
        info = await info_cur.fetchone()
    if info is None:
        raise DeviceNotFound(f"no device has the id {device_id}")
    return info, changed


async def _find_by_name(conn: AsyncConnection[Any], name: str, event_code: str | None) -> UUID:
    code = code_to_look_up(event_code) if event_code is not None else None
    cur = await conn.execute(
        "SELECT d.id, e.code, d.revoked_at IS NOT NULL FROM devices d JOIN events e ON e.id = d.event_id"
        " WHERE d.name = %s AND (%s::text IS NULL OR e.code = %s)"
        " ORDER BY d.revoked_at IS NOT NULL, d.revoked_at DESC",
        (name, code, code),
    )
    rows = await cur.fetchall()
    active = [row for row in rows if not row[2]]
    if len(active) > 1:
        events = ", ".join(sorted(row[1] for row in active))
        raise InvalidInput(
            f"devices named {name!r} exist for events {events}: give the device's id "
            "(ticketgate device list) or --event"
        )
    if active:
        found: UUID = active[0][0]
        return found
    if rows:
        # Only revoked ones: the most recently revoked is the one meant, and revoking it again is a no-op.
        latest: UUID = rows[0][0]
        return latest
    where = f" of event {code}" if code else ""
    raise DeviceNotFound(f"no device{where} is named {name!r} (ticketgate device list shows them)")
