"""Handlers of the scanner's offline commands: keys import, list and protect, verify, tickets import."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from scanner.errors import VerifyInputError
from scanner.gate import open_gate
from scanner.keystore import KeyStore
from scanner.passphrase import new_passphrase, unlock_for_command
from scanner.paths import data_home, keys_dir, settings_path, store_path
from scanner.settings import GateSettings, SettingsError, load_settings
from scanner.store import Store
from scanner.verdicts import Direction, ScanResult


def keys_import(args: argparse.Namespace) -> int:
    """``ticketgate keys import FILE``: validate the key file and keep it (mode 0600)."""
    home = data_home(args.home)
    store = unlock_for_command(KeyStore(keys_dir(home)))
    held = {(k.event, k.version): k.fingerprint for k in store.all()}
    key = store.import_file(Path(args.file), replace=args.replace)
    versions = [k.version for k in store.keys_for(key.event)]
    also = f"; versions held: {', '.join(f'v{v}' for v in versions)}" if len(versions) > 1 else ""
    replaced = held.get((key.event, key.version))
    if replaced is not None and replaced != key.fingerprint:
        also += f"; replaced fingerprint {replaced}"
    print(f"imported {key.event} v{key.version} (fingerprint {key.fingerprint}){also}")
    return 0


def keys_list(args: argparse.Namespace) -> int:
    """``ticketgate keys list``: events, versions, scheme, retired or not, fingerprints; never key bytes."""
    home = data_home(args.home)
    store = unlock_for_command(KeyStore(keys_dir(home)))
    keys = store.all()
    if store.protected:
        print(f"key files in {store.directory} are sealed with a passphrase (scrypt + AES-256-GCM)")
    if not keys:
        print(f"no keys held in {store.directory}")
    else:
        print(f"{'EVENT':<12}  {'VERSION':>7}  {'SCHEME':<7}  {'STATE':<8}  {'TAG':>3}  FINGERPRINT")
        for key in keys:
            # The newest version held is the one new tickets use; an Ed25519 key is public.
            state = "retired" if key.retired else "valid"
            tag = str(key.tag_hex_digits) if key.can_issue else "-"
            print(
                f"{key.event:<12}  {'v' + str(key.version):>7}  {key.scheme:<7}  {state:<8}  {tag:>3}"
                f"  {key.fingerprint}"
            )
    for problem in store.problems():
        print(f"warning: unusable key file {problem}", file=sys.stderr)
    return 0


def keys_protect(args: argparse.Namespace) -> int:
    """``ticketgate keys protect``: seal the key files with a passphrase (asked at every start)."""
    home = data_home(args.home)
    store = KeyStore(keys_dir(home))
    already = store.protected
    sealed = store.protect(new_passphrase())
    if already:
        print(f"the key files in {store.directory} were already protected; sealed {sealed} more")
    else:
        print(
            f"sealed {sealed} key file(s) in {store.directory} with the passphrase (scrypt + AES-256-GCM);"
            " keys pulled or imported from now on are sealed too. The gate app asks for the passphrase at"
            " start; commands ask in a terminal or read TICKETGATE_KEY_PASSPHRASE. A forgotten passphrase"
            " cannot be recovered: pair the laptop again (or import the keys again) after removing the"
            " key folder."
        )
    return 0


def verify(args: argparse.Namespace) -> int:
    """``ticketgate verify CODE...``: one line per code; 0 only if every code was admitted, else 1.

    A CODE of ``-`` reads codes from standard input, one per line (blank lines skipped); input with
    no code at all is an error, not a pass (a script piping an empty list must not read "admitted").
    """
    home = data_home(args.home)
    direction = Direction.OUT if args.exit_mode else Direction.IN
    all_admitted = True
    checked = 0
    # The gate app's saved settings (set by pairing, too) name this gate and its event by default.
    try:
        stored = load_settings(settings_path(home))
    except SettingsError:
        stored = GateSettings()
    event = args.event or stored.event
    with open_gate(home, event=event, gate_name=args.gate or stored.gate_name) as gate:
        # `verify -` reads codes from standard input: the passphrase cannot come from there too.
        unlock_for_command(gate.keys, stdin_free="-" not in args.codes)
        for raw in _codes(args.codes):
            result = gate.check(raw, direction=direction, source="cli")
            try:
                print(format_result(result), flush=True)
            except BrokenPipeError:
                # `ticketgate verify - < codes | head -1`: nobody reads the verdicts any more, so stop
                # before recording admissions nobody sees; exit 1, as not every admission was reported.
                sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - Python flushes stdout at exit
                return 1
            all_admitted = all_admitted and result.admitted
            checked += 1
    if not checked:
        raise VerifyInputError("standard input held no ticket code (give one code per line)")
    return 0 if all_admitted else 1


# A ticket code is under 40 characters and parsing stops at 200; a longer line is no scan.
_MAX_STDIN_LINE_CHARS = 4096


def _codes(arguments: list[str]) -> Iterator[str]:
    for argument in arguments:
        if argument == "-":
            yield from _stdin_codes()
        else:
            yield argument


def _stdin_codes() -> Iterator[str]:
    """Non-blank lines of standard input, each read with a bound: ``verify - < /dev/zero`` used to
    read one endless line until memory ran out."""
    while line := sys.stdin.readline(_MAX_STDIN_LINE_CHARS + 1):
        if len(line) > _MAX_STDIN_LINE_CHARS:
            raise VerifyInputError(
                f"standard input: a line over {_MAX_STDIN_LINE_CHARS} characters is not a ticket code; "
                "stopped (give one code per line)"
            )
        if line.strip():
            yield line


def format_result(result: ScanResult) -> str:
    """``VERDICT  EVENT-SERIAL  reason`` (``-`` when the scan was not a well-formed code)."""
    ticket = "-"
    if result.event is not None and result.code is not None:
        # EVENT-SERIAL-TAG, or a typed EVENT-SERIAL (no tag): the ticket is the first two parts.
        ticket = "-".join(result.code.split("-")[:2])
    return f"{result.verdict.value:<12}  {ticket:<16}  {result.reason}"


def tickets_import(args: argparse.Namespace) -> int:
    """``ticketgate tickets import FILE``: known tickets and revocations from JSON or CSV."""
    home = data_home(args.home)
    with Store.open(store_path(home)) as store:
        count = store.import_tickets(Path(args.file))
    print(f"imported {count} ticket(s) into {store_path(home)}")
    return 0
