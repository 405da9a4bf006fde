"""Signing schemes per event: known answers for HMAC and Ed25519, forged codes of every kind rejected."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given
from hypothesis import strategies as st

from ticketcode import (
    Ed25519Signer,
    EventKey,
    KeyFileError,
    MalformedCode,
    derive_signing_key,
    derive_verify_key,
    dump_key_file,
    find_signing_key,
    issue_code,
    load_key_file,
    parse_code,
    parse_reference,
)
from ticketcode.codes import ED25519_TAG_CHARS, MAX_INPUT_CHARS, TicketCode

MASTER = b"ticketgate known-answer master secret"

# Fixed master secret -> fixed keys and codes. A change to any of these makes every ticket already
# sold INVALID: it must never pass unnoticed.
KNOWN_KEYS = {
    ("hmac", 1): "57545c15a26360f560b86dc0f7c5f7792c7a4b3e75eccc8d23a43c83f09f3bef",
    ("hmac", 2): "77a57211b6e50fb655bd9c287323e72ac90075aeba50d2e03bbf4c165c2bc8b1",
    ("ed25519", 1): "ad10d44c7b4b80935030bb800c3b0b660780d1c3139faf221b740593eda50658",
    ("ed25519", 2): "c8f6310ab8dfedb0b3073da0e6ef2dcc8583e887a468544e61e17999d05bd37c",
}
KNOWN_SEEDS = {
    1: "7c9e0376d1934a20167ee0c17b76bfa7aa3cd333d033e357e118aed4d5241b5d",
    2: "801bcc5c53df6ad3ef4beb65e37953711be043c0bbce3d13769e167b7ac6644c",
}
KNOWN_CODES = {
    ("hmac", 1): ("RTEV1-001-453a9048", "RTEV1-0042-0bb8edc6"),
    ("hmac", 2): ("RTEV1-001-9d387031", "RTEV1-0042-a402212e"),
    ("ed25519", 1): (
        "RTEV1-001-W6RXEVRXYZ7QHDGCGG3QKCMTDBEG5YJYOVUZK5673UHEUMYLR7HT23NVL3OBETGXZUXLJK4EH2PNX5QYFZG7BSEYMLKZI56Y4TYRSDA",
        "RTEV1-0042-XGIFNRTBAZRAQSNY4YTQVZUTQJEVWFQVGX342TOTZTRNZGFHDARHFMOXU7HBPRB5JPIZG6I7VA6XHW7XNQUR4E53CCWMA7ETK2EW2CA",
    ),
    ("ed25519", 2): (
        "RTEV1-001-6L537SKBEVCINN4KCBHQZRGK7KYD36JTMYV7VYFLYYISB3U3AOOUHCEX34OK7UNBZKTWBQSL5J3E6GEZR2LKOFV2RNYBZ5HYT6KMUCY",
        "RTEV1-0042-KWH5RNME3EAJJCYV3DDWBFSCOLQO6CGDJ5KLOKRGN6NSW222ZABTJQBBSNKACTSIQC5JMTYXCDCJNPBAPD7ZDJ6UNWSJ45QUMDBHQBI",
    ),
}  # fmt: skip
SCHEMES = ("hmac", "ed25519")


@pytest.mark.parametrize(("scheme", "version"), sorted(KNOWN_KEYS))
def test_known_answers_keys_and_codes_of_both_schemes(scheme: str, version: int) -> None:
    key = derive_verify_key(MASTER, "RTEV1", version, scheme=scheme)
    signer = derive_signing_key(MASTER, "RTEV1", version, scheme=scheme)
    assert key.key.hex() == KNOWN_KEYS[scheme, version]
    assert (issue_code(signer, 1), issue_code(signer, 42, width=4)) == KNOWN_CODES[scheme, version]
    for code in KNOWN_CODES[scheme, version]:
        assert find_signing_key(parse_code(code), [key]) == key


@pytest.mark.parametrize("version", [1, 2])
def test_the_ed25519_seed_is_hkdf_with_its_own_salt_and_the_documented_info(version: int) -> None:
    expected = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=b"ticketgate/event-ed25519-seed/v1",
        info=f"event=RTEV1;version={version}".encode(),
    ).derive(MASTER)
    signer = derive_signing_key(MASTER, "RTEV1", version, scheme="ed25519")
    assert isinstance(signer, Ed25519Signer)
    assert signer.seed == expected == bytes.fromhex(KNOWN_SEEDS[version])
    # Domain separation: the seed is not the HMAC key of the same event and version.
    assert signer.seed != derive_verify_key(MASTER, "RTEV1", version).key


def test_an_ed25519_code_is_upper_case_base32_so_its_qr_stays_alphanumeric() -> None:
    code = KNOWN_CODES["ed25519", 1][0]
    tag = code.rsplit("-", 1)[1]
    assert len(tag) == ED25519_TAG_CHARS and "=" not in code
    assert set(code) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-")
    assert len(base64.b32decode(tag + "=" * (-len(tag) % 8))) == 64  # the whole Ed25519 signature
    # Typed or scanned in lower case it is the same code.
    assert str(parse_code(code.lower())) == code


def test_an_ed25519_key_file_holds_only_the_public_key_and_says_so() -> None:
    public = derive_verify_key(MASTER, "RTEV1", 1, scheme="ed25519")
    text = dump_key_file(public)
    data = json.loads(text)
    assert data["algorithm"] == "Ed25519" and data["public"] is True
    assert "no secret" in data["note"] and "cannot issue" in data["note"]
    assert KNOWN_SEEDS[1] not in text and base64.b64encode(bytes.fromhex(KNOWN_SEEDS[1])).decode() not in text
    assert load_key_file(text) == public
    with pytest.raises(ValueError) as refused:
        issue_code(public, 1)
    assert str(refused.value) == "an Ed25519 public key verifies codes; it cannot issue them"


def test_an_hmac_key_file_keeps_the_documented_shape() -> None:
    data = json.loads(dump_key_file(derive_verify_key(MASTER, "RTEV1", 1)))
    assert list(data) == ["event", "version", "algorithm", "tag_hex_digits", "key"]


def test_a_retired_key_round_trips_through_its_file() -> None:
    key = derive_verify_key(MASTER, "RTEV1", 1, scheme="ed25519")
    retired = EventKey(event=key.event, version=1, key=key.key, algorithm=key.algorithm, retired=True)
    assert load_key_file(dump_key_file(retired)).retired is True
    assert "retired" not in json.loads(dump_key_file(key))
    # Its repr (what a log line shows) says so, and never holds the key itself.
    assert (
        repr(retired)
        == f"EventKey(event='RTEV1', version=1, algorithm=Ed25519, fingerprint={key.fingerprint}, retired)"
    )
    assert repr(key).endswith(f"fingerprint={key.fingerprint})")


def test_a_key_made_in_code_is_refused_saying_why() -> None:
    with pytest.raises(KeyFileError) as refused:
        EventKey(event="RTEV1", version=1, key=bytes(32), retired="yes")  # type: ignore[arg-type]
    assert str(refused.value) == "'retired' must be true or false"
    with pytest.raises(KeyFileError) as short:
        derive_signing_key(b"s" * 15, "RTEV1")
    assert str(short.value) == "the master secret must be at least 16 bytes"


def test_keys_are_version_1_hmac_unless_said() -> None:
    assert derive_signing_key(MASTER, "RTEV1") == derive_signing_key(MASTER, "RTEV1", 1, scheme="hmac")
    assert derive_verify_key(MASTER, "RTEV1") == derive_verify_key(MASTER, "RTEV1", 1, scheme="hmac")


PRIVATE_REFUSED = "a key file must not carry a private key (gates need only the public key)"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"algorithm": "Ed25519", "key": base64.b64encode(bytes(31)).decode()},
         "an Ed25519 public key is 32 bytes, not 31"),
        ({"algorithm": "Ed25519", "seed": "AAAA"}, PRIVATE_REFUSED),
        ({"private_key": "AAAA"}, PRIVATE_REFUSED),
        ({"retired": "yes"}, "'retired' must be true or false"),
    ],
)  # fmt: skip
def test_bad_ed25519_key_files_are_refused_saying_why(fields: dict[str, object], message: str) -> None:
    data = json.loads(dump_key_file(derive_verify_key(MASTER, "RTEV1", 1, scheme="ed25519")))
    data.update(fields)
    with pytest.raises(KeyFileError) as refused:
        load_key_file(json.dumps(data))
    assert str(refused.value) == message


def test_unknown_scheme_is_refused() -> None:
    with pytest.raises(KeyFileError, match="not one of: hmac, ed25519"):
        derive_signing_key(MASTER, "RTEV1", 1, scheme="rsa")


def test_typed_event_serial_is_a_reference_not_a_code() -> None:
    assert parse_reference(" rtev1-042 ") == ("RTEV1", 42)
    assert parse_reference("RTEV1-000") is None
    assert parse_reference(KNOWN_CODES["hmac", 1][0]) is None


# ---- forged codes of every kind, both schemes (property-based) --------------------------------------

_B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def _keys(scheme: str) -> tuple[EventKey, EventKey]:
    """The gate's key of RTEV1 under ``scheme`` and, for forging, the key of another event."""
    return derive_verify_key(MASTER, "RTEV1", 1, scheme=scheme), derive_verify_key(
        MASTER, "OTHER1", 1, scheme=scheme
    )


