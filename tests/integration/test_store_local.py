"""The local SQLite store: durability settings, schema versions, failures as clear errors, ticket lists."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import stat
import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from scanner.errors import ScannerError, StoreBusyError, StoreError, TicketListError
from scanner.gate import Gate, open_gate
from scanner.keystore import KeyStore
from scanner.paths import keys_dir
from scanner.store import SCHEMA_VERSION, KnownTicket, Store
from scanner.store.schema import ts
from scanner.verdicts import Counters, Direction, Verdict
from ticketcode import derive_event_key, issue_code

KEY = derive_event_key(b"store-test-master-secret-32bytes", "STORE1", 1)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "var" / "gate.sqlite3"


def _gate(store: Store, tmp_path: Path) -> Gate:
    keys = KeyStore(tmp_path / "keys")
    keys.add(KEY)
    return Gate(store=store, keys=keys, event="STORE1", gate_name="Test")


def _scan_count(path: Path) -> int:
    with sqlite3.connect(path) as db:
        count: int = db.execute("SELECT count(*) FROM scans").fetchone()[0]
        return count


def test_new_store_uses_wal_with_full_sync_and_a_schema_version(db_path: Path) -> None:
    with Store.open(db_path) as store:
        assert store.durability == ("wal", "FULL")
        assert store.schema_version == SCHEMA_VERSION >= 1
        assert store.last_sync_at() is None
    with sqlite3.connect(db_path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_the_gate_opens_its_store_with_full_sync_on_every_path(tmp_path: Path) -> None:
    # open_gate is what `ticketgate scan` and `verify` use: synchronous=OFF there passed every test.
    home = tmp_path / "home"
    KeyStore(keys_dir(home)).add(KEY)
    with open_gate(home, gate_name="Test") as gate:
        assert gate.store.durability == ("wal", "FULL")
    with open_gate(home, event="STORE1", gate_name="Test") as gate:
        assert gate.store.durability == ("wal", "FULL")


def test_scans_and_sync_state_survive_reopening(db_path: Path, tmp_path: Path) -> None:
    with Store.open(db_path) as store:
        first = _gate(store, tmp_path).check(issue_code(KEY, 1))
        store.set_last_sync_at(datetime(2026, 5, 1, 12, 0, tzinfo=UTC))
    with Store.open(db_path) as store:
        assert store.recent_scans(5) == [first]
        assert store.last_sync_at() == datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
        assert store.pending_upload_count() == 1
        assert store.unsynced_scans() == [first]
        store.mark_synced([first.scan_id])
        assert store.pending_upload_count() == 0


def test_a_store_from_a_newer_release_is_refused_with_a_clear_error(db_path: Path) -> None:
    Store.open(db_path).close()
    with sqlite3.connect(db_path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="newer than this ticketgate understands"):
        Store.open(db_path)


@pytest.mark.parametrize("level", ["FULL", "NORMAL", "OFF"])
def test_a_store_opens_at_each_durability_level_asked_for(db_path: Path, level: str) -> None:
    with Store.open(db_path, synchronous=level) as store:  # type: ignore[arg-type]
        assert store.durability == ("wal", level)


def test_a_durability_level_sqlite_does_not_name_is_refused(db_path: Path) -> None:
    with pytest.raises(ValueError) as refused:
        Store.open(db_path, synchronous="off")  # type: ignore[arg-type]
    assert str(refused.value) == "synchronous must be FULL, NORMAL or OFF, not 'off'"


def test_a_file_that_is_not_a_store_is_refused_clearly(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    db_path.write_bytes(b"this is a text file, not SQLite\n" * 100)
    with pytest.raises(StoreError, match="damaged or not a ticketgate store"):
        Store.open(db_path)
    folder_as_parent = db_path.parent / "blocker" / "gate.sqlite3"
    (db_path.parent / "blocker").write_text("a file where a folder should be")
    with pytest.raises(StoreError) as no_folder:
        Store.open(folder_as_parent)
    assert str(no_folder.value) == f"cannot create the store's folder {folder_as_parent.parent}: File exists"


def _store_with_admissions(db_path: Path, tmp_path: Path, count: int) -> None:
    with Store.open(db_path) as store:
        gate = _gate(store, tmp_path)
        store.upsert_tickets(KnownTicket("STORE1", n, holder=f"Holder {n}") for n in range(1, 2001))
        for n in range(1, count + 1):
            assert gate.check(issue_code(KEY, n)).verdict is Verdict.ADMIT


def test_an_emptied_store_is_refused_and_never_becomes_a_fresh_store_that_admits_again(
    db_path: Path, tmp_path: Path
) -> None:
    _store_with_admissions(db_path, tmp_path, 3)
    db_path.write_bytes(b"")  # emptied: SQLite alone would take it for a new database
    with pytest.raises(StoreError, match="is empty"):
        Store.open(db_path)
    assert db_path.read_bytes() == b""  # left as it was, for whoever investigates
    # An SQLite file with no schema (made by someone else, or stripped) is refused the same way.
    db_path.unlink()
    sqlite3.connect(db_path).close()
    with sqlite3.connect(db_path) as db:
        db.execute("CREATE TABLE unrelated (x)")
    with pytest.raises(StoreError, match="is empty: it was emptied or truncated"):
        Store.open(db_path)


def test_a_truncated_store_is_refused_not_read_as_far_as_it_goes(db_path: Path, tmp_path: Path) -> None:
    _store_with_admissions(db_path, tmp_path, 3)
    size = db_path.stat().st_size
    assert size > 8 * 4096
    for cut in (size // 2, size - 4096, size - 100, 4096):
        whole = db_path.read_bytes()
        db_path.write_bytes(whole[:cut])
        with pytest.raises(StoreError, match="is truncated"):
            Store.open(db_path)
        db_path.write_bytes(whole)
    with Store.open(db_path) as store:
        assert store.counters().admitted == 3


def test_a_known_ticket_reads_back_whole_and_a_name_search_takes_percent_underscore_backslash_literally(
    db_path: Path,
) -> None:
    changed = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    refunded = KnownTicket(
        "STORE1",
        1,
        holder="Ann_Lee",
        revoked=True,
        revoked_reason="refunded",
        code=issue_code(KEY, 1),
        order_ref="7d9f7c1e-1111-4222-8333-444455556666",
        changed_at=changed,
    )
    holders = {2: "AnnXLee", 3: "50% off", 4: "500 off", 5: "back\\slash", 6: "backXslash"}
    with Store.open(db_path) as store:
        store.upsert_tickets([refunded, *(KnownTicket("STORE1", n, holder=h) for n, h in holders.items())])
        store.upsert_tickets([KnownTicket("STORE1", 7, revoked_reason="a valid ticket keeps no reason")])
        assert store.find_tickets("1") == [refunded]
        assert store.find_tickets("7") == [KnownTicket("STORE1", 7)]
        assert [t.serial for t in store.find_tickets("n_L")] == [1]
        assert [t.serial for t in store.find_tickets("0%")] == [3]
        assert [t.serial for t in store.find_tickets("k\\s")] == [5]


def test_the_store_holding_holder_names_is_private_and_an_old_public_one_is_made_private(
    db_path: Path, tmp_path: Path
) -> None:
    _store_with_admissions(db_path, tmp_path, 1)
    assert stat.S_IMODE(db_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(db_path.parent.stat().st_mode) == 0o700
    db_path.chmod(0o644)  # made by an earlier release
    with Store.open(db_path) as store:
        _gate(store, tmp_path).check(issue_code(KEY, 9))
        for made in db_path.parent.iterdir():  # the store, its WAL and shared memory
            assert stat.S_IMODE(made.stat().st_mode) == 0o600, made.name
    assert sorted(p.name for p in db_path.parent.iterdir()) == ["gate.sqlite3"]


def test_a_new_store_is_private_and_whole_from_the_moment_it_appears(db_path: Path) -> None:
    """Opening makes an old public store private, but a new one is never public, not even before that
    check: it is built 0600 under a temporary name and linked into place migrated."""
    db_path.parent.mkdir(mode=0o700)
    Store._create_file(db_path, busy_timeout_s=1.0)
    assert stat.S_IMODE(db_path.stat().st_mode) == 0o600
    assert sorted(p.name for p in db_path.parent.iterdir()) == ["gate.sqlite3"]  # no leftovers
    with contextlib.closing(sqlite3.connect(db_path)) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_symlink_planted_at_a_new_stores_temporary_name_is_not_followed(
    db_path: Path, tmp_path: Path
) -> None:
    db_path.parent.mkdir(mode=0o700)
    elsewhere = tmp_path / "elsewhere.sqlite3"
    planted = db_path.with_name(f".{db_path.name}.{os.getpid()}.{threading.get_ident()}.new")
    planted.symlink_to(elsewhere)
    with pytest.raises(StoreError, match=rf"^cannot create the store {db_path}: File exists$"):
        Store.open(db_path)
    assert not elsewhere.exists() and not db_path.exists()
    with Store.open(db_path) as store:  # the planted link was removed with the attempt
        assert store.schema_version == SCHEMA_VERSION


def test_a_store_path_that_is_a_device_is_refused(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    db_path.symlink_to("/dev/zero")
    with pytest.raises(StoreError, match="not a regular file"):
        Store.open(db_path)


def test_a_full_disk_is_a_clear_error_and_the_scan_is_not_recorded(db_path: Path, tmp_path: Path) -> None:
    with Store.open(db_path) as store:
        gate = _gate(store, tmp_path)
        assert gate.check(issue_code(KEY, 1)).admitted
        pages = store._conn.execute("PRAGMA page_count").fetchone()[0]
        # SQLite's page cap fails a write with SQLITE_FULL, exactly the error a full disk gives.
        store._conn.execute(f"PRAGMA max_page_count = {pages}")
        before = _scan_count(db_path)
        with pytest.raises(StoreError, match="disk is full") as caught:
            for n in range(2, 400):  # the first scans may fit in free pages; a new page is soon needed
                gate.check(issue_code(KEY, n))
        assert isinstance(caught.value, ScannerError)
        failed_serial = n
        recorded = _scan_count(db_path)
        assert recorded == before + (failed_serial - 2)  # every scan before the failure, not the failed one
        store._conn.execute("PRAGMA max_page_count = 1073741823")
        # Space is back: the ticket whose scan failed was not admitted and admits now.
        retry = gate.check(issue_code(KEY, failed_serial))
        assert retry.verdict is Verdict.ADMIT


def test_a_read_only_store_is_a_clear_error(db_path: Path, tmp_path: Path) -> None:
    with Store.open(db_path) as store:
        gate = _gate(store, tmp_path)
        store._conn.execute("PRAGMA query_only = 1")  # SQLITE_READONLY, as a read-only file would give
        with pytest.raises(StoreError, match="read-only"):
            gate.check(issue_code(KEY, 1))
    assert _scan_count(db_path) == 0


def test_a_store_locked_by_another_process_too_long_is_store_busy(db_path: Path, tmp_path: Path) -> None:
    with Store.open(db_path, busy_timeout_s=0.2) as store:
        gate = _gate(store, tmp_path)
        other = sqlite3.connect(db_path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        started = time.monotonic()
        try:
            with pytest.raises(StoreBusyError, match="busy"):
                gate.check(issue_code(KEY, 1))
        finally:
            other.execute("ROLLBACK")
            other.close()
        # After the store's own wait (0.2 s here), not SQLite's default 5 s: the gate says NOT
        # RECORDED promptly instead of freezing.
        assert time.monotonic() - started < 3
        assert gate.check(issue_code(KEY, 1)).admitted


def test_several_connections_opening_a_new_store_at_once_migrate_it_once(db_path: Path) -> None:
    errors: list[BaseException] = []
    stores: list[Store] = []
    barrier = threading.Barrier(4)

    def open_one() -> None:
        barrier.wait()
        try:
            stores.append(Store.open(db_path))
        except BaseException as exc:  # collected and asserted on below
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert {s.schema_version for s in stores} == {SCHEMA_VERSION}
    for s in stores:
        s.close()


def test_import_tickets_from_json_and_csv_and_revocations_are_sticky(tmp_path: Path, db_path: Path) -> None:
    json_file = tmp_path / "tickets.json"
    json_file.write_text(
        '{"tickets": [{"event": "STORE1", "serial": 1, "holder": "Ada Lovelace"},'
        ' {"code": "' + issue_code(KEY, 2) + '", "holder": "Alan Turing"}],'
        ' "revocations": [{"event": "store1", "serial": 3, "reason": "refunded"}]}'
    )
    csv_file = tmp_path / "tickets.csv"
    csv_file.write_text(
        "event,serial,holder,status\nSTORE1,3,Grace Hopper,paid\nSTORE1,4,Edsger Dijkstra,cancelled\n"
    )
    with Store.open(db_path) as store:
        assert store.import_tickets(json_file) == 3
        assert store.import_tickets(csv_file) == 2
        gate = _gate(store, tmp_path)
        verdicts = {n: gate.check(issue_code(KEY, n)) for n in (1, 2, 3, 4, 5)}
        found_by_name = store.find_tickets("grace")
        by_serial = store.find_tickets("4")
        by_code = store.find_tickets(issue_code(KEY, 2))
        by_prefix = store.find_tickets("store1-001")
        nothing = store.find_tickets("100%_")
        # What a look-up field may receive (a long barcode number, a superscript digit): no ticket, no crash.
        odd = [store.find_tickets(q) for q in ("99999999999999999999", "²", "STORE1-99999999999999999999")]
    assert [verdicts[n].verdict for n in (1, 2, 5)] == [Verdict.ADMIT] * 3  # unknown serial 5 admits too
    assert verdicts[3].verdict is Verdict.REVOKED and verdicts[3].reason == "revoked: refunded"
    assert verdicts[4].verdict is Verdict.REVOKED and verdicts[4].reason == "revoked: cancelled"
    # The later CSV listed serial 3 as paid; the refund stays (refunds are final), the holder is learned.
    assert found_by_name == [
        KnownTicket(event="STORE1", serial=3, holder="Grace Hopper", revoked=True, revoked_reason="refunded")
    ]
    assert [t.serial for t in by_serial] == [4] and [t.serial for t in by_code] == [2]
    assert [t.holder for t in by_prefix] == ["Ada Lovelace"]
    assert nothing == []
    assert odd == [[], [], []]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[{}]", r"entry 1: event None is not 4 to 12"),
        ('[{"event": "STORE1", "serial": "x"}]', r"entry 1: serial 'x' is not a whole number"),
        ('[{"event": "STORE1", "serial": 0}]', r"serial 0 does not exist"),
        ('[{"code": "nope"}]', r"entry 1: code 'nope'"),
        ('{"tickets": 5}', r"must be lists"),
        ("{not json", r"not valid JSON"),
        pytest.param("[" * 100_000, r"not valid JSON: nested too deeply", id="nested-too-deeply"),
        ("name,age\nAda,36\n", r"not JSON, and not CSV"),
        ("event,serial\nSTORE1,1\nSTORE1,-2\n", r"line 3: serial -2 does not exist"),
        ("event,serial,revoked\nSTORE1,1,maybe\n", r"line 2: revoked/status 'maybe'"),
        # Past 2**63 SQLite cannot bind it: once a traceback, now the line at fault.
        ("event,serial\nSTORE1,99999999999999999999\n", r"line 2: serial 99999999999999999999 does not"),
        ('[{"event": "STORE1", "serial": 1000000000}]', r"entry 1: serial 1000000000 does not exist"),
        # A lone surrogate in a holder's name made SQLite raise UnicodeEncodeError: a traceback.
        (
            '[{"event": "STORE1", "serial": 1, "holder": "\\ud800"}]',
            r"entry 1: holder '\\ud800' holds control",
        ),
        (
            '[{"event": "STORE1", "serial": 1, "holder": "A\\u001b[2J"}]',
            r"entry 1: holder 'A\\x1b\[2J' holds",
        ),
        ("event,serial,holder\nSTORE1,1,Ada\x07\n", r"line 2: holder 'Ada\\x07' holds control characters"),
        (
            '[{"event": "STORE1", "serial": 1, "revoked": true, "reason": "\\udfff"}]',
            r"entry 1: reason '\\udfff' holds",
        ),
        ('[{"event": "STORE1", "serial": 1, "holder": "' + "A" * 201 + '"}]', r"longer than 200 characters"),
    ],
)
def test_a_bad_ticket_list_names_the_entry_and_imports_nothing(
    tmp_path: Path, db_path: Path, content: str, message: str
) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text(content)
    with Store.open(db_path) as store:
        with pytest.raises(TicketListError, match=message) as refused:
            store.import_tickets(bad)
        assert str(refused.value).startswith(f"{bad}")  # the message names the file
        assert store.find_tickets("1") == []
    with Store.open(db_path) as store, pytest.raises(TicketListError, match="no such file"):
        store.import_tickets(tmp_path / "missing.json")


def test_a_ticket_list_that_is_a_device_a_folder_or_not_utf8_is_refused_without_reading_it_all(
    tmp_path: Path, db_path: Path
) -> None:
    endless = tmp_path / "endless.json"
    endless.symlink_to("/dev/zero")  # was read until MemoryError
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("event,serial,holder\nSTORE1,1,Jos\xe9\n".encode("latin-1"))
    huge = tmp_path / "huge.json"
    with huge.open("wb") as fh:
        fh.truncate(300 * 2**20)  # sparse: refused by its size, never read
    with Store.open(db_path) as store:
        for path, message in (
            (endless, "not a regular file"),
            (tmp_path, "is a folder"),
            (latin1, "not UTF-8 text"),
            (huge, "larger than 256 MiB"),
        ):
            with pytest.raises(TicketListError, match=message):
                store.import_tickets(path)
        assert store.find_tickets("1") == []


def test_scans_reach_the_database_file_in_the_background_and_close_stops_it(
    db_path: Path, tmp_path: Path
) -> None:
    with Store.open(db_path) as store:
        gate = _gate(store, tmp_path)
        # Far below the inline safety threshold: only the background checkpoint moves these out of the WAL.
        for n in range(1, 201):
            gate.check(issue_code(KEY, n))
        main_file_scans = 0
        deadline = time.monotonic() + 10
        while main_file_scans < 200 and time.monotonic() < deadline:
            time.sleep(0.2)
            snapshot = tmp_path / "main-file-only.sqlite3"
            shutil.copyfile(db_path, snapshot)  # the database file alone, without its -wal
            with contextlib.closing(sqlite3.connect(snapshot)) as db:
                tables = db.execute("SELECT name FROM sqlite_schema WHERE name = 'scans'").fetchall()
                if tables:  # before the first checkpoint even the schema is only in the WAL
                    main_file_scans = db.execute("SELECT count(*) FROM scans").fetchone()[0]
            for leftover in tmp_path.glob("main-file-only.sqlite3*"):
                leftover.unlink()
        assert main_file_scans == 200
    assert not [t for t in threading.enumerate() if t.name.startswith("checkpoint ")]


def test_what_a_scan_records_is_what_staff_and_later_scans_are_told(db_path: Path, tmp_path: Path) -> None:
    """Each field of a recorded scan and each part of the stored state reaches the verdicts and the
    figures: mutants that dropped the first admission, the revocation reason, the gate left by or
    a rejected code's event survived the tests that only looked at verdicts."""
    times = iter(datetime(2026, 5, 1, 18, 0, tzinfo=UTC) + timedelta(minutes=m) for m in range(100))
    with Store.open(db_path) as store:
        keys = KeyStore(tmp_path / "keys")
        keys.add(KEY)

        def gate(name: str) -> Gate:
            return Gate(store=store, keys=keys, event="STORE1", gate_name=name, clock=lambda: next(times))

        assert store.counters() == Counters(admitted=0, rejected=0, inside=0, exits=0)
        store.upsert_tickets(
            [
                KnownTicket("STORE1", 4, revoked=True),
                KnownTicket("STORE1", 5, revoked=True, revoked_reason="chargeback"),
            ]
        )
        assert gate("Gate A").check(issue_code(KEY, 4), direction=Direction.IN).reason == (
            "revoked: refunded or cancelled"
        )
        assert gate("Gate A").check(issue_code(KEY, 5)).reason == "revoked: chargeback"
        assert [t.revoked for t in store.find_tickets("4")] == [True]
        assert store.counters() == Counters(admitted=0, rejected=2, inside=0, exits=0)

        first = gate("Gate A").check(issue_code(KEY, 1))  # 18:02
        again = gate("Gate B").check(issue_code(KEY, 1))
        assert (again.verdict, again.first_admitted_at, again.first_admitted_gate) == (
            Verdict.ALREADY_USED,
            first.scanned_at,
            "Gate A",
        )
        assert store.recent_scans(1) == [again]  # read back whole, first admission included
        assert gate("Exit E").check(issue_code(KEY, 1), direction=Direction.OUT).reason == "exit recorded"
        assert (
            gate("Exit E")
            .check(issue_code(KEY, 1), direction=Direction.OUT)
            .reason.startswith("not inside: left ")
        )
        back = gate("Gate C").check(issue_code(KEY, 1))
        assert back.verdict is Verdict.ADMIT and back.reason.startswith("re-entry (left ")
        assert back.reason.endswith(" at Exit E)")
        assert store.counters() == Counters(admitted=2, rejected=4, inside=1, exits=1)

        other = derive_event_key(b"store-test-master-secret-32bytes", "OTHER1", 1)
        wrong = gate("Gate A").check(issue_code(other, 9))
        assert (wrong.verdict, wrong.code, wrong.event, wrong.serial) == (
            Verdict.WRONG_EVENT,
            issue_code(other, 9),
            "OTHER1",
            9,
        )
        assert store.recent_scans(1) == [wrong]

        for n in range(30):
            gate("Gate A").check(f"junk {n}")
        assert len(store.recent_scans()) == 20  # the gate screen's "last 20 scans"


