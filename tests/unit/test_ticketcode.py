"""The ticket-code format: issue, parse, verify, key files."""

from __future__ import annotations

import base64
import hmac
import json
from hashlib import sha256

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ticketcode import (
    EventKey,
    KeyFileError,
    MalformedCode,
    derive_event_key,
    dump_key_file,
    find_signing_key,
    issue_code,
    load_key_file,
    parse_code,
    serial_width,
)

MASTER = b"m" * 32


def test_tag_is_the_documented_hmac_of_event_dash_serial() -> None:
    key = EventKey(event="VL9IHU", version=1, key=bytes(range(32)))
    expected = hmac.new(bytes(range(32)), b"VL9IHU-001", sha256).hexdigest()[:8]
    assert issue_code(key, 1) == f"VL9IHU-001-{expected}"


def test_serial_is_padded_to_at_least_three_digits_and_more_for_large_events() -> None:
    assert serial_width(100) == 3
    assert serial_width(1000) == 4
    key = derive_event_key(MASTER, "BIGFEST")
    assert issue_code(key, 7, width=serial_width(20_000)).split("-")[1] == "00007"


def test_parse_is_case_insensitive_and_ignores_surrounding_space() -> None:
    key = derive_event_key(MASTER, "VL9IHU")
    code = issue_code(key, 42)
    parsed = parse_code(f" \t{code.swapcase()}\r\n")
    assert str(parsed) == code
    assert find_signing_key(parsed, [key]) == key


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "VL9IHU-001",
        "VL9IHU-001-xyz12345",
        "V-001-f3a2b1c0",
        "VL9IHU-000-f3a2b1c0",
        "https://example.com/t/VL9IHU-001-f3a2b1c0",
        "VL9IHU 001 f3a2b1c0",
        "x" * 10_000,
        b"\xff\xfe\x00garbage",
        "VL9IHU-001-f3a2b1c0-extra",
    ],
)
def test_anything_but_a_code_is_malformed(raw: str | bytes) -> None:
    with pytest.raises(MalformedCode):
        parse_code(raw)


def test_tampered_serial_or_tag_or_other_event_key_does_not_verify() -> None:
    key = derive_event_key(MASTER, "VL9IHU")
    other = derive_event_key(MASTER, "OTHER1")
    event, serial, tag = issue_code(key, 10).split("-")
    assert find_signing_key(parse_code(f"{event}-011-{tag}"), [key]) is None
    flipped = tag[:-1] + ("0" if tag[-1] != "0" else "1")
    assert find_signing_key(parse_code(f"{event}-{serial}-{flipped}"), [key]) is None
    forged = issue_code(EventKey(event="VL9IHU", version=1, key=other.key), 10)
    assert find_signing_key(parse_code(forged), [key]) is None


def test_a_tag_changed_in_any_one_digit_or_cut_or_lengthened_does_not_verify() -> None:
    # Every earlier tamper test changed the last digit only: a comparison that skipped the first
    # digit (or any other) passed them all.
    key = derive_event_key(MASTER, "VL9IHU")
    good = issue_code(key, 42)
    signed, tag = good.rsplit("-", 1)
    assert find_signing_key(parse_code(good), [key]) == key
    for position in range(len(tag)):
        for digit in "0123456789abcdef".replace(tag[position], ""):
            changed = tag[:position] + digit + tag[position + 1 :]
            assert find_signing_key(parse_code(f"{signed}-{changed}"), [key]) is None, changed
    for other_length in (tag + "0", tag + tag, tag[:-1] + "00"):
        assert find_signing_key(parse_code(f"{signed}-{other_length}"), [key]) is None


def _rfc5869_hkdf_sha256(ikm: bytes, *, salt: bytes, info: bytes, length: int) -> bytes:
    """HKDF-SHA256 written out from RFC 5869, independently of the `cryptography` package."""
    prk = hmac.new(salt, ikm, sha256).digest()
    okm, block, counter = b"", b"", 1
    while len(okm) < length:
        block = hmac.new(prk, block + info + bytes([counter]), sha256).digest()
        okm, counter = okm + block, counter + 1
    return okm[:length]