def _signer(scheme: str, event: str = "RTEV1", secret: bytes = MASTER) -> object:
    return derive_signing_key(secret, event, 1, scheme=scheme)


def _verifies(code: str, key: EventKey) -> bool:
    return find_signing_key(parse_code(code), [key]) is not None


@given(
    scheme=st.sampled_from(SCHEMES),
    serial=st.integers(min_value=1, max_value=999_999),
    forged_tag=st.one_of(
        st.text(alphabet="0123456789abcdef", min_size=8, max_size=64),
        st.text(alphabet=_B32, min_size=103, max_size=103),
    ),
)
def test_a_random_tag_never_verifies(scheme: str, serial: int, forged_tag: str) -> None:
    key, _ = _keys(scheme)
    good = issue_code(_signer(scheme), serial)  # type: ignore[arg-type]
    candidate = f"{good.rsplit('-', 1)[0]}-{forged_tag}"
    assert _verifies(candidate, key) == (str(parse_code(candidate)) == good)


@given(
    scheme=st.sampled_from(SCHEMES),
    serial=st.integers(min_value=1, max_value=999_999),
    other=st.integers(min_value=1, max_value=999_999),
)
def test_a_real_tag_moved_to_another_serial_never_verifies(scheme: str, serial: int, other: int) -> None:
    key, _ = _keys(scheme)
    tag = issue_code(_signer(scheme), serial).rsplit("-", 1)[1]  # type: ignore[arg-type]
    candidate = f"RTEV1-{str(other).zfill(3)}-{tag}"
    assert _verifies(candidate, key) == (other == serial)


