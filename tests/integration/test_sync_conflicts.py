"""Conflicts over real HTTP: two gates admitting one ticket, found in the merged timeline whatever the
order scans arrive in, and never missed by two pushes racing."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from tests.integration.live_server import live_server, settings_for
from tests.integration.synckit import T0, Gate, create_event, paired_gate, sell
from ticketcode.sync_protocol import ConflictChange


@pytest.fixture
def base_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    with live_server(settings_for(database_url, tmp_path)) as url:
        yield url


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def conflict_rows(database_url: str) -> list[tuple[int, str, str]]:
    """(serial, gate of the first entry, gate of the entry while inside), per standing conflict."""
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            "SELECT c.serial, f.gate, s.gate FROM conflicts c"
            " JOIN scans f ON f.id = c.first_scan JOIN scans s ON s.id = c.second_scan"
            " WHERE c.withdrawn_at IS NULL ORDER BY c.serial, s.corrected_at"
        ).fetchall()


def standing(gate: Gate) -> dict[str, ConflictChange]:
    """The conflicts a gate shows after applying what it pulled: the last state of each, if not withdrawn."""
    latest = {c.id: c for c in gate.conflicts()}
    return {cid: c for cid, c in latest.items() if not c.withdrawn}


def test_two_gates_admitting_one_ticket_offline_keep_both_scans_and_both_see_the_conflict(
    base_url: str, database_url: str
) -> None:
    create_event(base_url, "CONFL1")
    code = sell(base_url, "CONFL1", 1)[0]
    gate_a = paired_gate(base_url, database_url, "CONFL1", "Gate A")
    gate_b = paired_gate(base_url, database_url, "CONFL1", "Gate B")
    gate_a.push([gate_a.scan(code, at=T0 + minutes(1))])
    gate_b.push([gate_b.scan(code, at=T0 + minutes(3))])
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT gate FROM scans ORDER BY corrected_at").fetchall() == [
            ("Gate A",),
            ("Gate B",),
        ]
    assert conflict_rows(database_url) == [(1, "Gate A", "Gate B")]
    for gate in (gate_a, gate_b):
        gate.pull()
        [conflict] = gate.conflicts()
        assert conflict.gates == ("Gate A", "Gate B")
        assert conflict.scans == (f"{gate_a.device_id}/1", f"{gate_b.device_id}/1")
        assert conflict.at == (T0 + minutes(1), T0 + minutes(3))


def test_the_conflict_follows_the_time_order_not_the_arrival_order(base_url: str, database_url: str) -> None:
    create_event(base_url, "LATE01")
    code = sell(base_url, "LATE01", 1)[0]
    gate_a = paired_gate(base_url, database_url, "LATE01", "Gate A")
    gate_b = paired_gate(base_url, database_url, "LATE01", "Gate B")
    # B is online and uploads its 20:00 entry at once; A was offline and uploads its 19:00 entry later.
    # A's clock runs 10 minutes slow: it recorded 18:50, and its measured offset puts it at 19:00.
    gate_b.push([gate_b.scan(code, at=T0 + minutes(60))])
    gate_a.push([gate_a.scan(code, at=T0 - minutes(10), offset_ms=600_000)])
    assert conflict_rows(database_url) == [(1, "Gate A", "Gate B")]
    gate_b.pull()
    [conflict] = gate_b.conflicts()
    assert conflict.at == (T0, T0 + minutes(60))
    [movement] = gate_b.movements()
    assert (movement.gate, movement.at) == ("Gate A", T0)


def test_exits_and_re_entry_merge_without_conflict_and_a_stay_is_one_reference(
    base_url: str, database_url: str
) -> None:
    create_event(base_url, "EXIT01")
    one, two = sell(base_url, "EXIT01", 2)
    gate_a = paired_gate(base_url, database_url, "EXIT01", "Gate A")
    gate_b = paired_gate(base_url, database_url, "EXIT01", "Gate B")
    gate_c = paired_gate(base_url, database_url, "EXIT01", "Gate C")
    # Ticket 1: in at A, out at B, in again at C, out at A, in at B: a night of smoking breaks.
    # Uploaded in an order unrelated to time.
    gate_c.push([gate_c.scan(one, at=T0 + minutes(40))])
    gate_c.pull()
    gate_b.push(
        [gate_b.scan(one, at=T0 + minutes(20), direction="out"), gate_b.scan(one, at=T0 + minutes(90))]
    )
    # Until A's exit at 20:00 arrives, C's entry at 19:40 and B's at 20:30 look like one stay.
    assert conflict_rows(database_url) == [(1, "Gate C", "Gate B")]
    assert len(standing(gate_c) | standing(_pulled(gate_c))) == 1
    gate_a.push([gate_a.scan(one, at=T0), gate_a.scan(one, at=T0 + minutes(60), direction="out")])
    assert conflict_rows(database_url) == []
    assert standing(_pulled(gate_c)) == {}
    # Ticket 2: in at A; B and C each let it in again while it is inside: two conflicts, both against A.
    gate_a.push([gate_a.scan(two, at=T0)])
    gate_c.push([gate_c.scan(two, at=T0 + minutes(50))])
    gate_b.push([gate_b.scan(two, at=T0 + minutes(30))])
    assert conflict_rows(database_url) == [(2, "Gate A", "Gate B"), (2, "Gate A", "Gate C")]
    # Uploading the same scans again (an answer lost on the way back) flags nothing new.
    gate_a.next_scan_id = 1
    gate_a.push([gate_a.scan(one, at=T0), gate_a.scan(one, at=T0 + minutes(60), direction="out")])
    assert len(conflict_rows(database_url)) == 2
    gate_a.pull()
    assert [
        (m.gate, m.serial, m.direction) for m in sorted(gate_a.movements(), key=lambda m: (m.serial, m.at))
    ] == [
        ("Gate B", 1, "out"),
        ("Gate C", 1, "in"),
        ("Gate B", 1, "in"),
        ("Gate B", 2, "in"),
        ("Gate C", 2, "in"),
    ]
    assert [(c.serial, c.gates) for c in sorted(standing(gate_a).values(), key=lambda c: c.at)] == [
        (2, ("Gate A", "Gate B")),
        (2, ("Gate A", "Gate C")),
    ]


def _pulled(gate: Gate) -> Gate:
    gate.pull()
    return gate


def test_two_gates_pushing_the_same_ticket_at_once_never_both_miss_the_conflict(
    base_url: str, database_url: str
) -> None:
    tickets = 20
    create_event(base_url, "RACE01", capacity=tickets)
    codes = [code for _ in range(tickets // 10) for code in sell(base_url, "RACE01", 10)]
    gate_a = paired_gate(base_url, database_url, "RACE01", "Gate A")
    gate_b = paired_gate(base_url, database_url, "RACE01", "Gate B")
    rounds = [(code, i) for i, code in enumerate(codes)]
    start = threading.Barrier(2)
    failures: list[BaseException] = []

    def push_all(gate: Gate, later: timedelta) -> None:
        try:
            for code, i in rounds:
                scan = gate.scan(code, at=T0 + minutes(i) + later)
                start.wait(timeout=30)  # both gates upload this ticket's entry at the same moment
                gate.push([scan])
        except BaseException as exc:
            failures.append(exc)
            start.abort()

    threads = [
        threading.Thread(target=push_all, args=(gate_a, timedelta(0))),
        threading.Thread(target=push_all, args=(gate_b, timedelta(seconds=5))),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, failures
    assert conflict_rows(database_url) == [(serial, "Gate A", "Gate B") for serial in range(1, tickets + 1)]
