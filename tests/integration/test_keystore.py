"""The key store on real files: validation, mode 0600, older versions kept, conflicts refused."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import pytest

from scanner.errors import KeyStoreError
from scanner.keystore import KeyStore
from ticketcode import derive_event_key, dump_key_file

SECRET = b"keystore-test-master-secret-32by"
V1 = derive_event_key(SECRET, "VL9IHU", 1)
V2 = derive_event_key(SECRET, "VL9IHU", 2)


def _file(tmp_path: Path, name: str, content: str | dict[str, object]) -> Path:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def test_imported_key_is_kept_with_mode_0600_and_older_versions_stay(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "keys")
    assert store.all() == [] and store.events() == []
    first = store.import_file(_file(tmp_path, "v1.json", dump_key_file(V1)))
    second = store.import_file(_file(tmp_path, "v2.json", dump_key_file(V2)))
    assert (first.version, second.version) == (1, 2)
    assert [k.version for k in store.keys_for("VL9IHU")] == [1, 2]
    assert [k.key for k in KeyStore(tmp_path / "keys").all()] == [V1.key, V2.key]  # a fresh reader too
    assert store.events() == ["VL9IHU"]
    files = sorted((tmp_path / "keys").iterdir())
    assert [f.name for f in files] == ["VL9IHU.v1.json", "VL9IHU.v2.json"]
    for f in files:
        assert stat.S_IMODE(f.stat().st_mode) == 0o600


def test_importing_the_same_key_twice_is_harmless_but_a_different_key_is_refused(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "keys")
    store.import_file(_file(tmp_path, "v1.json", dump_key_file(V1)))
    store.import_file(_file(tmp_path, "again.json", dump_key_file(V1)))
    impostor = derive_event_key(b"another-master-secret-32-bytes!!", "VL9IHU", 1)
    with pytest.raises(KeyStoreError, match="a different key for VL9IHU v1 is already held"):
        store.import_file(_file(tmp_path, "impostor.json", dump_key_file(impostor)))
    assert [k.key for k in store.all()] == [V1.key]


GOOD = json.loads(dump_key_file(V1))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json at all", "not a JSON key file"),
        ("[1, 2]", "must be a JSON object"),
        ({k: v for k, v in GOOD.items() if k != "key"}, "lacks field"),
        ({**GOOD, "algorithm": "HMAC-SHA1"}, "algorithm 'HMAC-SHA1' is not supported"),
        ({**GOOD, "key": base64.b64encode(b"short").decode()}, "key is 5 bytes; at least 32"),
        ({**GOOD, "key": "!!notbase64!!"}, "not valid base64"),
        ({**GOOD, "event": "bad event"}, "is not 4 to 12"),
        ({**GOOD, "version": 0}, "positive integer"),
        ({**GOOD, "tag_hex_digits": 4}, "tag_hex_digits must be"),
    ],
)
def test_a_bad_key_file_is_refused_with_a_clear_reason_and_nothing_kept(
    tmp_path: Path, content: str | dict[str, object], message: str
) -> None:
    store = KeyStore(tmp_path / "keys")
    bad = _file(tmp_path, "bad.json", content)
    with pytest.raises(KeyStoreError, match=message) as caught:
        store.import_file(bad)
    assert str(caught.value).startswith(f"{bad}: ")
    assert store.all() == []


def test_missing_or_unreadable_key_files_are_clear_errors(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "keys")
    with pytest.raises(KeyStoreError, match="no such file"):
        store.import_file(tmp_path / "missing.json")
    with pytest.raises(KeyStoreError, match="is a folder"):
        store.import_file(tmp_path)
    huge = _file(tmp_path, "huge.json", "x" * 100_000)
    with pytest.raises(KeyStoreError, match="too large"):
        store.import_file(huge)


def test_a_damaged_file_in_the_key_folder_is_skipped_and_reported(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "keys")
    store.add(V1)
    (tmp_path / "keys" / "VL9IHU.v2.json").write_text("{ damaged")
    (tmp_path / "keys" / "README.md").write_text("not a key")
    assert [k.version for k in store.all()] == [1]
    assert len(store.problems()) == 1 and store.problems()[0].startswith("VL9IHU.v2.json: ")
    # A file whose name and content disagree is not trusted either.
    (tmp_path / "keys" / "VL9IHU.v2.json").write_text(dump_key_file(V1))
    assert [k.version for k in KeyStore(tmp_path / "keys").all()] == [1]
    assert "file name says VL9IHU v2" in store.problems()[0]


def test_a_key_folder_that_cannot_be_listed_is_a_clear_error_not_a_crash(tmp_path: Path) -> None:
    # A file where the key folder should be (a botched copy from a USB stick): every read says so.
    (tmp_path / "keys").write_text("not a folder")
    store = KeyStore(tmp_path / "keys")
    for read in (store.all, store.events, store.problems, lambda: store.keys_for("VL9IHU")):
        with pytest.raises(KeyStoreError, match="cannot read the key folder"):
            read()


def test_a_key_file_nested_too_deeply_for_json_is_refused_and_skipped_not_a_crash(tmp_path: Path) -> None:
    deep = _file(tmp_path, "deep.json", "[" * 60_000)  # under the size limit, past the parser's depth
    store = KeyStore(tmp_path / "keys")
    with pytest.raises(KeyStoreError, match="nested too deeply"):
        store.import_file(deep)
    store.add(V1)
    (tmp_path / "keys" / "VL9IHU.v2.json").write_text("[" * 60_000)
    assert [k.version for k in store.all()] == [1]  # the gate keeps scanning with the good key
    assert store.problems() == ["VL9IHU.v2.json: not a JSON key file: nested too deeply"]
    (tmp_path / "keys" / "VL9IHU.v2.json").write_text(" " * 70_000)
    assert store.problems() == ["VL9IHU.v2.json: too large to be a key file"]