@given(scheme=st.sampled_from(SCHEMES), serial=st.integers(min_value=1, max_value=999_999))
def test_codes_signed_by_another_event_another_secret_or_the_other_scheme_never_verify(
    scheme: str, serial: int
) -> None:
    key, _ = _keys(scheme)
    other_scheme = "hmac" if scheme == "ed25519" else "ed25519"
    forgers = [
        _signer(scheme, "OTHER1"),  # another event's key, same master secret
        _signer(scheme, secret=b"an attacker's own master secret!"),
        _signer(other_scheme),  # the same event under the other scheme
    ]
    for forger in forgers:
        tag = issue_code(forger, serial).rsplit("-", 1)[1]  # type: ignore[arg-type]
        assert not _verifies(f"RTEV1-{str(serial).zfill(3)}-{tag}", key)


@given(
    scheme=st.sampled_from(SCHEMES),
    serial=st.integers(min_value=1, max_value=999_999),
    position=st.integers(min_value=0, max_value=102),
    data=st.data(),
)
def test_any_changed_character_of_the_tag_never_verifies(
    scheme: str, serial: int, position: int, data: st.DataObject
) -> None:
    key, _ = _keys(scheme)
    good = issue_code(_signer(scheme), serial)  # type: ignore[arg-type]
    signed, tag = good.rsplit("-", 1)
    position %= len(tag)
    alphabet = _B32 if scheme == "ed25519" else "0123456789abcdef"
    replacement = data.draw(st.sampled_from([c for c in alphabet if c != tag[position]]))
    candidate = f"{signed}-{tag[:position]}{replacement}{tag[position + 1 :]}"
    assert not _verifies(candidate, key)


