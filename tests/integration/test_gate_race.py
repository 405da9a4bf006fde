"""Two gate processes on one store scan the same 1,000 codes at once: each code is admitted exactly once.

Run as a script, this file is one of the racing gates: it opens the gate over HOME, says READY, waits
for a line on stdin, then verifies every code of CODES_FILE (in order, or shuffled) and prints
``VERDICT CODE`` per scan.
"""

from __future__ import annotations

import random
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from scanner.keystore import KeyStore
from scanner.paths import keys_dir, store_path
from scanner.store import Store
from scanner.verdicts import Counters
from ticketcode import derive_event_key, issue_code

KEY = derive_event_key(b"race-test-master-secret-32-bytes", "RACE01", 1)
CODE_COUNT = 1000


def child(home: Path, codes_file: Path, gate_name: str, *, shuffle: bool) -> None:
    from scanner.gate import open_gate

    codes = codes_file.read_text().split()
    if shuffle:
        random.Random(gate_name).shuffle(codes)
    with open_gate(home, gate_name=gate_name) as gate:
        print("READY", flush=True)
        sys.stdin.readline()
        for code in codes:
            print(f"{gate.check(code, source='race').verdict.value} {code}", flush=True)
            # A breath between scans, as at any gate. Back to back, one process holds SQLite's write
            # lock nearly all the time and the other's busy handler, which polls on a timer, can
            # miss every free moment until the first has finished: then nothing raced.
            time.sleep(0.001)


def test_two_processes_scanning_the_same_codes_admit_each_exactly_once(tmp_path: Path) -> None:
    home = tmp_path / "home"
    KeyStore(keys_dir(home)).add(KEY)
    codes = [issue_code(KEY, n) for n in range(1, CODE_COUNT + 1)]
    codes_file = tmp_path / "codes.txt"
    codes_file.write_text("\n".join(codes))

    procs = [
        subprocess.Popen(
            [sys.executable, __file__, str(home), str(codes_file), name, order],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        # One gate in order, the other shuffled: the same codes collide all along the run instead of
        # one gate simply trailing the other.
        for name, order in (("East", "in-order"), ("West", "shuffled"))
    ]
    for p in procs:  # both have opened the store before either scans
        assert p.stdout is not None and p.stdout.readline() == "READY\n"
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    outputs = [p.communicate(timeout=240) for p in procs]
    for p, (_out, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err

    said = [line.split(" ") for out, _err in outputs for line in out.splitlines()]
    admitted = Counter(code for verdict, code in said if verdict == "ADMIT")
    assert len(said) == 2 * CODE_COUNT
    assert admitted == Counter(codes)  # every code once, none twice
    assert {verdict for verdict, _code in said} == {"ADMIT", "ALREADY_USED"}
    # Both gates really raced: each admitted some of the codes.
    per_gate = [sum(1 for line in out.splitlines() if line.startswith("ADMIT ")) for out, _ in outputs]
    assert all(n > 0 for n in per_gate), per_gate

    db = sqlite3.connect(store_path(home))
    try:
        rows = db.execute("SELECT code, gate FROM scans WHERE verdict = 'ADMIT'").fetchall()
        first = dict(
            db.execute("SELECT event || '-' || serial, first_admitted_gate FROM presence").fetchall()
        )
    finally:
        db.close()
    assert Counter(code for code, _gate in rows) == Counter(codes)
    with Store.open(store_path(home)) as store:  # the running tallies agree with the scans
        assert store.counters(event="RACE01") == Counters(
            admitted=CODE_COUNT, rejected=CODE_COUNT, inside=CODE_COUNT
        )
    assert len(first) == CODE_COUNT and set(first.values()) == {"East", "West"}


if __name__ == "__main__":
    child(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], shuffle=sys.argv[4] == "shuffled")
