"""What a pull leaves in the gate's store, read back as the sync round and the lookup screen read it:
the counts a round reports for a page split into several transactions, the conflicts and other
gates' movements shown for a ticket, movements at the same instant, and the cursor and clock that a
pairing or an unknown cursor resets. Real SQLite files throughout."""

from __future__ import annotations

import itertools
import sqlite3
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from scanner.store import Store
from scanner.store.remote import Applied, Conflict, RemoteMovement
from scanner.store.sync_ops import APPLY_CHUNK
from scanner.verdicts import Direction, Verdict
from tests.integration.storekit import DEVICE_A, EVENT, KEY, T0, Clock, gate, movement, ticket
from ticketcode import issue_code
from ticketcode.sync_protocol import Change, ConflictChange

DEVICE_D = "0f1e2d3c-0000-4000-8000-00000000000d"


@pytest.fixture
def store(tmp_path: Path) -> Store:
    opened = Store.open(tmp_path / "var" / "gate.sqlite3")
    yield opened  # type: ignore[misc]
    opened.close()


def conflict(id: str, serial: int, gates: tuple[str, str], minutes: tuple[int, int]) -> ConflictChange:
    return ConflictChange(
        id=id,
        serial=serial,
        scans=(f"{DEVICE_A}/{serial}0", f"{DEVICE_D}/{serial}1"),
        gates=gates,
        at=(T0 + timedelta(minutes=minutes[0]), T0 + timedelta(minutes=minutes[1])),
    )


def test_a_page_kept_in_several_transactions_counts_each_change_once(store: Store) -> None:
    """The round's summary ("3000 ticket changes, 1500 movements, 2 conflicts") adds up the chunks
    of a page; a page pulled again (after a power cut) finds nothing new but the tickets."""
    tickets = [ticket(s, revoked=s % 5 == 0) for s in range(1, 3001)]
    movements = [movement(s, s, "in", 1) for s in range(1, 1501)]
    # The last chunk holds movements before its conflicts, and a withdrawn conflict (of one this gate
    # never had) before a new one: each kind is counted wherever it stands in the page.
    conflicts: list[Change] = [
        conflict("c-1", 7, ("Gate A", "Gate D"), (1, 2)),
        replace(conflict("c-0", 6, ("Gate A", "Gate D"), (1, 2)), withdrawn=True),
        conflict("c-2", 8, ("Gate A", "Gate D"), (1, 3)),
    ]
    page: list[Change] = [*tickets, *movements, *conflicts]
    assert len(page) > 2 * APPLY_CHUNK  # three transactions

    first = store.apply_pulled(EVENT, page, cursor="after-page-1", clock_offset_ms=0)
    assert first == Applied(tickets=3000, revoked=600, movements=1500, conflicts=2)
    assert store.sync_cursor() == "after-page-1"
    again = store.apply_pulled(EVENT, page, cursor="after-page-1", clock_offset_ms=0)
    assert again == Applied(tickets=3000, revoked=600, movements=0, conflicts=0)
    assert len(store.conflicts(EVENT)) == 2
    assert Applied(1, 2, 3, 4) + Applied(10, 20, 30, 40) == Applied(11, 22, 33, 44)


def test_a_revocation_without_a_reason_reads_refunded_or_cancelled(store: Store, tmp_path: Path) -> None:
    store.apply_pulled(EVENT, [ticket(5, revoked=True)], cursor="1", clock_offset_ms=0)
    result = gate(store, tmp_path, Clock(T0)).check(issue_code(KEY, 5))
    assert (result.verdict, result.reason) == (Verdict.REVOKED, "revoked: refunded or cancelled")