def test_event_keys_are_hkdf_sha256_with_the_documented_salt_and_info() -> None:
    # Known answers: a change to the derivation makes every ticket already sold INVALID, so it must
    # not pass unnoticed (an info string without separators, f"{event}{version}", passed all but the
    # snapshot tests).
    assert derive_event_key(MASTER, "VL9IHU", 1).key.hex() == (
        "e0c9ed7c7416213be1ba23b28d80d720b47c7797092bd6502311e3d6466c9c90"
    )
    assert derive_event_key(MASTER, "VL9IHU", 2).key.hex() == (
        "825594174d48f9097054db0fbbc8c4834134a9d47e0c613fd7528027d743cac6"
    )
    assert issue_code(derive_event_key(MASTER, "VL9IHU", 1), 1) == "VL9IHU-001-fb0bc00a"
    for event, version in (("VL9IHU", 1), ("AB12", 11), ("AB121", 1), ("ZZZZ99999999", 2**31)):
        expected = _rfc5869_hkdf_sha256(
            MASTER,
            salt=b"ticketgate/event-key/v1",
            info=f"event={event};version={version}".encode(),
            length=32,
        )
        assert derive_event_key(MASTER, event, version).key == expected
    # Event and version are separated: AB12 v11 and AB121 v1 get different keys.
    assert derive_event_key(MASTER, "AB12", 11).key != derive_event_key(MASTER, "AB121", 1).key


def test_every_held_key_version_is_tried() -> None:
    v1 = derive_event_key(MASTER, "VL9IHU", 1)
    v2 = derive_event_key(MASTER, "VL9IHU", 2)
    assert v1.key != v2.key
    assert find_signing_key(parse_code(issue_code(v1, 5)), [v2, v1]) == v1


def test_keys_differ_per_event_and_are_deterministic() -> None:
    assert derive_event_key(MASTER, "AAAA").key == derive_event_key(MASTER, "AAAA").key
    assert derive_event_key(MASTER, "AAAA").key != derive_event_key(MASTER, "BBBB").key


def test_key_file_round_trips_in_the_documented_shape() -> None:
    key = derive_event_key(MASTER, "VL9IHU", 3)
    data = json.loads(dump_key_file(key))
    assert data == {
        "event": "VL9IHU",
        "version": 3,
        "algorithm": "HMAC-SHA256",
        "tag_hex_digits": 8,
        "key": base64.b64encode(key.key).decode(),
    }
    assert load_key_file(dump_key_file(key)) == key
    assert "key=" not in repr(key) and base64.b64encode(key.key).decode() not in repr(key)


_K = base64.b64encode(b"k" * 32).decode()
_FILE = '{"event": %s, "version": %s, "algorithm": %s, "key": %s%s}'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "not a JSON key file: Expecting value: line 1 column 1 (char 0)"),
        (b"\xff", "not a JSON key file: 'utf-8' codec can't decode byte 0xff in position 0: invalid start byte"),  # noqa: E501
        ("[]", "a key file must be a JSON object"),
        ('{"event": "VL9IHU"}', "key file lacks field(s): version, algorithm, key"),
        ('{"version": 1, "algorithm": "HMAC-SHA256"}', "key file lacks field(s): event, key"),
        (_FILE % ('"VL9IHU"', 1, '"HMAC-MD5"', f'"{_K}"', ""), "algorithm 'HMAC-MD5' is not supported (only HMAC-SHA256 or Ed25519)"),  # noqa: E501
        (_FILE % ('"VL9IHU"', 1, '"HMAC-SHA256"', '"c2hvcnQ="', ""), "key is 5 bytes; at least 32 are required"),  # noqa: E501
        (_FILE % ('"VL9IHU"', 1, '"HMAC-SHA256"', '"!!!"', ""), "'key' is not valid base64"),
        (_FILE % ('"lower"', 1, '"HMAC-SHA256"', f'"{_K}"', ""), "event code 'lower' is not 4 to 12 of A-Z and 0-9"),  # noqa: E501
        (_FILE % ('"VL9IHU"', 0, '"HMAC-SHA256"', f'"{_K}"', ""), "key version must be a positive integer, not 0"),  # noqa: E501
        (_FILE % (5, 1, '"HMAC-SHA256"', f'"{_K}"', ""), "'event' and 'key' must be strings"),
        (_FILE % ('"VL9IHU"', 1, 5, f'"{_K}"', ""), "'algorithm' must be a string"),
        (_FILE % ('"VL9IHU"', 1, '"HMAC-SHA256"', f'"{_K}"', ', "tag_hex_digits": true'),
         "'tag_hex_digits' must be an integer"),
        (_FILE % ('"VL9IHU"', 1, '"HMAC-SHA256"', f'"{_K}"', ', "tag_hex_digits": 7'),
         "tag_hex_digits must be 8..64, not 7"),
    ],
)  # fmt: skip
def test_bad_key_files_say_exactly_what_is_wrong(text: str | bytes, message: str) -> None:
    with pytest.raises(KeyFileError) as refused:
        load_key_file(text)
    assert str(refused.value) == message


