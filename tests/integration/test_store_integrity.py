"""scanner.store.integrity: a store file emptied, cut short or unreadable is refused before SQLite
reads it (SQLite would take it for a new database and the gate would admit every ticket again), and
a store SQLite can still recover is left to SQLite. Real SQLite files, cut and patched on disk."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from scanner.errors import StoreError
from scanner.store.integrity import check_store_file


def _database(path: Path, *, page_size: int = 4096, rows: int = 40) -> int:
    """An SQLite file of several pages (rollback journal: no WAL left beside it); its size."""
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA page_size = {page_size}")
        db.execute("CREATE TABLE t (x BLOB)")
        db.executemany("INSERT INTO t VALUES (?)", [(bytes(1000),) for _ in range(rows)])
    db.close()
    return path.stat().st_size


def _cut(path: Path, size: int) -> None:
    with path.open("r+b") as fh:
        fh.truncate(size)


def _refusal(path: Path) -> str:
    with pytest.raises(StoreError) as refused:
        check_store_file(path)
    return str(refused.value)


def test_an_emptied_store_is_refused_saying_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "gate.sqlite3"
    path.write_bytes(b"")
    assert _refusal(path) == (
        f"the store {path} is empty (0 bytes): it was emptied or truncated. Refusing to start a fresh "
        "store in its place, which would admit every ticket again; move it aside to start anew"
    )


def test_a_store_cut_by_whole_pages_is_refused_naming_both_sizes(tmp_path: Path) -> None:
    path = tmp_path / "gate.sqlite3"
    size = _database(path)
    check_store_file(path)  # whole: accepted
    _cut(path, size - 4096)
    assert _refusal(path) == (
        f"the store {path} is truncated ({size - 4096} bytes; its header says {size}). Refusing to use "
        "it, which could admit tickets again; move it aside to start a new store, and keep it: it may "
        "be recoverable"
    )


def test_a_store_of_64_kib_pages_is_measured_in_its_own_pages(tmp_path: Path) -> None:
    # The header writes a page size of 65536 as 1 (it does not fit in two bytes).
    path = tmp_path / "gate.sqlite3"
    size = _database(path, page_size=65536, rows=200)
    assert size >= 3 * 65536 and path.read_bytes()[16:18] == b"\x00\x01"
    check_store_file(path)
    _cut(path, size - 65536)
    assert "is truncated" in _refusal(path)


def test_a_store_whose_wal_holds_frames_is_left_to_sqlites_recovery(tmp_path: Path) -> None:
    path = tmp_path / "gate.sqlite3"
    size = _database(path)
    _cut(path, size - 4096)  # as when a checkpoint stopped half-way: the pages are still in the WAL
    wal = Path(f"{path}-wal")
    wal.write_bytes(bytes(32 + 24 + 4096))  # its header and one frame
    check_store_file(path)
    wal.write_bytes(bytes(32))  # a header alone holds no page: the cut file is refused
    assert "is truncated" in _refusal(path)


def test_a_page_count_the_header_does_not_vouch_for_is_not_trusted(tmp_path: Path) -> None:
    # Writers before SQLite 3.7.0 left the page count stale; the "version valid for" number (bytes
    # 92-96) then differs from the change counter (bytes 24-28) and SQLite sizes the file itself.
    path = tmp_path / "gate.sqlite3"
    size = _database(path)
    header = bytearray(path.read_bytes()[:100])
    pages = int.from_bytes(header[28:32], "big")
    header[28:32] = (pages + 5).to_bytes(4, "big")
    with path.open("r+b") as fh:
        fh.write(header)
    assert "is truncated" in _refusal(path)  # vouched for: five pages are missing
    header[92:96] = (int.from_bytes(header[24:28], "big") + 1).to_bytes(4, "big")
    with path.open("r+b") as fh:
        fh.write(header)
    check_store_file(path)  # not vouched for: the file's own size is believed
    assert path.stat().st_size == size


def test_a_store_path_that_cannot_be_opened_says_why(tmp_path: Path) -> None:
    loop = tmp_path / "gate.sqlite3"
    loop.symlink_to(loop)
    assert _refusal(loop) == f"cannot read the store {loop}: Too many levels of symbolic links"