def test_serials_are_found_up_to_the_largest_a_code_can_hold(db_path: Path) -> None:
    with Store.open(db_path) as store:
        store.upsert_tickets([KnownTicket("STORE1", 999_999_999, holder="Last"), KnownTicket("STORE1", 1)])
        assert [t.holder for t in store.find_tickets("999999999")] == ["Last"]
        assert [t.holder for t in store.find_tickets("STORE1-999999999")] == ["Last"]
        assert store.find_tickets("1000000000") == []


def test_times_are_stored_in_utc_whatever_the_laptops_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    try:
        assert ts(datetime(2026, 5, 1, 18, 0, tzinfo=UTC)) == "2026-05-01T18:00:00.000000+00:00"
        assert ts(datetime(2026, 5, 1, 23, 30, tzinfo=timezone(timedelta(hours=5, minutes=30)))) == (
            "2026-05-01T18:00:00.000000+00:00"
        )
    finally:
        monkeypatch.undo()
        time.tzset()


def test_counters_of_one_gate_event_leave_out_the_others(db_path: Path, tmp_path: Path) -> None:
    other = derive_event_key(b"store-test-master-secret-32bytes", "OTHER1", 1)
    with Store.open(db_path) as store:
        keys = KeyStore(tmp_path / "keys")
        keys.add(KEY)
        keys.add(other)
        Gate(store=store, keys=keys, event="STORE1", gate_name="A").check(issue_code(KEY, 1))
        Gate(store=store, keys=keys, event="OTHER1", gate_name="B").check(issue_code(other, 1))
        Gate(store=store, keys=keys, event="OTHER1", gate_name="B").check(issue_code(other, 1))
        assert store.counters(event="STORE1") == Counters(admitted=1, rejected=0, inside=1, exits=0)
        assert store.counters(event="other1") == Counters(admitted=1, rejected=1, inside=1, exits=0)
        assert store.counters() == Counters(admitted=2, rejected=1, inside=2, exits=0)
