"""``ticketgate keys import|list``, ``verify`` and ``tickets import`` as a user runs them: real processes."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ticketcode import derive_event_key, dump_key_file, issue_code

SECRET = b"cli-test-master-secret-32-bytes!"
V1 = derive_event_key(SECRET, "VL9IHU", 1)
V2 = derive_event_key(SECRET, "VL9IHU", 2)
OTHER = derive_event_key(SECRET, "OTHER1", 1)


def _run(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TICKETGATE_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "ticketgate", *args], env=env, capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    for key in (V1, V2):
        f = tmp_path / f"key-v{key.version}.json"
        f.write_text(dump_key_file(key))
        result = _run(home, "keys", "import", str(f))
        assert result.returncode == 0, result.stderr
    return home


def test_keys_import_and_list_show_versions_and_fingerprints_never_key_bytes(tmp_path: Path) -> None:
    home = tmp_path / "home"
    f = tmp_path / "key.json"
    f.write_text(dump_key_file(V1))
    imported = _run(home, "keys", "import", str(f))
    assert imported.returncode == 0
    assert imported.stdout == f"imported VL9IHU v1 (fingerprint {V1.fingerprint})\n"
    f.write_text(dump_key_file(V2))
    assert "versions held: v1, v2" in _run(home, "keys", "import", str(f)).stdout
    listed = _run(home, "keys", "list")
    assert listed.returncode == 0
    assert V1.fingerprint in listed.stdout and V2.fingerprint in listed.stdout
    assert "v1" in listed.stdout and "v2" in listed.stdout
    for key in (V1, V2):
        assert base64.b64encode(key.key).decode()[:12] not in listed.stdout + listed.stderr
        assert key.key.hex()[:12] not in listed.stdout + listed.stderr


def test_a_different_key_for_a_held_version_names_the_command_that_replaces_it(tmp_path: Path) -> None:
    # The README tour run twice (a new master secret) used to end here with no way forward.
    home, f = tmp_path / "home", tmp_path / "key.json"
    f.write_text(dump_key_file(V1))
    assert _run(home, "keys", "import", str(f)).returncode == 0
    new = derive_event_key(b"a-new-master-secret-of-32-bytes!", "VL9IHU", 1)
    f.write_text(dump_key_file(new))
    refused = _run(home, "keys", "import", str(f))
    assert refused.returncode == 2 and len(refused.stderr.splitlines()) == 1
    assert "ticketgate keys import --replace FILE" in refused.stderr
    replaced = _run(home, "keys", "import", "--replace", str(f))
    assert replaced.returncode == 0, replaced.stderr
    assert f"replaced fingerprint {V1.fingerprint}" in replaced.stdout
    code = issue_code(new, 7)
    assert _run(home, "verify", code).stdout.startswith("ADMIT")


def test_keys_import_of_a_bad_file_is_one_clear_line_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"event": "VL9IHU", "version": 1, "algorithm": "RSA", "key": "AAAA"}')
    result = _run(tmp_path / "home", "keys", "import", str(bad))
    assert result.returncode == 2
    assert result.stderr == (
        f"ticketgate: error: {bad}: algorithm 'RSA' is not supported (only HMAC-SHA256 or Ed25519)\n"
    )
    assert result.stdout == ""


def test_verify_prints_one_line_per_code_and_exits_0_only_if_all_admitted(home: Path) -> None:
    a, b = issue_code(V1, 1), issue_code(V2, 2)
    first = _run(home, "verify", "--gate", "Gate B", a, b.upper())
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == [
        f"{'ADMIT':<12}  {'VL9IHU-001':<16}  admitted",
        f"{'ADMIT':<12}  {'VL9IHU-002':<16}  admitted",
    ]
    second = _run(home, "verify", a, "hello", issue_code(OTHER, 3))
    assert second.returncode == 1
    lines = second.stdout.splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("ALREADY_USED  VL9IHU-001") and lines[0].endswith(" at Gate B")
    assert lines[1] == f"{'INVALID':<12}  {'-':<16}  not a ticket code (expected EVENT-SERIAL-TAG)"
    assert (
        lines[2]
        == f"{'WRONG_EVENT':<12}  {'OTHER1-003':<16}  ticket for event OTHER1; this gate checks VL9IHU"
    )


def test_verify_exit_mode_records_exits_and_allows_reentry(home: Path) -> None:
    code = issue_code(V1, 5)
    assert _run(home, "verify", code).returncode == 0
    out = _run(home, "verify", "--exit", code)
    assert out.returncode == 0 and out.stdout.rstrip().endswith("exit recorded")
    again = _run(home, "verify", code)
    assert again.returncode == 0 and "re-entry" in again.stdout
    not_inside = _run(home, "verify", "--exit", issue_code(V1, 6))
    assert not_inside.returncode == 1 and not_inside.stdout.startswith("NOT_INSIDE")


def test_verify_without_a_key_or_with_several_events_is_a_usage_error_exit_2(tmp_path: Path) -> None:
    empty = _run(tmp_path / "empty", "verify", issue_code(V1, 1))
    assert empty.returncode == 2 and empty.stdout == ""
    assert empty.stderr.startswith("ticketgate: error: no event key held in ")
    assert "ticketgate keys import FILE" in empty.stderr
    unknown = _run(tmp_path / "empty", "verify", "--event", "VL9IHU", issue_code(V1, 1))
    assert unknown.returncode == 1
    assert unknown.stdout.split("  ")[0] == "UNKNOWN_KEY" and "sync or import a key" in unknown.stdout


def test_verify_on_a_damaged_store_is_one_clear_line_not_a_traceback(home: Path) -> None:
    store = home / "var" / "gate.sqlite3"
    store.parent.mkdir(parents=True, exist_ok=True)
    store.write_bytes(b"garbage" * 1000)
    result = _run(home, "verify", issue_code(V1, 1))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("ticketgate: error: the local store is damaged or not a ticketgate store")


def test_tickets_import_then_verify_says_revoked(home: Path, tmp_path: Path) -> None:
    listing = tmp_path / "tickets.csv"
    listing.write_text("code,holder,revoked,reason\n" + issue_code(V2, 9) + ",Ada,yes,refunded\n")
    imported = _run(home, "tickets", "import", str(listing))
    assert imported.returncode == 0 and imported.stdout.startswith("imported 1 ticket(s)")
    result = _run(home, "verify", issue_code(V2, 9))
    assert result.returncode == 1
    assert result.stdout == f"{'REVOKED':<12}  {'VL9IHU-009':<16}  revoked: refunded\n"


def test_home_flag_wins_over_the_environment(tmp_path: Path) -> None:
    key_file = tmp_path / "key.json"
    key_file.write_text(dump_key_file(V1))
    flagged = tmp_path / "flagged"
    result = _run(tmp_path / "from-env", "keys", "import", "--home", str(flagged), str(key_file))
    assert result.returncode == 0, result.stderr
    assert (flagged / "keys" / "VL9IHU.v1.json").is_file()
    assert not (tmp_path / "from-env").exists()


def test_verify_reads_codes_from_stdin_with_a_dash(home: Path) -> None:
    env = {**os.environ, "TICKETGATE_HOME": str(home)}
    result = subprocess.run(
        [sys.executable, "-m", "ticketgate", "verify", issue_code(V1, 20), "-"],
        input=f"{issue_code(V1, 21)}\n\n  {issue_code(V2, 22)}  \n",
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert [line.split()[1] for line in result.stdout.splitlines()] == [
        "VL9IHU-020",
        "VL9IHU-021",
        "VL9IHU-022",
    ]


def test_verify_whose_reader_went_away_stops_quietly_without_recording_more(home: Path) -> None:
    env = {**os.environ, "TICKETGATE_HOME": str(home)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ticketgate", "verify", "-"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(issue_code(V1, 30) + "\n")
    proc.stdin.flush()
    assert proc.stdout.readline().startswith("ADMIT")
    proc.stdout.close()  # `... | head -1`: the reader has had enough
    _out, err = proc.communicate("".join(issue_code(V1, n) + "\n" for n in range(31, 60)), timeout=60)
    assert proc.returncode == 1 and "Traceback" not in err, err
    # The scan whose verdict could not be printed is recorded; none after it.
    listed = _run(home, "verify", *(issue_code(V1, n) for n in (30, 31, 32)))
    verdicts = [line.split()[0] for line in listed.stdout.splitlines()]
    assert verdicts == ["ALREADY_USED", "ALREADY_USED", "ADMIT"]