@given(serial=st.integers(min_value=1, max_value=999_999))
def test_a_non_canonical_spelling_of_a_real_signature_never_verifies(serial: int) -> None:
    # The last base32 character carries 2 bits of signature and 3 unused bits: only the spelling with
    # the unused bits zero is the code; the seven others are forgeries of the same signature.
    key, _ = _keys("ed25519")
    good = issue_code(_signer("ed25519"), serial)  # type: ignore[arg-type]
    last = _B32.index(good[-1])
    for unused in range(1, 8):
        candidate = good[:-1] + _B32[last | unused]
        assert not _verifies(candidate, key)
    assert _verifies(good, key)


# ---- what the mutation run found unguarded (docs/mutants.md) ------------------------------------------


def test_every_key_of_the_event_is_tried_whatever_its_scheme_and_wherever_it_stands() -> None:
    ed_v1, ed_v2 = (derive_verify_key(MASTER, "RTEV1", v, scheme="ed25519") for v in (1, 2))
    hmac_v3 = derive_verify_key(MASTER, "RTEV1", 3, scheme="hmac")
    signed = parse_code(issue_code(derive_signing_key(MASTER, "RTEV1", 1, scheme="ed25519"), 7))
    # Another version's public key, or an HMAC key, before the right one: passed over, not the end.
    assert find_signing_key(signed, [ed_v2, ed_v1]) == ed_v1
    assert find_signing_key(signed, [hmac_v3, ed_v1]) == ed_v1
    tagged = parse_code(issue_code(derive_signing_key(MASTER, "RTEV1", 3, scheme="hmac"), 7))
    assert find_signing_key(tagged, [ed_v1, ed_v2, hmac_v3]) == hmac_v3


def test_a_reference_without_a_tag_prints_as_typed() -> None:
    assert str(TicketCode(event="RTEV1", serial_text="042", tag="")) == "RTEV1-042"


def test_a_reference_is_read_from_text_of_at_most_the_longest_input() -> None:
    padded = "RTEV1-042".rjust(MAX_INPUT_CHARS)
    assert parse_reference(padded) == ("RTEV1", 42)
    assert parse_reference(" " + padded) is None
    assert parse_reference(b"RTEV1-042") is None  # type: ignore[arg-type]


def test_each_malformed_code_says_what_was_expected() -> None:
    for raw in ("RTEV1-042", "RTEV1-042-xyz12345"):  # no tag; a tag neither hex nor base32
        with pytest.raises(MalformedCode) as refused:
            parse_code(raw)
        assert str(refused.value) == "not a ticket code (expected EVENT-SERIAL-TAG)"
    with pytest.raises(ValueError) as refused_serial:
        issue_code(derive_signing_key(MASTER, "RTEV1", 1, scheme="hmac"), 0)
    assert str(refused_serial.value) == "ticket serials start at 1"
