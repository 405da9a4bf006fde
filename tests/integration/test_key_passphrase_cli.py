"""The key folder's passphrase as gate staff and scripts give it: real ``ticketgate`` processes on a
folder protected with ``keys protect`` (no backend: keys come from ``keys import``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from scanner.paths import keys_dir
from ticketcode import derive_event_key, dump_key_file, issue_code

SECRET = b"passphrase-test-master-secret-32"
V1 = derive_event_key(SECRET, "PASS01", 1)
V2 = derive_event_key(SECRET, "PASS01", 2)
PASSPHRASE = "a long passphrase"


def _run(home: Path, *args: str, stdin: bytes = b"", **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TICKETGATE_")}
    done = subprocess.run(
        [sys.executable, "-m", "ticketgate", *args],
        env={**clean, "TICKETGATE_HOME": str(home), **env},
        input=stdin,
        capture_output=True,
        timeout=60,
    )
    return subprocess.CompletedProcess(
        done.args, done.returncode, done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace")
    )


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    key_file = tmp_path / "v1.json"
    key_file.write_text(dump_key_file(V1))
    assert _run(home, "keys", "import", str(key_file)).returncode == 0
    protected = _run(home, "keys", "protect", stdin=f"{PASSPHRASE}\n".encode())
    assert protected.returncode == 0, protected.stderr
    return home


def _folder(home: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(keys_dir(home).iterdir())}


def test_sealed_key_files_without_protection_json_never_receive_a_plain_key(
    home: Path, tmp_path: Path
) -> None:
    (keys_dir(home) / "protection.json").unlink()
    before = _folder(home)
    key_file = tmp_path / "v2.json"
    key_file.write_text(dump_key_file(V2))
    for args in (("keys", "import", str(key_file)), ("keys", "protect"), ("verify", issue_code(V1, 5))):
        refused = _run(home, *args, stdin=f"{PASSPHRASE}\n".encode(), TICKETGATE_KEY_PASSPHRASE=PASSPHRASE)
        assert refused.returncode == 2, (args, refused.stdout, refused.stderr)
        assert len(refused.stderr.splitlines()) == 1, refused.stderr
        assert "protection.json" in refused.stderr and "is missing" in refused.stderr
        assert "pair the laptop again" in refused.stderr and "Traceback" not in refused.stderr
        assert _folder(home) == before


def test_a_passphrase_that_is_not_text_is_one_line_about_the_passphrase_never_echoed(home: Path) -> None:
    code = issue_code(V1, 7)
    not_text = os.fsdecode(b"\xff\x1b[2J")  # what Python makes of those bytes in the environment
    for stdin, env in ((b"", {"TICKETGATE_KEY_PASSPHRASE": not_text}), (b"\xff\x1b[2J\n", {})):
        refused = _run(home, "verify", code, stdin=stdin, **env)
        assert refused.returncode == 2, refused.stderr
        assert (
            refused.stderr.splitlines() == [refused.stderr.strip()]
            and "passphrase" in refused.stderr
            and "not valid UTF-8" in refused.stderr
        )
        assert "\x1b" not in refused.stderr and "codec" not in refused.stderr
        assert "protection.json" not in refused.stderr and refused.stdout == ""


def test_a_piped_passphrase_unlocks_every_command_as_the_message_says(home: Path, tmp_path: Path) -> None:
    code = issue_code(V1, 9)
    none = _run(home, "verify", code)
    assert none.returncode == 2 and "pipe it in" in none.stderr and "protected by a passphrase" in none.stderr
    verified = _run(home, "verify", code, stdin=f"{PASSPHRASE}\n".encode())
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout.split()[:2] == ["ADMIT", "PASS01-009"]
    listed = _run(home, "keys", "list", stdin=f"{PASSPHRASE}\n".encode())
    assert listed.returncode == 0 and V1.fingerprint in listed.stdout, listed.stderr
    key_file = tmp_path / "v2.json"
    key_file.write_text(dump_key_file(V2))
    imported = _run(home, "keys", "import", str(key_file), stdin=f"{PASSPHRASE}\n".encode())
    assert imported.returncode == 0, imported.stderr
    assert b'"sealed"' in (keys_dir(home) / "PASS01.v2.json").read_bytes()
    wrong = _run(home, "verify", code, stdin=b"not the passphrase\n")
    assert wrong.returncode == 2 and "wrong passphrase" in wrong.stderr


def test_verify_reading_codes_from_stdin_asks_for_the_passphrase_elsewhere(home: Path) -> None:
    # The first code must not be taken for a passphrase (nor the passphrase for a code).
    refused = _run(home, "verify", "-", stdin=f"{issue_code(V1, 11)}\n".encode())
    assert refused.returncode == 2 and refused.stdout == ""
    assert "standard input carries the codes" in refused.stderr
    assert "TICKETGATE_KEY_PASSPHRASE" in refused.stderr
    verified = _run(
        home, "verify", "-", stdin=f"{issue_code(V1, 11)}\n".encode(), TICKETGATE_KEY_PASSPHRASE=PASSPHRASE
    )
    assert verified.returncode == 0, verified.stderr
