"""Handlers of the operator's sync commands: device add / list / revoke, scans summary, conflicts.

Everything printed that came from users (device and gate names) goes through ``terminal.safe``.
"""

from __future__ import annotations

import argparse
import io
import json
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import segno

from backend import devices, scan_reports
from backend.commands import _settings, _with_pool
from backend.errors import ConfigError
from backend.terminal import safe
from ticketcode.sync_protocol import (
    Pairing,
    ProtocolError,
    format_pairing_code,
    normalise_server_url,
)


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "never"


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment else None


def device_add(args: argparse.Namespace) -> int:
    """``ticketgate device add --event CODE --name NAME``: a one-time pairing code, as text and QR code."""
    settings = _settings(args)
    server = args.server_url or settings.public_url
    if not server:
        raise ConfigError(
            "the pairing code must say where gates reach this server: pass --server-url http://HOST:PORT "
            "or set TICKETGATE_PUBLIC_URL"
        )
    try:
        server = normalise_server_url(server)
    except ProtocolError as exc:
        raise ConfigError(f"--server-url: {exc}") from None
    pairing = _with_pool(
        settings, lambda pool: devices.add_device(pool, event_code=args.event, name=args.name)
    )
    text = Pairing(code=pairing.code, server_url=server).text()
    if args.json:
        print(json.dumps({"pairing": text, "expires_at": _iso(pairing.expires_at)}))
        return 0
    minutes = devices.PAIRING_VALID_SECONDS // 60
    print(
        f"Device {safe(pairing.name)!r} of event {pairing.event_code} can pair until "
        f"{_when(pairing.expires_at)} ({minutes} minutes, once)."
    )
    print(f"On the gate laptop:  ticketgate pair {text}")
    print("or scan this in the gate app (F6 settings, pair):")
    qr = io.StringIO()
    segno.make(text, error="m").terminal(out=qr, compact=True)
    print(qr.getvalue(), end="")
    print(f"Typed by hand: ticketgate pair {format_pairing_code(pairing.code)} --server {server}")
    return 0


def _device_json(info: devices.DeviceInfo) -> dict[str, Any]:
    return {
        "id": str(info.id),
        "name": info.name,
        "event": info.event_code,
        "state": info.state,
        "created_at": _iso(info.created_at),
        "pairing_expires_at": _iso(info.pairing_expires_at),
        "paired_at": _iso(info.paired_at),
        "revoked_at": _iso(info.revoked_at),
        "last_seen_at": _iso(info.last_seen_at),
        "last_sync_at": _iso(info.last_sync_at),
        "clock_offset_ms": info.clock_offset_ms,
        "scans": info.scans,
    }


def device_list(args: argparse.Namespace) -> int:
    """``ticketgate device list [--event CODE]``: every device, with when it was last seen and synced."""
    settings = _settings(args)
    found = _with_pool(settings, lambda pool: devices.list_devices(pool, event_code=args.event))
    if args.json:
        print(json.dumps([_device_json(info) for info in found], indent=2))
        return 0
    if not found:
        print("no devices yet: add one with ticketgate device add --event CODE --name NAME")
        return 0
    print(
        f"{'name':<24} {'event':<12} {'state':<8} {'paired':<23} {'last seen':<23} {'last sync':<23} "
        f"{'scans':>7}  id"
    )
    for info in found:
        state = info.state
        if state == "waiting" and info.pairing_expires_at and info.pairing_expires_at < datetime.now(UTC):
            state = "expired"
        print(
            f"{safe(info.name):<24} {info.event_code:<12} {state:<8} {_when(info.paired_at):<23} "
            f"{_when(info.last_seen_at):<23} {_when(info.last_sync_at):<23} {info.scans:>7}  {info.id}"
        )
    return 0


def device_revoke(args: argparse.Namespace) -> int:
    """``ticketgate device revoke NAME_OR_ID``: the device's next call is refused (403), no data served."""
    settings = _settings(args)
    info, changed = _with_pool(
        settings, lambda pool: devices.revoke_device(pool, args.device, event_code=args.event)
    )
    name = safe(info.name)
    if changed:
        print(
            f"revoked device {name!r} of event {info.event_code} ({info.id}): its next sync is refused "
            f"and it gets no more data; it had uploaded {info.scans} scan(s)"
        )
    else:
        print(
            f"device {name!r} of event {info.event_code} ({info.id}) was revoked already, "
            f"{_when(info.revoked_at)}"
        )
    return 0


def scans_summary(args: argparse.Namespace) -> int:
    """``ticketgate scans summary --event CODE``: the event's scans as counted on the server."""
    settings = _settings(args)
    summary = _with_pool(settings, lambda pool: scan_reports.scan_summary(pool, args.event))
    if args.json:
        print(json.dumps(asdict(summary)))
        return 0
    print(
        f"{summary.scans} scan(s) uploaded by {summary.devices} device(s): {summary.admitted} admitted, "
        f"{summary.rejected} rejected, {summary.exits} exit(s); {summary.conflicts} conflict(s)"
    )
    return 0


def conflicts(args: argparse.Namespace) -> int:
    """``ticketgate conflicts --event CODE``: tickets let in by two gates while inside."""
    settings = _settings(args)
    found = _with_pool(
        settings, lambda pool: scan_reports.list_conflicts(pool, args.event, withdrawn=args.all)
    )
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "id": c.id,
                        "serial": c.serial,
                        "code": c.code,
                        "first": {"gate": c.first_gate, "device": c.first_device, "at": _iso(c.first_at)},
                        "second": {"gate": c.second_gate, "device": c.second_device, "at": _iso(c.second_at)},
                        "detected_at": _iso(c.detected_at),
                        "withdrawn_at": _iso(c.withdrawn_at),
                    }
                    for c in found
                ],
                indent=2,
            )
        )
        return 0
    if not found:
        print("no conflicts: no ticket was let in twice")
        return 0
    for c in found:
        ticket = c.code or f"serial {c.serial}"
        withdrawn = f"  (withdrawn {_when(c.withdrawn_at)}: it had left in between)" if c.withdrawn_at else ""
        print(
            f"#{c.id} {ticket}: in at {safe(c.first_gate)} {_when(c.first_at)}, "
            f"again at {safe(c.second_gate)} {_when(c.second_at)}{withdrawn}"
        )
    return 0
