"""Gate.check on a real SQLite store and real key files: every verdict, persistence, re-entry, threads."""

from __future__ import annotations

import sqlite3
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scanner.errors import GateConfigError
from scanner.gate import Gate, open_gate
from scanner.keystore import KeyStore
from scanner.paths import keys_dir, store_path
from scanner.verdicts import NOT_KNOWN_REASON, Direction, KnownTicket, Verdict
from ticketcode import (
    EventKey,
    derive_event_key,
    derive_signing_key,
    derive_verify_key,
    dump_key_file,
    issue_code,
)

SECRET = b"integration-master-secret-32byte"
V1 = derive_event_key(SECRET, "VL9IHU", 1)
V2 = derive_event_key(SECRET, "VL9IHU", 2)
OTHER = derive_event_key(SECRET, "OTHER1", 1)
ED_SIGNER = derive_signing_key(SECRET, "EDEV1", 1, scheme="ed25519")
ED_KEY = derive_verify_key(SECRET, "EDEV1", 1, scheme="ed25519")


def _home(tmp_path: Path, *keys: EventKey) -> Path:
    """A data folder whose keys were imported from real key files, as an operator would."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    home = tmp_path / "home"
    store = KeyStore(keys_dir(home))
    for key in keys:
        f = tmp_path / f"{key.event}-{key.version}.json"
        f.write_text(dump_key_file(key))
        store.import_file(f)
    return home


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return _home(tmp_path, V1, V2)


def test_valid_code_admits_and_again_is_already_used_naming_the_first_admission(home: Path) -> None:
    code = issue_code(V2, 1)
    with open_gate(home, gate_name="Gate B") as gate:
        first = gate.check(code, source="camera")
        second = gate.check(f"  {code.upper()} ", source="wedge")
    assert first.admitted and first.verdict is Verdict.ADMIT and first.reason == "admitted"
    assert (first.code, first.event, first.serial, first.gate, first.source) == (
        code, "VL9IHU", 1, "Gate B", "camera",
    )  # fmt: skip
    assert first.scanned_at.utcoffset() is not None
    assert second.verdict is Verdict.ALREADY_USED and not second.admitted
    assert second.first_admitted_at == first.scanned_at and second.first_admitted_gate == "Gate B"
    assert second.reason.startswith("already used ") and second.reason.endswith(" at Gate B")


def test_already_used_survives_a_restart_of_the_gate(home: Path) -> None:
    code = issue_code(V1, 2)
    with open_gate(home, gate_name="North") as gate:
        first = gate.check(code)
    with open_gate(home, gate_name="South") as gate:
        again = gate.check(code)
    assert first.admitted
    assert again.verdict is Verdict.ALREADY_USED
    assert (again.first_admitted_at, again.first_admitted_gate) == (first.scanned_at, "North")


def test_each_kind_of_bad_code_gets_its_own_verdict(tmp_path: Path, home: Path) -> None:
    good = issue_code(V1, 5)
    event, serial, tag = good.split("-")
    flipped = tag[:-1] + ("0" if tag[-1] != "0" else "1")
    foreign_tag = issue_code(OTHER, 5).split("-")[2]
    with open_gate(home, gate_name="A") as gate:
        gate.store.revoke("VL9IHU", 7, reason="refunded")
        cases: dict[str | bytes, Verdict] = {
            f"{event}-006-{tag}": Verdict.INVALID,  # tampered serial
            f"{event}-{serial}-{flipped}": Verdict.INVALID,  # tampered tag
            f"VL9IHU-005-{foreign_tag}": Verdict.INVALID,  # signed with another event's key
            issue_code(V1, 8): Verdict.ADMIT,  # older key version still held
            issue_code(V2, 9): Verdict.ADMIT,  # newer key version
            issue_code(V2, 7): Verdict.REVOKED,
            issue_code(OTHER, 1): Verdict.WRONG_EVENT,
            "https://evil.example/?VL9IHU-001": Verdict.INVALID,
            "": Verdict.INVALID,
            "\ud800" + good: Verdict.INVALID,  # a lone surrogate cannot even be encoded
            "x" * 10_000: Verdict.INVALID,
            bytes(range(256)) * 40: Verdict.INVALID,  # 10 kB of binary
            "00000000-0000-0000-0000-000000000000": Verdict.INVALID,  # another system's QR
        }
        got: dict[str | bytes, Verdict] = {raw: gate.check(raw).verdict for raw in cases}
        revoked = gate.check(issue_code(V2, 7))
    assert got == cases
    assert revoked.reason == "revoked: refunded"
    # A code of the gate's event with no key held at all: UNKNOWN_KEY, never pretend INVALID.
    bare = _home(tmp_path / "bare")
    with open_gate(bare, event="VL9IHU", gate_name="A") as gate:
        unknown = gate.check(good)
    assert unknown.verdict is Verdict.UNKNOWN_KEY
    assert unknown.reason == "no key for VL9IHU — sync or import a key"


def test_every_scan_is_recorded_whatever_its_verdict(home: Path) -> None:
    with open_gate(home, gate_name="A") as gate:
        results = [gate.check(raw) for raw in (issue_code(V1, 1), "junk", b"\xff\x00", issue_code(V1, 1))]
        recent = gate.store.recent_scans(10)
        counters = gate.store.counters(event="VL9IHU")
        pending = gate.store.pending_upload_count()
    assert [r.scan_id for r in recent] == [r.scan_id for r in reversed(results)]
    assert [r.verdict for r in recent] == [
        Verdict.ALREADY_USED,
        Verdict.INVALID,
        Verdict.INVALID,
        Verdict.ADMIT,
    ]
    assert recent[1].raw == "\ufffd?"  # binary input recorded printable
    assert (counters.admitted, counters.rejected, counters.inside, pending) == (1, 3, 1, 4)


def test_a_scan_that_is_no_code_is_recorded_with_no_code_event_or_serial(home: Path) -> None:
    with open_gate(home, gate_name="A") as gate:
        junk = gate.check("junk")
        recent = gate.store.recent_scans(1)
    assert (junk.verdict, junk.code, junk.event, junk.serial) == (Verdict.INVALID, None, None, None)
    assert recent == [junk]  # stored the same: no "None" code for the screen or the sync to show


def test_typed_event_serial_of_an_ed25519_event_admits_only_a_ticket_the_gate_knows(tmp_path: Path) -> None:
    with open_gate(_home(tmp_path, ED_KEY), gate_name="Gate T") as gate:
        gate.store.upsert_tickets([KnownTicket("EDEV1", 7)])
        unknown = gate.check("EDEV1-008", source="manual")
        scanned = gate.check("EDEV1-007", source="camera")  # only typing takes a bare reference
        first = gate.check(" edev1-007 ", source="manual")
        again = gate.check("EDEV1-007", source="cli")
        out = gate.check("EDEV1-007", source="manual", direction=Direction.OUT)
        # Admitted by its signed QR code, a ticket the gate does not know is still not taken typed.
        signed = gate.check(issue_code(ED_SIGNER, 9), source="camera")
        typed_unknown = gate.check("EDEV1-009", source="manual")
        history = gate.store.ticket_history("EDEV1", 7)
        unknown_history = gate.store.ticket_history("EDEV1", 8)
    assert (unknown.verdict, unknown.reason, unknown.code, unknown.serial) == (
        Verdict.INVALID, NOT_KNOWN_REASON, "EDEV1-008", 8,
    )  # fmt: skip
    assert unknown_history == [unknown]
    assert (scanned.verdict, scanned.reason) == (
        Verdict.INVALID,
        "not a ticket code (expected EVENT-SERIAL-TAG)",
    )
    assert (first.verdict, first.reason, first.code) == (Verdict.ADMIT, "admitted", "EDEV1-007")
    assert (again.verdict, again.first_admitted_at) == (Verdict.ALREADY_USED, first.scanned_at)
    assert (out.verdict, out.reason) == (Verdict.ADMIT, "exit recorded")
    assert history == [first, again, out]
    assert signed.verdict is Verdict.ADMIT
    assert (typed_unknown.verdict, typed_unknown.reason) == (Verdict.INVALID, NOT_KNOWN_REASON)


def test_a_code_of_a_retired_key_version_is_revoked_as_superseded(tmp_path: Path) -> None:
    with open_gate(_home(tmp_path, replace(V1, retired=True), V2), gate_name="A") as gate:
        old = gate.check(issue_code(V1, 4))
        new = gate.check(issue_code(V2, 4))
        counters = gate.store.counters(event="VL9IHU")
    assert (old.verdict, old.reason, old.code) == (
        Verdict.REVOKED, "revoked: superseded: ask for the new ticket", issue_code(V1, 4),
    )  # fmt: skip
    assert (new.verdict, new.reason) == (Verdict.ADMIT, "admitted")
    assert (counters.admitted, counters.rejected, counters.inside) == (1, 1, 1)


def test_a_ticket_revoked_after_it_entered_is_refused_with_its_reason(home: Path) -> None:
    code = issue_code(V1, 12)
    with open_gate(home, gate_name="A") as gate:
        entered = gate.check(code)
        left = gate.check(code, direction=Direction.OUT)
        gate.store.revoke("VL9IHU", 12, reason="chargeback")
        back = gate.check(code)
    assert entered.admitted and left.admitted
    assert (back.verdict, back.reason) == (Verdict.REVOKED, "revoked: chargeback")


def test_a_key_imported_while_the_gate_runs_is_used_for_the_next_scan(tmp_path: Path) -> None:
    home = _home(tmp_path, V1)
    code = issue_code(V2, 3)
    with open_gate(home, gate_name="A") as gate:
        before = gate.check(code)
        KeyStore(keys_dir(home)).add(V2)
        after = gate.check(code)
    assert before.verdict is Verdict.INVALID  # keys held for the event, none matches
    assert after.verdict is Verdict.ADMIT


def test_exit_then_reentry_and_exit_of_a_ticket_not_inside(home: Path) -> None:
    code = issue_code(V1, 11)
    with open_gate(home, gate_name="Main") as gate:
        never = gate.check(code, direction=Direction.OUT)
        enter = gate.check(code)
        out = gate.check(code, direction=Direction.OUT)
        out_again = gate.check(code, direction=Direction.OUT)
        back = gate.check(code)
        twice = gate.check(code)
        counters = gate.store.counters(event="VL9IHU")
        history = gate.store.ticket_history("VL9IHU", 11)
    assert never.verdict is Verdict.NOT_INSIDE and "never admitted" in never.reason
    assert enter.verdict is Verdict.ADMIT and enter.reason == "admitted"
    assert (out.verdict, out.direction, out.reason) == (Verdict.ADMIT, Direction.OUT, "exit recorded")
    assert out_again.verdict is Verdict.NOT_INSIDE and "left" in out_again.reason
    assert back.verdict is Verdict.ADMIT and back.reason.startswith("re-entry")
    assert twice.verdict is Verdict.ALREADY_USED and twice.first_admitted_at == enter.scanned_at
    assert [h.scan_id for h in history] == [r.scan_id for r in (never, enter, out, out_again, back, twice)]
    assert (counters.admitted, counters.exits, counters.inside, counters.rejected) == (2, 1, 1, 3)


def test_two_scan_sources_in_one_process_never_admit_a_ticket_twice(home: Path) -> None:
    codes = [issue_code(V2, n) for n in range(1, 151)]
    with open_gate(home, gate_name="A") as gate:
        verdicts: list[Verdict] = []
        lock = threading.Lock()
        barrier = threading.Barrier(3)

        def scan(source: str) -> None:
            barrier.wait()
            for code in codes:
                result = gate.check(code, source=source)
                with lock:
                    verdicts.append(result.verdict)

        threads = [threading.Thread(target=scan, args=(s,)) for s in ("camera", "wedge", "manual")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert Counter(verdicts) == {Verdict.ADMIT: 150, Verdict.ALREADY_USED: 300}
    with sqlite3.connect(store_path(home)) as db:
        rows = db.execute("SELECT code, count(*) FROM scans WHERE verdict = 'ADMIT' GROUP BY code").fetchall()
    assert sorted(rows) == sorted((c, 1) for c in codes)


def test_open_gate_picks_the_single_event_and_refuses_none_or_several(tmp_path: Path) -> None:
    with open_gate(_home(tmp_path / "one", V1, V2)) as gate:
        assert gate.event == "VL9IHU" and gate.gate_name
    with pytest.raises(GateConfigError, match="no event key held"):
        open_gate(_home(tmp_path / "none"))
    with pytest.raises(GateConfigError, match=r"several events are held \(OTHER1, VL9IHU\).*--event"):
        open_gate(_home(tmp_path / "two", V1, OTHER))
    with open_gate(_home(tmp_path / "two"), event="other1", gate_name="X") as gate:
        assert gate.event == "OTHER1"
    with pytest.raises(GateConfigError, match="not an event code"):
        open_gate(_home(tmp_path / "two"), event="no!")


# Any text, lone surrogates included: st.text never generates them, so lists of characters are joined.
def any_text(max_size: int) -> st.SearchStrategy[str]:
    chars = st.one_of(st.characters(), st.characters(categories=["Cs"]))
    return st.lists(chars, max_size=max_size).map("".join)


@pytest.fixture(scope="module")
def shared_gate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gate]:
    home = _home(tmp_path_factory.mktemp("prop"), V1, V2)
    with open_gate(home, gate_name="Prop") as gate:
        yield gate


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.one_of(any_text(12_000), st.binary(max_size=12_000)))
def test_any_input_gets_a_recorded_verdict_and_never_raises(shared_gate: Gate, raw: str | bytes) -> None:
    result = shared_gate.check(raw, source="fuzz")
    assert not result.admitted
    assert len(result.raw) <= 80 and result.reason
    assert shared_gate.store.recent_scans(1)[0].scan_id == result.scan_id
