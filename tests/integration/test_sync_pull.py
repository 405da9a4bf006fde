"""The pull over real HTTP: tickets, revocations, keys, pages and cursors, and no change ever skipped."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.integration.live_server import MASTER_SECRET, live_server, settings_for
from tests.integration.synckit import Gate, create_event, error_code, paired_gate, sell
from ticketcode import derive_event_key
from ticketcode.sync_protocol import PULL_PATH, MovementChange, TicketChange


@pytest.fixture
def base_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    with live_server(settings_for(database_url, tmp_path)) as url:
        yield url


def revoke_in_sql(conn: psycopg.Connection, code: str, reason: str) -> None:
    """What the refund and cancellation work does to a ticket (set directly until it exists)."""
    conn.execute(
        "UPDATE tickets SET status = 'revoked', revoked_reason = %s, status_changed_at = now()"
        " WHERE code = %s",
        (reason, code),
    )


def test_two_transactions_committing_out_of_order_both_reach_the_gate(
    base_url: str, database_url: str
) -> None:
    create_event(base_url, "ORDER1")
    first, second = sell(base_url, "ORDER1", 2)
    gate = paired_gate(base_url, database_url, "ORDER1", "Gate A")
    assert {t.code for t in gate.pull()} == {first, second}  # type: ignore[union-attr]
    with psycopg.connect(database_url) as t1, psycopg.connect(database_url) as t2:
        # T1 writes its change first (the lower sequence number) and stays open ...
        revoke_in_sql(t1, first, "refunded (T1)")
        # ... T2 writes later and commits first.
        revoke_in_sql(t2, second, "cancelled (T2)")
        t2.commit()
        while_t1_open = gate.pull()
        t1.commit()
    after = gate.pull()
    revoked = {c.code: c.reason for c in while_t1_open + after if isinstance(c, TicketChange)}
    assert revoked == {first: "refunded (T1)", second: "cancelled (T2)"}
    # T2's change waited for T1: handing it out first would have moved the cursor past T1's.
    assert not while_t1_open
    assert gate.tickets()[1].status == gate.tickets()[2].status == "revoked"


def test_a_long_transaction_in_another_database_does_not_hold_the_feed_back(
    base_url: str, database_url: str, empty_database_url: str
) -> None:
    create_event(base_url, "NEXTDB")
    gate = paired_gate(base_url, database_url, "NEXTDB", "Gate A")
    with psycopg.connect(empty_database_url) as elsewhere:
        # Another database of the same PostgreSQL opens a transaction and keeps it (a report, psql).
        elsewhere.execute("SELECT pg_current_xact_id()")
        [code] = sell(base_url, "NEXTDB", 1)
        # Held back behind it, the ticket would not come while it stays open.
        assert [c.code for c in gate.pull()] == [code]  # type: ignore[union-attr]


def test_a_revocation_by_a_transaction_older_than_the_issue_still_leaves_the_ticket_revoked(
    base_url: str, database_url: str
) -> None:
    create_event(base_url, "OLDER1")
    gate = paired_gate(base_url, database_url, "OLDER1", "Gate A")
    with psycopg.connect(database_url) as refund:
        # The refund's transaction takes its id first (as one waiting on the order's lock would) ...
        refund.execute("SELECT pg_current_xact_id()")
        # ... the payment that issues the ticket commits meanwhile, with a higher id ...
        [code] = sell(base_url, "OLDER1", 1)
        # ... and the refund revokes the ticket it now sees.
        revoke_in_sql(refund, code, "refunded")
    gate.pull()
    # Feed order is (transaction id, sequence): the revocation comes before the issue, and both say
    # what the ticket is now.
    assert [(c.status, c.reason) for c in gate.changes] == [("revoked", "refunded")] * 2  # type: ignore[union-attr]
    assert gate.tickets()[1].status == "revoked"


def test_a_revocation_set_in_sql_reaches_the_gate_with_its_reason(base_url: str, database_url: str) -> None:
    create_event(base_url, "REVOK1")
    codes = sell(base_url, "REVOK1", 3)
    gate = paired_gate(base_url, database_url, "REVOK1", "Gate B")
    gate.pull()
    with psycopg.connect(database_url) as conn:
        revoke_in_sql(conn, codes[1], "order refunded")
        changed_at = conn.execute(
            "SELECT status_changed_at FROM tickets WHERE code = %s", (codes[1],)
        ).fetchone()
    changes = gate.pull()
    assert len(changes) == 1
    change = changes[0]
    assert isinstance(change, TicketChange)
    assert (change.code, change.status, change.reason) == (codes[1], "revoked", "order refunded")
    assert changed_at is not None and change.changed_at == changed_at[0]
    # An UPDATE that changes nothing a gate knows writes nothing to the feed.
    with psycopg.connect(database_url) as conn:
        conn.execute("UPDATE tickets SET status = status")
    assert gate.pull() == []


def test_holders_go_to_gates_only_where_the_organiser_shares_them(base_url: str, database_url: str) -> None:
    create_event(base_url, "HOLDY1", share_holders=True)
    create_event(base_url, "HOLDN1")
    sell(base_url, "HOLDY1", 1, email="ann@example.org")
    # The longest email a buyer may give is cut to what the protocol carries, not a page refused.
    long_email = "a" * 240 + "@example.org"
    sell(base_url, "HOLDY1", 1, email=long_email)
    sell(base_url, "HOLDN1", 1, email="bob@example.org")
    shared = paired_gate(base_url, database_url, "HOLDY1", "Gate A").pull()
    private = paired_gate(base_url, database_url, "HOLDN1", "Gate A").pull()
    assert (
        [(c.holder, c.order is not None) for c in shared]
        == [  # type: ignore[union-attr]
            ("ann@example.org", True),
            (long_email[:200], True),
        ]
    )
    assert [c.holder for c in private] == [None]  # type: ignore[union-attr]


def test_every_page_carries_every_key_version_of_the_event(base_url: str, database_url: str) -> None:
    create_event(base_url, "KEYS01")
    gate = paired_gate(base_url, database_url, "KEYS01", "Gate A")
    with psycopg.connect(database_url) as conn:
        conn.execute("UPDATE events SET key_version = 3 WHERE code = 'KEYS01'")
    page = gate.pull_once()
    assert [k.version for k in page.keys] == [1, 2, 3]
    assert list(page.keys) == [derive_event_key(MASTER_SECRET, "KEYS01", v) for v in (1, 2, 3)]


def test_pages_resume_from_the_cursor_after_an_interruption(base_url: str, database_url: str) -> None:
    create_event(base_url, "PAGES1", capacity=40)
    codes = [code for _ in range(5) for code in sell(base_url, "PAGES1", 5)]
    gate = paired_gate(base_url, database_url, "PAGES1", "Gate A")
    first = gate.pull_once(limit=10)
    assert (len(first.changes), first.more, first.remaining) == (10, True, 15)
    # The gate stops here (power cut) and a new process resumes from the cursor it saved.
    resumed = Gate(base_url, gate.token, gate.device_id, gate.name, cursor=first.cursor)
    second = resumed.pull_once(limit=10)
    third = resumed.pull_once(limit=10)
    assert (len(second.changes), second.more, second.remaining) == (10, True, 5)
    assert (len(third.changes), third.more, third.remaining) == (5, False, 0)
    got = [c.code for c in first.changes + second.changes + third.changes]  # type: ignore[union-attr]
    assert got == codes  # in feed order, each once
    # Pulling again from an old cursor re-sends what follows it (harmless: each change states the state).
    replay = Gate(base_url, gate.token, gate.device_id, gate.name, cursor=first.cursor)
    assert len(replay.pull()) == 15
    assert resumed.pull() == []


def test_a_cursor_this_server_did_not_hand_out_is_bad_cursor(base_url: str, database_url: str) -> None:
    create_event(base_url, "CURSR1")
    gate = paired_gate(base_url, database_url, "CURSR1", "Gate A")
    good = gate.pull_once().cursor
    version, origin, xid, seq = good.split(".")
    for cursor in ("garbage", f"{version}.0123456789ab.{xid}.{seq}", f"{version}.{origin}.{10**15}.1"):
        response = httpx.get(f"{base_url}{PULL_PATH}", params={"cursor": cursor}, headers=gate.headers)
        assert response.status_code == 400 and error_code(response) == "bad_cursor", cursor
    for limit in ("0", "20001", "ten"):
        response = httpx.get(f"{base_url}{PULL_PATH}", params={"limit": limit}, headers=gate.headers)
        assert response.status_code == 422 and error_code(response) == "invalid_input", limit


def test_a_gate_gets_other_gates_movements_but_not_its_own(base_url: str, database_url: str) -> None:
    create_event(base_url, "MOVES1")
    codes = sell(base_url, "MOVES1", 2)
    gate_a = paired_gate(base_url, database_url, "MOVES1", "Gate A")
    gate_b = paired_gate(base_url, database_url, "MOVES1", "Gate B")
    gate_a.pull()
    gate_b.pull()
    gate_a.push([gate_a.scan(codes[0]), gate_a.scan(codes[0], direction="out")])
    gate_a.push([gate_a.scan(codes[1], verdict="INVALID")])  # a rejection moves nobody
    assert gate_a.pull() == []
    moves = gate_b.pull()
    assert [(m.gate, m.serial, m.direction) for m in moves if isinstance(m, MovementChange)] == [
        ("Gate A", 1, "in"),
        ("Gate A", 1, "out"),
    ]
    assert len(moves) == 2
