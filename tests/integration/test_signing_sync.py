"""Signing schemes and key rotation end to end: backend (real server, real PostgreSQL) → sync → gate.

An Ed25519 gate holds only public keys and admits real codes; rotation with reissue gives buyers new
codes, and after sync a code of the retired version is REVOKED while the new one admits.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from backend import key_rotation
from backend.db import make_pool
from scanner.keystore import KeyStore
from scanner.paths import keys_dir
from scanner.verdicts import NOT_KNOWN_REASON, Verdict
from tests.integration.gatekit_sync import new_event, pair_gate, shared_backend
from tests.integration.live_server import MASTER_SECRET
from tests.integration.synckit import order_tickets, sell, sell_order
from ticketcode import Ed25519Signer, derive_signing_key, derive_verify_key, issue_code, parse_code


@pytest.fixture(scope="module")
def backend(template_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    with shared_backend(template_database, tmp_path_factory.mktemp("backend")) as started:
        yield started


def _rotate(database_url: str, event: str, *, reissue: bool) -> key_rotation.Rotation:
    async def run() -> key_rotation.Rotation:
        async with make_pool(database_url, min_size=1, max_size=2) as pool:
            return await key_rotation.rotate_key(pool, event, master_secret=MASTER_SECRET, reissue=reissue)

    return asyncio.run(run())


def _versions(database_url: str, event: str) -> list[key_rotation.KeyVersion]:
    async def run() -> list[key_rotation.KeyVersion]:
        async with make_pool(database_url, min_size=1, max_size=1) as pool:
            return await key_rotation.list_versions(pool, event, master_secret=MASTER_SECRET)

    return asyncio.run(run())


def _secret_spellings(secret: bytes) -> list[bytes]:
    """Every way a key file or database could hold these bytes."""
    b64 = base64.b64encode(secret)
    return [
        secret,
        b64,
        b64.rstrip(b"="),
        base64.urlsafe_b64encode(secret).rstrip(b"="),
        secret.hex().encode(),
        secret.hex().upper().encode(),
        base64.b32encode(secret).rstrip(b"="),
    ]


def test_an_ed25519_gate_admits_real_codes_and_holds_no_private_key_anywhere(
    backend: tuple[str, str], tmp_path: Path
) -> None:
    server, database_url = backend
    event = new_event(server, capacity=50, signing="ed25519")
    codes = sell(server, event, 3)
    assert all(parse_code(c).is_ed25519 for c in codes)
    gate = pair_gate(tmp_path, server, database_url, event, "Gate A")

    held = KeyStore(keys_dir(gate.home)).keys_for(event)
    assert [(k.algorithm, k.can_issue) for k in held] == [("Ed25519", False)]
    assert held[0] == derive_verify_key(MASTER_SECRET, event, 1, scheme="ed25519")
    assert [gate.check(c).verdict for c in codes] == [Verdict.ADMIT] * 3
    assert gate.check(codes[0]).verdict is Verdict.ALREADY_USED

    # Nothing in the data folder (key files, store, WAL, credentials, settings) holds the private key
    # or the master secret, in any spelling.
    signer = derive_signing_key(MASTER_SECRET, event, 1, scheme="ed25519")
    assert isinstance(signer, Ed25519Signer)
    secrets = _secret_spellings(signer.seed) + _secret_spellings(MASTER_SECRET)
    files = [p for p in gate.home.rglob("*") if p.is_file()]
    assert any(p.suffix == ".json" and p.parent.name == "keys" for p in files)
    for path in files:
        data = path.read_bytes()
        for spelling in secrets:
            assert spelling not in data, f"{path} holds a private key"
    key_file = json.loads((keys_dir(gate.home) / f"{event}.v1.json").read_text())
    assert key_file["public"] is True and "no secret" in key_file["note"]

    # The gate can verify but not issue: its key refuses to sign, and a code it could make up fails.
    with pytest.raises(ValueError, match="cannot issue"):
        issue_code(held[0], 40)
    forged = issue_code(
        derive_signing_key(b"the thief's own master secret!!!", event, 1, scheme="ed25519"), 40
    )
    assert gate.check(forged).verdict is Verdict.INVALID


def test_typed_event_serial_of_an_ed25519_event_admits_only_a_ticket_known_from_sync(
    backend: tuple[str, str], tmp_path: Path
) -> None:
    server, database_url = backend
    event = new_event(server, capacity=50, signing="ed25519")
    gate = pair_gate(tmp_path, server, database_url, event, "Gate T")
    code = sell(server, event, 1)[0]
    reference = parse_code(code).signed_part
    # Sold after the last sync: the gate has never heard of it, and a typed reference carries no proof.
    unknown = gate.check(reference.lower(), source="manual")
    assert (unknown.verdict, unknown.reason) == (Verdict.INVALID, NOT_KNOWN_REASON)
    assert gate.sync().ok
    # A camera or handheld scanner never takes a bare reference: only typing does.
    assert gate.check(reference, source="camera").verdict is Verdict.INVALID
    admitted = gate.check(f" {reference.lower()} ", source="manual")
    assert (admitted.verdict, admitted.code) == (Verdict.ADMIT, reference)
    assert gate.check(code).verdict is Verdict.ALREADY_USED
    # `ticketgate verify` names the typed ticket whole: no tag to cut off.
    typed = _ticketgate(gate.home, "verify", reference)
    assert typed.returncode == 1, typed.stderr
    assert typed.stdout.split()[:2] == ["ALREADY_USED", reference]


@pytest.mark.parametrize("scheme", ["hmac", "ed25519"])
def test_rotation_with_reissue_end_to_end_old_codes_superseded_new_codes_admit(
    backend: tuple[str, str], tmp_path: Path, scheme: str, caplog: pytest.LogCaptureFixture
) -> None:
    server, database_url = backend
    event = new_event(server, capacity=50, signing=scheme)
    order = sell_order(server, event, 2)
    kept_order = sell_order(server, event, 1)  # admitted before the rotation
    kept = kept_order.tickets[0]
    gate = pair_gate(tmp_path, server, database_url, event, "Gate R")
    assert gate.check(kept).verdict is Verdict.ADMIT

    rotation = _rotate(database_url, event, reissue=True)
    assert (rotation.old_version, rotation.new_version, rotation.reissued, rotation.retired_below) == (
        1,
        2,
        3,
        2,
    )
    new_codes = order_tickets(server, order)
    assert len(new_codes) == 2 and set(new_codes).isdisjoint(order.tickets)
    v2 = derive_verify_key(MASTER_SECRET, event, 2, scheme=scheme)
    assert [parse_code(c).serial for c in new_codes] == [parse_code(c).serial for c in order.tickets]
    # New tickets use the new version too.
    later = sell(server, event, 1)[0]

    with caplog.at_level(logging.WARNING, logger="scanner.keystore"):
        assert gate.sync().ok
    # Said as a warning, so a one-shot `ticketgate sync` shows it: the gate's answers change.
    assert [r.getMessage() for r in caplog.records if r.name == "scanner.keystore"] == [
        f"key {event} v1 is now retired: tickets signed with it are turned away as superseded "
        "(the event's tickets were re-signed)"
    ]
    held = {k.version: k for k in KeyStore(keys_dir(gate.home)).keys_for(event)}
    assert (held[1].retired, held[2].retired, held[2]) == (True, False, v2)
    old = gate.check(order.tickets[0])
    assert (old.verdict, old.reason) == (Verdict.REVOKED, "revoked: superseded: ask for the new ticket")
    assert gate.check(new_codes[0]).verdict is Verdict.ADMIT
    assert gate.check(new_codes[1]).verdict is Verdict.ADMIT
    assert gate.check(later).verdict is Verdict.ADMIT
    # The ticket admitted before the rotation: its old code is superseded, its new one already used.
    assert gate.check(kept).verdict is Verdict.REVOKED
    assert gate.check(order_tickets(server, kept_order)[0]).verdict is Verdict.ALREADY_USED

    listed = _versions(database_url, event)
    assert [(v.version, v.current, v.retired, v.valid_tickets) for v in listed] == [
        (1, False, True, 0),
        (2, True, False, 4),
    ]


def test_rotation_without_reissue_keeps_old_codes_and_signs_new_tickets_with_the_new_version(
    backend: tuple[str, str], tmp_path: Path
) -> None:
    server, database_url = backend
    event = new_event(server, capacity=50)
    old = sell(server, event, 1)[0]
    gate = pair_gate(tmp_path, server, database_url, event, "Gate N")
    rotation = _rotate(database_url, event, reissue=False)
    assert (rotation.new_version, rotation.reissued, rotation.retired_below) == (2, 0, 1)
    new = sell(server, event, 1)[0]
    v2 = derive_verify_key(MASTER_SECRET, event, 2)
    assert new == issue_code(v2, parse_code(new).serial)
    # Until the gate syncs it holds no v2, and a code does not say its version: the signature matches
    # no key held, so INVALID (README, lost-laptop runbook: sync every gate right after rotating).
    assert gate.check(new).verdict is Verdict.INVALID
    assert gate.sync().ok
    assert [k.version for k in KeyStore(keys_dir(gate.home)).keys_for(event)] == [1, 2]
    assert gate.check(old).verdict is Verdict.ADMIT
    assert gate.check(new).verdict is Verdict.ADMIT


def _ticketgate(home: Path, *args: str, stdin: str = "", **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TICKETGATE_")}
    return subprocess.run(
        [sys.executable, "-m", "ticketgate", *args],
        env={**clean, "TICKETGATE_HOME": str(home), **env},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_protected_key_files_stay_sealed_through_sync_and_open_only_with_the_passphrase(
    backend: tuple[str, str], tmp_path: Path
) -> None:
    server, database_url = backend
    event = new_event(server, capacity=50)
    code = sell(server, event, 1)[0]
    gate = pair_gate(tmp_path, server, database_url, event, "Gate P")
    protected = _ticketgate(gate.home, "keys", "protect", stdin="a long passphrase\n")
    assert protected.returncode == 0, protected.stderr
    assert "sealed 1 key file(s)" in protected.stdout

    _rotate(database_url, event, reissue=False)
    new_code = sell(server, event, 1)[0]
    locked = _ticketgate(gate.home, "sync")
    assert locked.returncode == 2 and "protected by a passphrase" in locked.stderr
    assert "Traceback" not in locked.stderr
    synced = _ticketgate(gate.home, "sync", TICKETGATE_KEY_PASSPHRASE="a long passphrase")
    assert synced.returncode == 0, synced.stderr

    folder = keys_dir(gate.home)
    assert folder.stat().st_mode & 0o777 == 0o700
    v2 = derive_verify_key(MASTER_SECRET, event, 2)
    for version in (1, 2):
        path = folder / f"{event}.v{version}.json"
        data = path.read_bytes()
        assert path.stat().st_mode & 0o777 == 0o600
        assert b'"sealed": "AES-256-GCM"' in data
        for spelling in _secret_spellings(derive_verify_key(MASTER_SECRET, event, version).key):
            assert spelling not in data
    wrong = _ticketgate(gate.home, "verify", code, TICKETGATE_KEY_PASSPHRASE="not the passphrase")
    assert wrong.returncode == 2 and "wrong passphrase" in wrong.stderr
    verified = _ticketgate(gate.home, "verify", code, new_code, TICKETGATE_KEY_PASSPHRASE="a long passphrase")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    unlocked = KeyStore(keys_dir(gate.home))
    unlocked.unlock("a long passphrase")
    assert [k.version for k in unlocked.keys_for(event)] == [1, 2] and unlocked.keys_for(event)[1] == v2


def test_a_sync_into_sealed_key_files_whose_protection_file_is_gone_writes_nothing_and_says_why(
    backend: tuple[str, str], tmp_path: Path
) -> None:
    server, database_url = backend
    event = new_event(server, capacity=50)
    gate = pair_gate(tmp_path, server, database_url, event, "Gate O")
    protected = _ticketgate(gate.home, "keys", "protect", stdin="a long passphrase\n")
    assert protected.returncode == 0, protected.stderr
    folder = keys_dir(gate.home)
    (folder / "protection.json").unlink()
    _rotate(database_url, event, reissue=False)  # a new key version waits on the backend too
    before = {p.name: p.read_bytes() for p in folder.iterdir()}

    synced = _ticketgate(gate.home, "sync", TICKETGATE_KEY_PASSPHRASE="a long passphrase")
    assert synced.returncode == 2, synced.stdout + synced.stderr
    assert synced.stderr.count("\n") == 1 and "Traceback" not in synced.stderr
    assert "protection.json" in synced.stderr and "is missing" in synced.stderr
    assert "pair the laptop again" in synced.stderr and "not unlocked" not in synced.stderr
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    for version in (1, 2):
        secret = derive_verify_key(MASTER_SECRET, event, version).key
        for path in folder.iterdir():
            assert all(spelling not in path.read_bytes() for spelling in _secret_spellings(secret))