@given(st.one_of(st.text(max_size=300), st.binary(max_size=300)))
def test_parse_never_raises_anything_but_malformed(raw: str | bytes) -> None:
    try:
        parse_code(raw)
    except MalformedCode:
        pass


@given(
    st.integers(min_value=1, max_value=999_999),
    st.text(alphabet="0123456789abcdef", min_size=8, max_size=8),
)
def test_only_the_right_tag_verifies(serial: int, tag: str) -> None:
    key = derive_event_key(MASTER, "PROP01")
    good = issue_code(key, serial)
    candidate = f"{good.rsplit('-', 1)[0]}-{tag}"
    assert (find_signing_key(parse_code(candidate), [key]) is not None) == (candidate == good)


def test_a_key_file_nested_too_deeply_for_the_parser_is_a_key_file_error() -> None:
    with pytest.raises(KeyFileError, match="nested too deeply"):
        load_key_file("[" * 100_000 + "]" * 100_000)


def test_keys_of_other_events_before_the_right_one_are_skipped_not_the_end_of_the_search() -> None:
    key = derive_event_key(MASTER, "VL9IHU", 2)
    others = [derive_event_key(MASTER, "OTHER1"), derive_event_key(MASTER, "OTHER2")]
    code = parse_code(issue_code(key, 3))
    assert find_signing_key(code, [*others, derive_event_key(MASTER, "VL9IHU", 1), key]) == key


@pytest.mark.parametrize("raw", [None, 42, ["VL9IHU-001-00000000"]])
def test_something_that_is_not_text_at_all_is_malformed_not_text(raw: object) -> None:
    with pytest.raises(MalformedCode, match=r"^not text$"):
        parse_code(raw)  # type: ignore[arg-type]


def test_key_derivation_defaults_and_bounds() -> None:
    assert derive_event_key(MASTER, "VL9IHU") == derive_event_key(MASTER, "VL9IHU", 1)  # version 1 by default
    assert derive_event_key(b"s" * 16, "VL9IHU").key  # 16 bytes is enough
    with pytest.raises(KeyFileError, match="at least 16 bytes"):
        derive_event_key(b"s" * 15, "VL9IHU")
    assert derive_event_key(MASTER, "VL9IHU", tag_hex_digits=12).tag_hex_digits == 12
    assert EventKey(event="VL9IHU", version=1, key=b"k" * 32, tag_hex_digits=64).tag_hex_digits == 64
    for version in (True, 0, -1, "1"):
        with pytest.raises(KeyFileError, match="positive integer"):
            EventKey(event="VL9IHU", version=version, key=b"k" * 32)  # type: ignore[arg-type]


def test_input_of_exactly_the_longest_length_is_parsed_not_called_too_long() -> None:
    from ticketcode.codes import MAX_INPUT_CHARS

    with pytest.raises(MalformedCode, match=r"^not a ticket code"):
        parse_code("x" * MAX_INPUT_CHARS)
    with pytest.raises(MalformedCode, match=r"^too long"):
        parse_code("x" * (MAX_INPUT_CHARS + 1))
