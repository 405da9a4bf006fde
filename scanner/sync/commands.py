"""Handlers of ``ticketgate pair`` and ``ticketgate sync``."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any

from scanner.errors import SyncError
from scanner.keystore import KeyStore
from scanner.passphrase import unlock_for_command
from scanner.paths import data_home, keys_dir, store_path
from scanner.store import Store
from scanner.sync.credentials import DeviceCredentials, credentials_path, load_credentials
from scanner.sync.pairing import pair_device
from scanner.sync.progress import pull_progress
from scanner.sync.round import RoundReport, run_round
from ticketcode.sync_protocol import parse_pairing

CLOCK_WARNING_MS = 30_000


def _quiet_http_log() -> None:
    """httpx logs every request at INFO: one line per page of a pull, noise unless asked (-v)."""
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        logging.getLogger("httpx").setLevel(logging.WARNING)


def pair(args: argparse.Namespace) -> int:
    """``ticketgate pair PAIRING [--server URL]``: pair, then pull keys and tickets at once."""
    _quiet_http_log()
    home = data_home(args.home)
    pairing = parse_pairing(args.pairing, server_url=args.server)
    # Protected key files stay sealed: the keys this pairing pulls are sealed with the passphrase.
    keys = unlock_for_command(KeyStore(keys_dir(home)))
    with Store.open(store_path(home)) as store:
        try:
            credentials = pair_device(home, pairing, store=store)
        except SyncError as exc:
            print(f"ticketgate: pairing failed: {exc}", file=sys.stderr)
            return exc.exit_code
        print(
            f"paired as {credentials.device_name!r} for {credentials.event} ({credentials.event_name}) "
            f"with {credentials.server_url}; device token kept in {credentials_path(home)} (mode 0600)"
        )
        report = _round(store, keys, credentials)
    if report.ok:
        print(_summary(report))
    else:
        print(f"ticketgate: paired, but the first sync failed: {report.problem}", file=sys.stderr)
        print("run `ticketgate sync` once the server answers", file=sys.stderr)
    _warn_clock(report)
    return report.exit_code


def sync(args: argparse.Namespace) -> int:
    """``ticketgate sync [--json]``: one round now; exit 0 done, 1 unreachable or busy, 2 act."""
    _quiet_http_log()
    home = data_home(args.home)
    credentials = load_credentials(home)
    keys = unlock_for_command(KeyStore(keys_dir(home)))
    with Store.open(store_path(home)) as store:
        report = _round(store, keys, credentials)
    if args.json:
        print(json.dumps(report_json(report), sort_keys=True))
    elif report.ok:
        print(_summary(report))
    else:
        if report.pushed or report.pages:
            print(_summary(report))
        print(f"ticketgate: sync: {report.problem}", file=sys.stderr)
        if report.exit_code == 1:
            print("nothing is lost: scans stay queued; sync again later", file=sys.stderr)
    if not args.json:
        _warn_clock(report)
    return report.exit_code


def _round(store: Store, keys: KeyStore, credentials: DeviceCredentials) -> RoundReport:
    with pull_progress() as progress:
        return run_round(store=store, keys=keys, credentials=credentials, on_progress=progress)


def report_json(report: RoundReport) -> dict[str, Any]:
    return {
        "ok": report.ok,
        "exit_code": report.exit_code,
        "link": report.link,
        "pushed": report.pushed,
        "pulled": {
            "pages": report.pages,
            "tickets": report.pulled.tickets,
            "revoked": report.pulled.revoked,
            "movements": report.pulled.movements,
            "conflicts": report.pulled.conflicts,
        },
        "to_upload": report.pending_upload,
        "conflicts": report.conflicts,
        "clock_offset_ms": report.clock_offset_ms,
        "error": report.problem,
    }


def _summary(report: RoundReport) -> str:
    pulled = report.pulled
    parts = [
        f"pushed {report.pushed} scan(s)",
        f"pulled {pulled.tickets} ticket change(s) ({pulled.revoked} revocation(s)), "
        f"{pulled.movements} movement(s) from other gates, {pulled.conflicts} new conflict(s)",
        f"{report.pending_upload} to upload",
    ]
    if report.conflicts:
        parts.append(f"{report.conflicts} conflict(s) in all")
    if report.clock_offset_ms is not None:
        parts.append(f"clock offset {report.clock_offset_ms / 1000:+.1f} s")
    return "; ".join(parts)


def _warn_clock(report: RoundReport) -> None:
    offset = report.clock_offset_ms
    if offset is not None and abs(offset) > CLOCK_WARNING_MS:
        way = "behind" if offset > 0 else "ahead of"
        print(
            f"warning: this laptop's clock is {abs(offset) / 1000:.0f} s {way} the server's: scans carry the "
            "offset, but set the clock right",
            file=sys.stderr,
        )
