"""Signing schemes and rotation from the command line, as operators run them (subprocesses, real
database): an Ed25519 event's key file holds no secret and says so; ``keys list`` on the backend and
on a gate shows the scheme, the versions and which are retired."""

from __future__ import annotations

import json
from pathlib import Path

from tests.integration.test_backend_cli import MASTER, _env, ticketgate
from ticketcode import derive_signing_key, derive_verify_key, load_key_file


def _lines(text: str) -> list[list[str]]:
    return [line.split() for line in text.strip().splitlines()]


def test_an_ed25519_event_exports_a_public_key_file_that_a_gate_imports_and_lists(
    database_url: str, tmp_path: Path
) -> None:
    env = {**_env(database_url), "TICKETGATE_MASTER_SECRET": MASTER}
    created = ticketgate(
        "event", "create", "--code", "ED1", "--name", "Edwards night", "--capacity", "20",
        "--signing", "ed25519", env=env,
    )  # fmt: skip
    assert created.returncode == 2 and "4 to 12" in created.stderr  # ED1 is too short: nothing made
    created = ticketgate(
        "event", "create", "--code", "EDNIGHT", "--name", "Edwards night", "--capacity", "20",
        "--signing", "ed25519", env=env,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    assert "ed25519 signing, key version 1" in created.stdout

    key_file = tmp_path / "EDNIGHT.key.json"
    exported = ticketgate("keys", "export", "--event", "EDNIGHT", "--output", str(key_file), env=env)
    assert exported.returncode == 0, exported.stderr
    assert "public key (no secret: it cannot issue tickets)" in exported.stderr
    text = key_file.read_text()
    data = json.loads(text)
    assert (data["algorithm"], data["public"]) == ("Ed25519", True) and "no secret" in data["note"]
    assert load_key_file(text) == derive_verify_key(MASTER.encode(), "EDNIGHT", 1, scheme="ed25519")
    seed = derive_signing_key(MASTER.encode(), "EDNIGHT", 1, scheme="ed25519").seed  # type: ignore[union-attr]
    assert seed.hex() not in text and MASTER not in text

    gate_env = {**env, "TICKETGATE_HOME": str(tmp_path / "gate")}
    imported = ticketgate("keys", "import", str(key_file), env=gate_env)
    assert imported.returncode == 0, imported.stderr
    listed = ticketgate("keys", "list", env=gate_env)
    assert listed.returncode == 0, listed.stderr
    assert [row[:5] for row in _lines(listed.stdout)] == [
        ["EVENT", "VERSION", "SCHEME", "STATE", "TAG"],
        ["EDNIGHT", "v1", "ed25519", "valid", "-"],
    ]


def test_rotate_key_with_reissue_then_keys_list_shows_the_retired_version_on_both_sides(
    database_url: str, tmp_path: Path
) -> None:
    env = {**_env(database_url), "TICKETGATE_MASTER_SECRET": MASTER}
    created = ticketgate(
        "event", "create", "--code", "ROT1", "--name", "Rotation", "--capacity", "5", env=env
    )
    assert created.returncode == 0, created.stderr

    plain = ticketgate("event", "rotate-key", "ROT1", env=env)
    assert plain.returncode == 0, plain.stderr
    assert "key version 2 is current (hmac)" in plain.stdout and "stay valid" in plain.stdout
    reissued = ticketgate("event", "rotate-key", "rot1", "--reissue", env=env)
    assert reissued.returncode == 0, reissued.stderr
    assert "re-signed 0 valid ticket(s) with v3" in reissued.stdout
    assert "versions v1 to v2 are retired" in reissued.stdout

    backend = ticketgate("keys", "list", "--backend", "--event", "ROT1", env=env)
    assert backend.returncode == 0, backend.stderr
    assert [row[:5] for row in _lines(backend.stdout)] == [
        ["EVENT", "VERSION", "SCHEME", "STATE", "TICKETS"],
        ["ROT1", "v1", "hmac", "retired", "0"],
        ["ROT1", "v2", "hmac", "retired", "0"],
        ["ROT1", "v3", "hmac", "current", "0"],
    ]

    gate_env = {**env, "TICKETGATE_HOME": str(tmp_path / "gate")}
    for version in ("1", "3"):
        key_file = tmp_path / f"ROT1.v{version}.json"
        out = ticketgate(
            "keys", "export", "--event", "ROT1", "--version", version, "-o", str(key_file), env=env
        )
        assert out.returncode == 0, out.stderr
        assert ticketgate("keys", "import", str(key_file), env=gate_env).returncode == 0
    gate = ticketgate("keys", "list", env=gate_env)
    assert [row[:5] for row in _lines(gate.stdout)[1:]] == [
        ["ROT1", "v1", "hmac", "retired", "8"],
        ["ROT1", "v3", "hmac", "valid", "8"],
    ]

    missing = ticketgate("keys", "list", "--backend", env=env)
    assert missing.returncode == 2 and "needs --event CODE" in missing.stderr
    unknown = ticketgate("event", "rotate-key", "NOPE1", env=env)
    assert unknown.returncode == 2 and "no event has the code NOPE1" in unknown.stderr