def test_conflicts_are_listed_newest_first_with_both_gates_and_times(store: Store, tmp_path: Path) -> None:
    older = conflict("c-1", 7, ("Gate A", "Gate D"), (0, 2))
    newer = conflict("c-2", 8, ("Gate C", "Gate A"), (1, 5))
    store.apply_pulled(EVENT, [older, newer], cursor="1", clock_offset_ms=0)

    def shown(change: ConflictChange) -> Conflict:
        return Conflict(change.id, EVENT, change.serial, change.gates, change.at)

    assert store.conflicts(EVENT) == [shown(newer), shown(older)]
    assert store.conflicts(EVENT, serial=7) == [shown(older)]
    assert store.conflicts(EVENT, serial=9) == [] and store.conflicts("OTHER1") == []

    # Sent again as it stands now (a later upload changed its second entry): updated, not new.
    changed = replace(older, scans=(older.scans[0], f"{DEVICE_D}/99"), gates=("Gate A", "Gate E"))
    changed = replace(changed, at=(older.at[0], T0 + timedelta(minutes=9)))
    assert store.apply_pulled(EVENT, [changed], cursor="2", clock_offset_ms=0).conflicts == 0
    assert store.conflicts(EVENT) == [shown(changed), shown(newer)]
    with sqlite3.connect(tmp_path / "var" / "gate.sqlite3") as db:
        rows = db.execute("SELECT id, scan_a, scan_b FROM conflicts ORDER BY id").fetchall()
    assert rows == [("c-1", f"{DEVICE_A}/70", f"{DEVICE_D}/99"), ("c-2", f"{DEVICE_A}/80", f"{DEVICE_D}/81")]


def test_other_gates_movements_of_a_ticket_are_listed_oldest_first(store: Store) -> None:
    store.apply_pulled(
        EVENT,
        [movement(2, 4, "out", 30, "Gate C"), movement(1, 4, "in", 10), movement(3, 5, "in", 12)],
        cursor="1",
        clock_offset_ms=-60_000,  # shown in the server's clock, as pulled
    )
    # The lookup screen passes the event as typed.
    assert store.remote_movements(EVENT.lower(), 4) == [
        RemoteMovement(f"{DEVICE_A}/1", "Gate A", Direction.IN, T0 + timedelta(minutes=10)),
        RemoteMovement(f"{DEVICE_A}/2", "Gate C", Direction.OUT, T0 + timedelta(minutes=30)),
    ]
    assert store.remote_movements(EVENT, 6) == []


def test_an_exit_and_an_entry_at_the_same_instant_end_the_same_in_any_arrival_order(tmp_path: Path) -> None:
    """Two gates' clocks can agree to the microsecond; presence must still not depend on which of the
    two movements a gate happened to pull first."""
    same_instant = [movement(1, 3, "in", 0), movement(2, 3, "out", 5), movement(3, 3, "in", 5, "Gate C")]
    states = set()
    for number, order in enumerate(itertools.permutations(same_instant)):
        with Store.open(tmp_path / f"gate-{number}.sqlite3") as gate_store:
            for cursor, change in enumerate(order):
                gate_store.apply_pulled(EVENT, [change], cursor=str(cursor), clock_offset_ms=0)
        with sqlite3.connect(tmp_path / f"gate-{number}.sqlite3") as db:
            states.add(tuple(db.execute("SELECT * FROM presence").fetchall()))
    assert len(states) == 1


def test_an_unknown_cursor_and_a_new_pairing_start_the_pull_over_and_keep_the_upload_queue(
    store: Store, tmp_path: Path
) -> None:
    assert (store.sync_cursor(), store.clock_offset_ms()) == ("", None)
    store.apply_pulled(EVENT, [ticket(1)], cursor="page-2", clock_offset_ms=0)
    assert store.sync_cursor() == "page-2"
    store.reset_cursor()  # the server did not know "page-2"
    assert store.sync_cursor() == ""

    store.set_clock_offset_ms(-2500)
    assert store.clock_offset_ms() == -2500
    scan = gate(store, tmp_path, Clock(T0)).check(issue_code(KEY, 1))
    store.apply_pulled(EVENT, [ticket(2)], cursor="page-3", clock_offset_ms=0)
    store.record_sync("offline", at=T0, problem="timed out")
    store.reset_for_pairing()
    state = store.sync_state(EVENT)
    assert (state.cursor, state.link, state.problem) == ("", "never", None)
    assert [s.scan_id for s in store.unsynced_scans()] == [scan.scan_id]
    assert store.clock_offset_ms() == -2500  # measured again by the pairing itself
