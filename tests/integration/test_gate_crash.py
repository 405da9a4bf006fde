"""Crash safety: a gate process killed with SIGKILL at random moments never loses a reported ADMIT
and never admits a ticket twice.

A killed process cannot show whether commits were fsync'd: the kernel keeps its written pages, so
``synchronous=OFF`` survives SIGKILL as well as FULL (only a power cut tells them apart). So the child
also reports the durability its gate really runs with, and the test requires WAL with FULL.

Run as a script, this file is the child: it opens the gate over HOME and verifies the codes of
CODES_FILE from index START on, printing ``VERDICT SCAN_ID CODE`` after each verdict is returned.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from scanner.keystore import KeyStore
from scanner.paths import keys_dir, store_path
from ticketcode import derive_event_key, issue_code

KEY = derive_event_key(b"crash-test-master-secret-32bytes", "CRASH1", 1)
CODE_COUNT = 1500
ROUNDS = 30


def child(home: Path, codes_file: Path, start: int) -> None:
    from scanner.gate import open_gate

    codes = codes_file.read_text().split()
    order = codes[start:] + codes[:start]
    with open_gate(home, gate_name=f"pid{os.getpid()}") as gate:
        journal, synchronous = gate.store.durability
        print(f"READY {journal} {synchronous}", flush=True)
        for code in order:
            result = gate.check(code, source="crash-test")
            # Printed only after check returned: the verdict the staff would have seen.
            print(f"{result.verdict.value} {result.scan_id} {code}", flush=True)


def _run_and_kill(home: Path, codes_file: Path, rng: random.Random) -> list[str]:
    """Start a child, SIGKILL it at a random moment, return its complete output lines."""
    proc = subprocess.Popen(
        [sys.executable, __file__, str(home), str(codes_file), str(rng.randrange(CODE_COUNT))],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    ready = b""
    if rng.random() < 0.2:
        # Some kills land while the child starts: importing, opening or migrating the store.
        time.sleep(rng.uniform(0.0, 0.4))
    else:
        ready = proc.stdout.readline()
        assert ready == b"READY wal FULL\n", proc.stderr.read() if proc.stderr else ready
        # Killed while scanning: somewhere in the first ~120 ms (tens of fsync'd transactions).
        time.sleep(rng.uniform(0.0, 0.12))
    proc.send_signal(signal.SIGKILL)
    out, _err = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "the child finished before it was killed"
    text = ready.decode() + out.decode()
    # A line cut by the kill has no newline: the child never finished saying it, so it does not count.
    return text.split("\n")[:-1]


def test_sigkill_at_random_moments_loses_no_reported_admit_and_admits_nothing_twice(tmp_path: Path) -> None:
    home = tmp_path / "home"
    KeyStore(keys_dir(home)).add(KEY)
    codes = [issue_code(KEY, n) for n in range(1, CODE_COUNT + 1)]
    codes_file = tmp_path / "codes.txt"
    codes_file.write_text("\n".join(codes))
    rng = random.Random(int.from_bytes(os.urandom(4), "big"))

    reported: dict[int, tuple[str, str]] = {}  # scan id -> (verdict, code), as the children said
    for _ in range(ROUNDS):
        for line in _run_and_kill(home, codes_file, rng):
            if line.startswith("READY"):
                continue
            assert len(line.split(" ")) == 3, repr(line)
            verdict, scan_id, code = line.split(" ")
            reported[int(scan_id)] = (verdict, code)

    reported_admits = {sid: code for sid, (v, code) in reported.items() if v == "ADMIT"}
    print(f"{len(reported)} verdicts reported, {len(reported_admits)} of them ADMIT, over {ROUNDS} kills")
    assert len(reported_admits) > ROUNDS  # the kills landed mid-run, not before the first scan
    db = sqlite3.connect(store_path(home))
    try:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        stored = {
            sid: (verdict, code)
            for sid, verdict, code in db.execute("SELECT id, verdict, code FROM scans").fetchall()
        }
        admits = Counter(code for verdict, code in stored.values() if verdict == "ADMIT")
        inside = db.execute("SELECT count(*) FROM presence WHERE inside = 1").fetchone()[0]
    finally:
        db.close()
    # Every verdict a child reported is in the store, with that id and that verdict.
    for sid, seen in reported.items():
        assert stored.get(sid) == seen
    # No code admitted twice, and the presence table agrees with the scans.
    assert admits and max(admits.values()) == 1
    assert inside == len(admits)
    # ALREADY_USED was reported only for codes the store shows as admitted earlier.
    for verdict, code in reported.values():
        if verdict == "ALREADY_USED":
            assert code in admits


if __name__ == "__main__":
    child(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]))
