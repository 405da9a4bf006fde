"""The store's side of sync on real SQLite files: pulled tickets, other gates' movements merged into
presence (idempotent, order-independent), conflicts, the upload queue and the schema upgrade."""

from __future__ import annotations

import itertools
import sqlite3
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from scanner.store import Store
from scanner.store.schema import MIGRATIONS, statements
from scanner.verdicts import Verdict
from tests.integration.storekit import EVENT, KEY, T0, Clock, gate, movement, ticket
from ticketcode import issue_code
from ticketcode.sync_protocol import ConflictChange


@pytest.fixture
def store(tmp_path: Path) -> Store:
    opened = Store.open(tmp_path / "var" / "gate.sqlite3")
    yield opened  # type: ignore[misc]
    opened.close()


def presence_rows(path: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT * FROM presence ORDER BY event, serial").fetchall()


def test_an_entry_pulled_from_gate_a_makes_the_scan_here_already_used_at_gate_a(
    store: Store, tmp_path: Path
) -> None:
    here = gate(store, tmp_path, Clock(T0 + timedelta(hours=1)))
    store.apply_pulled(EVENT, [movement(1, 5, "in", 42)], cursor="c1", clock_offset_ms=0)
    result = here.check(issue_code(KEY, 5))
    assert result.verdict is Verdict.ALREADY_USED
    assert (result.first_admitted_gate, result.first_admitted_at) == ("Gate A", T0 + timedelta(minutes=42))
    assert store.sync_cursor() == "c1"


def test_other_gates_times_are_shown_in_this_gates_clock(store: Store, tmp_path: Path) -> None:
    """This laptop runs 2 minutes slow (server minus laptop = +120 s): Gate A's 19:42 server time is
    19:40 here, the clock its own scans are shown in."""
    here = gate(store, tmp_path, Clock(T0 + timedelta(hours=1)))
    store.apply_pulled(EVENT, [movement(1, 5, "in", 42)], cursor="c1", clock_offset_ms=120_000)
    result = here.check(issue_code(KEY, 5))
    assert result.first_admitted_at == T0 + timedelta(minutes=40)


def test_an_exit_at_another_gate_lets_the_ticket_in_again_with_a_new_entry_number(
    store: Store, tmp_path: Path
) -> None:
    clock = Clock(T0)
    here = gate(store, tmp_path, clock)
    assert here.check(issue_code(KEY, 8)).verdict is Verdict.ADMIT
    store.apply_pulled(EVENT, [movement(1, 8, "out", 30, "Gate C")], cursor="c1", clock_offset_ms=0)
    clock.now = T0 + timedelta(minutes=45)
    again = here.check(issue_code(KEY, 8))
    assert again.verdict is Verdict.ADMIT and "left 19:30 at Gate C" in again.reason
    with sqlite3.connect(store.path) as db:
        entries = db.execute("SELECT entry_no FROM scans WHERE serial = 8 AND verdict = 'ADMIT'").fetchall()
    assert entries == [(1,), (2,)]


def test_the_same_changes_applied_twice_or_in_any_order_end_in_the_same_state(tmp_path: Path) -> None:
    changes = [
        movement(1, 3, "in", 10),
        movement(2, 3, "out", 20),
        movement(3, 3, "in", 30, "Gate C"),
        movement(4, 4, "in", 12),
        ticket(6, revoked=True, reason="order refunded"),
        ConflictChange(
            id="c-1",
            serial=4,
            scans=("0f1e2d3c-0000-4000-8000-00000000000a/4", "0f1e2d3c-0000-4000-8000-00000000000b/9"),
            gates=("Gate A", "Gate D"),
            at=(T0 + timedelta(minutes=12), T0 + timedelta(minutes=13)),
        ),
    ]
    states = set()
    for number, order in enumerate(itertools.islice(itertools.permutations(changes), 0, 720, 97)):
        path = tmp_path / f"s{number}" / "gate.sqlite3"
        with Store.open(path) as store:
            for change in order:  # one change per page, in this order
                store.apply_pulled(EVENT, [change], cursor=f"c{number}", clock_offset_ms=0)
            again = store.apply_pulled(EVENT, list(order), cursor="again", clock_offset_ms=0)
            assert (again.movements, again.conflicts) == (0, 0)  # nothing new the second time
            assert store.sync_state(EVENT).conflicts == 1
        states.add(tuple(presence_rows(path)))
    assert len(states) == 1
    [rows] = states
    assert [(r[1], r[3], r[4], r[7]) for r in rows] == [(3, "Gate A", 1, 2), (4, "Gate A", 1, 1)]


def test_a_pulled_revocation_says_revoked_with_its_reason_and_a_later_valid_does_not_undo_it(
    store: Store, tmp_path: Path
) -> None:
    here = gate(store, tmp_path, Clock(T0))
    store.apply_pulled(
        EVENT, [ticket(9, revoked=True, reason="order refunded")], cursor="1", clock_offset_ms=0
    )
    store.apply_pulled(EVENT, [ticket(9)], cursor="2", clock_offset_ms=0)
    result = here.check(issue_code(KEY, 9))
    assert (result.verdict, result.reason) == (Verdict.REVOKED, "revoked: order refunded")
    [known] = store.find_tickets("9")
    assert known.revoked and known.code == issue_code(KEY, 9) and known.order_ref is not None


def test_a_ticket_the_gate_never_heard_of_still_admits_on_its_signature(store: Store, tmp_path: Path) -> None:
    store.apply_pulled(EVENT, [ticket(1), ticket(2)], cursor="1", clock_offset_ms=0)
    assert gate(store, tmp_path, Clock(T0)).check(issue_code(KEY, 777)).verdict is Verdict.ADMIT


def test_a_conflict_keeps_both_entries_and_the_next_scan_names_the_first(
    store: Store, tmp_path: Path
) -> None:
    """Both gates admitted serial 11 while offline: here at 19:05, Gate A at 19:02."""
    clock = Clock(T0 + timedelta(minutes=5))
    here = gate(store, tmp_path, clock)
    assert here.check(issue_code(KEY, 11)).verdict is Verdict.ADMIT
    store.apply_pulled(EVENT, [movement(7, 11, "in", 2)], cursor="1", clock_offset_ms=0)
    clock.now = T0 + timedelta(minutes=20)
    result = here.check(issue_code(KEY, 11))
    assert result.verdict is Verdict.ALREADY_USED
    assert result.reason == "already used 19:02 at Gate A; inside again since 19:05 at Gate B"


def test_upload_queue_moves_past_scans_the_server_did_not_acknowledge(store: Store, tmp_path: Path) -> None:
    here = gate(store, tmp_path, Clock(T0))
    ids = [here.check(issue_code(KEY, s)).scan_id for s in range(1, 6)]
    assert [s.scan_id for s in store.unsynced_scans(2)] == ids[:2]
    store.mark_synced([ids[0], ids[2]])
    assert [s.scan_id for s in store.unsynced_scans(10, after=ids[1])] == ids[3:]
    assert store.pending_upload_count() == 3


def test_link_state_records_since_when_and_only_a_clean_round_counts_as_a_sync(store: Store) -> None:
    store.record_sync("offline", at=T0, problem="cannot reach http://x: refused")
    store.record_sync("offline", at=T0 + timedelta(minutes=1), problem="timed out")
    state = store.sync_state(EVENT)
    assert (state.link, state.link_since, state.problem, state.last_sync_at) == (
        "offline",
        T0,
        "timed out",
        None,
    )
    store.record_sync("online", at=T0 + timedelta(minutes=2), clock_offset_ms=-1500)
    state = store.sync_state(EVENT)
    assert (state.link, state.link_since, state.problem) == ("online", T0 + timedelta(minutes=2), None)
    assert state.last_sync_at == T0 + timedelta(minutes=2) and state.clock_offset_ms == -1500


def test_only_an_online_round_without_a_problem_is_a_sync(store: Store, tmp_path: Path) -> None:
    store.record_sync("online", at=T0, problem="pull: the server answered 503")  # pushed, not pulled
    store.record_sync("offline", at=T0 + timedelta(minutes=1), problem=None)
    state = store.sync_state(EVENT)
    assert (state.link, state.last_sync_at) == ("offline", None)
    with pytest.raises(ValueError, match=r"^unknown link state 'sideways'$"):
        store.record_sync("sideways", at=T0)  # type: ignore[arg-type]
    here = gate(store, tmp_path, Clock(T0))
    for serial in (1, 2):
        here.check(issue_code(KEY, serial))
    assert store.sync_state(EVENT).pending_upload == 2


def test_a_link_state_this_release_does_not_know_reads_never(store: Store, tmp_path: Path) -> None:
    """A store written by a later release may hold a link state this one has no words for."""
    with sqlite3.connect(tmp_path / "var" / "gate.sqlite3") as db:
        db.execute("INSERT INTO meta (key, value) VALUES ('sync_link', 'roaming')")
    assert store.sync_state(EVENT).link == "never"


def test_a_version_1_store_is_upgraded_keeping_its_scans_and_presence(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    at = T0.isoformat(timespec="microseconds")
    with sqlite3.connect(path) as db:
        for statement in statements(MIGRATIONS[0]):
            db.execute(statement)
        db.execute(
            "INSERT INTO scans (scanned_at, gate, gate_event, source, direction, verdict, reason, raw, code,"
            " event, serial, entry_no) VALUES (?, 'Old', ?, 'cli', 'in', 'ADMIT', 'admitted', ?, ?, ?, 2, 1)",
            (at, EVENT, issue_code(KEY, 2), issue_code(KEY, 2), EVENT),
        )
        db.execute("INSERT INTO presence VALUES (?, 2, ?, 'Old', 1, ?, 'Old', 1)", (EVENT, at, at))
        db.execute("PRAGMA user_version = 1")
    with Store.open(path) as store:
        assert store.schema_version == len(MIGRATIONS) == 2
        [queued] = store.unsynced_scans()
        assert (queued.serial, queued.gate, queued.verdict) == (2, "Old", Verdict.ADMIT)
        result = gate(store, tmp_path, Clock(T0 + timedelta(hours=1))).check(issue_code(KEY, 2))
        assert (result.verdict, result.first_admitted_gate) == (Verdict.ALREADY_USED, "Old")
        store.apply_pulled(EVENT, [movement(1, 2, "out", 30)], cursor="1", clock_offset_ms=0)
        assert gate(store, tmp_path, Clock(T0 + timedelta(hours=2))).check(issue_code(KEY, 2)).admitted


def test_a_conflict_sent_again_as_withdrawn_is_no_longer_shown(store: Store) -> None:
    flagged = ConflictChange(
        id="c-9",
        serial=9,
        scans=("0f1e2d3c-0000-4000-8000-00000000000a/4", "0f1e2d3c-0000-4000-8000-00000000000b/9"),
        gates=("Gate A", "Gate D"),
        at=(T0, T0 + timedelta(minutes=1)),
    )
    assert store.apply_pulled(EVENT, [flagged], cursor="1", clock_offset_ms=0).conflicts == 1
    assert store.apply_pulled(EVENT, [flagged], cursor="2", clock_offset_ms=0).conflicts == 0
    assert store.sync_state(EVENT).conflicts == 1
    store.apply_pulled(EVENT, [replace(flagged, withdrawn=True)], cursor="3", clock_offset_ms=0)
    assert store.sync_state(EVENT).conflicts == 0 and store.conflicts(EVENT) == []


def test_pulled_pages_skip_their_own_fsync_but_scans_stay_fully_durable(store: Store, tmp_path: Path) -> None:
    """Pulled changes (with their cursor) and "uploaded" marks can be had again after a power cut, so
    they commit without an fsync of their own; the scan connection is back to FULL right after."""
    statements: list[str] = []
    store._conn.set_trace_callback(statements.append)
    store.apply_pulled(EVENT, [ticket(n) for n in range(1, 50)], cursor="c", clock_offset_ms=0)
    assert store.durability == ("wal", "FULL")
    scan = gate(store, tmp_path, Clock(T0)).check(issue_code(KEY, 3))
    store.mark_synced([scan.scan_id])
    assert store.durability == ("wal", "FULL")
    pragmas = [sql for sql in statements if sql.startswith("PRAGMA synchronous =")]
    assert pragmas == ["PRAGMA synchronous = NORMAL", "PRAGMA synchronous = FULL"] * 2  # page, marks
    [insert] = [i for i, sql in enumerate(statements) if sql.startswith("INSERT INTO scans")]
    in_force = [sql for sql in statements[:insert] if sql.startswith("PRAGMA synchronous =")][-1]
    assert in_force == "PRAGMA synchronous = FULL"  # the scan between them
    with pytest.raises(ValueError), store._write(replayable=True):
        raise ValueError("a failed page")
    assert store.durability == ("wal", "FULL")
