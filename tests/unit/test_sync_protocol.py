"""The sync protocol's message shapes: what one side encodes, the other decodes to the same message;
anything else is a ProtocolError naming the field, never another exception."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ticketcode import derive_event_key, derive_verify_key
from ticketcode.sync_protocol import (
    PULL_PATH,
    ConflictChange,
    EventInfo,
    MovementChange,
    Pairing,
    PairRequest,
    PairResponse,
    ProtocolError,
    PullPage,
    PushRequest,
    PushResponse,
    ScanUpload,
    TicketChange,
    decode_change,
    decode_pair_request,
    decode_pair_response,
    decode_pull_page,
    decode_push_request,
    decode_push_response,
    decode_scan,
    encode_change,
    encode_pair_request,
    encode_pair_response,
    encode_pull_page,
    encode_push_request,
    encode_push_response,
    normalise_pairing_code,
    normalise_server_url,
    parse_pairing,
)

NOW = datetime(2026, 11, 30, 19, 42, 7, 123456, tzinfo=UTC)
EVENT = EventInfo(code="VL9IHU", name="Vienna Live", capacity=150)


def _wire(data: object) -> object:
    """Through JSON text and back, as it travels."""
    return json.loads(json.dumps(data))


def test_pull_page_round_trips_through_json_with_every_change_type() -> None:
    page = PullPage(
        event=EVENT,
        keys=(derive_event_key(b"k" * 32, "VL9IHU", 1), derive_event_key(b"k" * 32, "VL9IHU", 2)),
        changes=(
            TicketChange(serial=1, code="VL9IHU-001-f3a2b1c0", status="valid", changed_at=NOW, order="o-1"),
            TicketChange(
                serial=2, code="VL9IHU-002-0badc0de", status="revoked", changed_at=NOW, reason="refunded"
            ),
            MovementChange(
                scan="3f1c0a9e-0000-4000-8000-000000000001/17",
                gate="Gate A",
                serial=1,
                direction="in",
                at=NOW,
            ),
            ConflictChange(
                id="c1", serial=1, scans=("a/1", "b/2"), gates=("Gate A", "Gate B"), at=(NOW, NOW)
            ),
            ConflictChange(
                id="c2",
                serial=2,
                scans=("a/3", "b/4"),
                gates=("Gate A", "Gate B"),
                at=(NOW, NOW),
                withdrawn=True,
            ),
        ),
        cursor="opaque-1",
        more=True,
        server_time=NOW,
        remaining=12,
    )
    decoded = decode_pull_page(_wire(encode_pull_page(page)))
    assert decoded == page
    assert [k.key for k in decoded.keys] == [k.key for k in page.keys]


def test_push_and_pairing_messages_round_trip() -> None:
    scan = ScanUpload(
        id=7,
        scanned_at=NOW,
        gate="Gate A",
        direction="out",
        verdict="ADMIT",
        reason="exit recorded",
        source="camera",
        clock_offset_ms=-1250,
        code="VL9IHU-001-f3a2b1c0",
        event="VL9IHU",
        serial=1,
    )
    assert decode_push_request(_wire(encode_push_request(PushRequest(scans=(scan,))))) == PushRequest((scan,))
    response = PushResponse(acknowledged=(7, 8), server_time=NOW)
    assert decode_push_response(_wire(encode_push_response(response))) == response
    paired = PairResponse(device_id="d1", device_name="Gate A", token="tok", event=EVENT, server_time=NOW)
    assert decode_pair_response(_wire(encode_pair_response(paired))) == paired


def test_a_conflict_without_withdrawn_is_a_standing_one() -> None:
    # Sent before the field existed: still protocol 1.
    data = {
        "type": "conflict",
        "id": "c1",
        "serial": 1,
        "scans": ["a/1", "b/2"],
        "gates": ["Gate A", "Gate B"],
        "at": [NOW.isoformat(), NOW.isoformat()],
    }
    change = decode_change(data)
    assert isinstance(change, ConflictChange) and change.withdrawn is False
    with pytest.raises(ProtocolError, match="withdrawn"):
        decode_change({**data, "withdrawn": "yes"})


def test_times_are_read_in_any_zone_and_returned_in_utc() -> None:
    data = {
        "type": "movement",
        "scan": "a/1",
        "gate": "G",
        "serial": 1,
        "direction": "in",
        "at": NOW.astimezone(timezone(timedelta(hours=2))).isoformat(),
    }
    change = decode_change(data)
    assert isinstance(change, MovementChange)
    assert change.at == NOW and change.at.tzinfo is UTC


def test_a_time_without_a_zone_is_refused() -> None:
    data = {
        "type": "movement",
        "scan": "a/1",
        "gate": "G",
        "serial": 1,
        "direction": "in",
        "at": "2026-11-30T19:42:07",
    }
    with pytest.raises(ProtocolError, match="time zone"):
        decode_change(data)


def test_pairing_text_carries_code_and_server_and_a_typed_code_is_forgiven() -> None:
    pairing = parse_pairing("ticketgate-pair:1:K7QX-M2PA-9TRD:http://10.0.0.5:8000/")
    assert pairing.code == "K7QXM2PA9TRD"
    assert pairing.server_url == "http://10.0.0.5:8000"
    assert parse_pairing(pairing.text()) == pairing
    typed = parse_pairing(" k7qx m2pa 9trd ", server_url="https://tickets.example.org")
    assert typed.code == "K7QXM2PA9TRD" and typed.server_url == "https://tickets.example.org"
    # Crockford: O is read as zero, I and L as one.
    assert normalise_pairing_code("O0IL-0000-0000") == "0011" + "0" * 8


@pytest.mark.parametrize(
    "text",
    [
        "",
        "K7QX",
        "K7QX-M2PA-9TRU",
        "ticketgate-pair:2:K7QXM2PA9TRD:http://h",
        "ticketgate-pair:1:K7QXM2PA9TRD:ftp://h",
        "ticketgate-pair:1:K7QXM2PA9TRD:http://h:99999",
        "ticketgate-pair:1:K7QXM2PA9TRD:http://h?x=1",
        # Host names no resolver can carry (the gate's HTTP client raised on each, a traceback):
        "ticketgate-pair:1:K7QXM2PA9TRD:http://\udcff:8011",
        "ticketgate-pair:1:K7QXM2PA9TRD:http://a..b:8011",
        "ticketgate-pair:1:K7QXM2PA9TRD:http://xn--a:8011",
        "ticketgate-pair:1:K7QXM2PA9TRD:http://-gate-.example",
        "ticketgate-pair:1:K7QXM2PA9TRD:http://" + "a" * 64 + ".example",
        # Anywhere in the URL, not only its host (the path's byte ended pair and device add in a
        # traceback, the latter after making the device):
        "ticketgate-pair:1:K7QXM2PA9TRD:http://127.0.0.1:1/\udcff",
        "ticketgate-pair:1:K7QXM2PA9TRD:http://127.0.0.1:1/a b",
        "ticketgate-pair:1:K7QXM2PA9TRD:http://127.0.0.1:1/\x1b[2J",
    ],
)
def test_malformed_pairings_are_refused_with_a_reason(text: str) -> None:
    with pytest.raises(ProtocolError, match=r"pairing|server URL|protocol"):
        parse_pairing(text)


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.5:8000",
        "http://[::1]:8000",
        "https://tickets.example.org",
        "http://gate_server:8000",  # Docker's service names
        "http://bücher.example",
        "http://xn--bcher-kva.example",
        "http://BÜCHER.example",
    ],
)
def test_every_server_url_accepted_is_one_the_gates_http_client_can_call(url: str) -> None:
    pairing = parse_pairing("K7QX-M2PA-9TRD", server_url=url)
    assert pairing.server_url == url
    with httpx.Client(base_url=pairing.server_url) as client:  # raised InvalidURL or UnicodeError before
        request = client.build_request("GET", PULL_PATH)
    assert request.url.path == PULL_PATH


def test_scan_fields_are_checked() -> None:
    good = {
        "id": 1,
        "scanned_at": NOW.isoformat(),
        "gate": "G",
        "direction": "in",
        "verdict": "ADMIT",
        "reason": "admitted",
        "source": "camera",
    }
    assert decode_scan(good).id == 1
    for field, bad in [
        ("id", 0),
        ("id", True),
        ("verdict", "MAYBE"),
        ("direction", "up"),
        ("gate", "x" * 41),
        ("serial", 10**10),
        ("event", "vl9ihu"),
        ("reason", "a\x00b"),
        ("gate", "\ud800"),
    ]:
        with pytest.raises(ProtocolError):
            decode_scan({**good, field: bad})


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=6),
    max_leaves=30,
)


@given(json_values)
def test_any_json_is_decoded_or_refused_with_a_protocol_error(data: object) -> None:
    for decode in (
        decode_pull_page,
        decode_push_request,
        decode_push_response,
        decode_pair_request,
        decode_pair_response,
        decode_change,
        decode_scan,
    ):
        try:
            decoded = decode(data)
        except ProtocolError:
            continue
        assert decoded is not None


def test_an_ed25519_event_travels_with_public_keys_and_their_retired_flags() -> None:
    old = replace(derive_verify_key(b"k" * 32, "RTEV1", 1, scheme="ed25519"), retired=True)
    new = derive_verify_key(b"k" * 32, "RTEV1", 2, scheme="ed25519")
    page = PullPage(
        event=EventInfo(code="RTEV1", name="Edwards", capacity=10, signing="ed25519"),
        keys=(old, new),
        changes=(),
        cursor="c",
        more=False,
        server_time=NOW,
    )
    wire = _wire(encode_pull_page(page))
    assert [k["public"] for k in wire["keys"]] == [True, True]  # type: ignore[index]
    decoded = decode_pull_page(wire)
    assert decoded.keys == (old, new) and decoded.keys[0].retired and not decoded.keys[1].retired
    assert decoded.event.signing == "ed25519"
    wire["keys"][1]["seed"] = "AAAA"  # type: ignore[index]
    with pytest.raises(ProtocolError, match="must not carry a private key"):
        decode_pull_page(wire)


def test_a_server_url_is_read_up_to_500_characters_and_a_host_name_up_to_253() -> None:
    from ticketcode.sync_protocol import normalise_server_url

    host = ".".join(["a" * 63] * 3 + ["b" * 61])  # 253 characters, the most DNS carries
    assert len(host) == 253 and normalise_server_url(f"http://{host}") == f"http://{host}"
    with pytest.raises(ProtocolError, match="no such host name"):
        normalise_server_url(f"http://{host}c")
    path = "http://h/" + "p" * 491  # exactly 500 characters
    assert len(path) == 500 and normalise_server_url(path) == path
    with pytest.raises(ProtocolError, match="at most 500 characters"):
        normalise_server_url(path + "p")
    with pytest.raises(ProtocolError, match="at most 500 characters"):
        normalise_server_url(None)  # type: ignore[arg-type]


def test_host_names_are_read_as_a_resolver_reads_them() -> None:
    from ticketcode.sync_protocol import normalise_server_url

    # A trailing dot is the root (fully qualified); a leading one is an empty label.
    assert normalise_server_url("http://tickets.example.org.:8000") == "http://tickets.example.org.:8000"
    with pytest.raises(ProtocolError, match="no such host name"):
        normalise_server_url("http://.tickets.example.org:8000")
    # International names in any case; a full-width name, which the gate's HTTP client refuses
    # (httpx: IDNA 2008 without UTS 46 mapping), is refused here, not met later as a traceback.
    assert normalise_server_url("http://BÜCHER.example") == "http://BÜCHER.example"
    with pytest.raises(ProtocolError, match="no such host name"):
        normalise_server_url("http://\uff54\uff49\uff43\uff4b\uff45\uff54\uff53.example:8000")


def test_refusals_of_pairings_urls_and_times_read_whole() -> None:
    """What `ticketgate pair` and the server print for each of these, character for character."""
    naive = MovementChange(
        scan="d/1", gate="Gate A", serial=1, direction="in", at=datetime(2026, 6, 20, 19, 0)
    )
    cases = [
        (lambda: Pairing(code="K7QXM2PA9TRD").text(), "a pairing text needs the server URL"),
        (lambda: parse_pairing(42), "a pairing must be text"),  # type: ignore[arg-type]
        (
            lambda: normalise_server_url("http://gate.example/" + "x" * 481),
            "the server URL must be text of at most 500 characters",
        ),
        (
            lambda: normalise_server_url("http://gate.example:0"),
            "not a server URL (port 0): 'http://gate.example:0'",
        ),
        (lambda: encode_change(naive), "times on the wire must be aware (UTC)"),
    ]
    for call, message in cases:
        with pytest.raises(ProtocolError) as refused:
            call()
        assert str(refused.value) == message


def test_server_urls_keep_everything_but_the_trailing_slash() -> None:
    assert normalise_server_url("https://BOX.example/gateX/") == "https://BOX.example/gateX"
    assert normalise_server_url("http://gate.example:1/") == "http://gate.example:1"
    assert normalise_server_url("http://gate.example:500") == "http://gate.example:500"


def test_times_on_the_wire_are_utc_whatever_the_laptops_time_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    try:
        moment = datetime(2026, 6, 20, 19, 0, tzinfo=timezone(timedelta(hours=2)))
        sent = encode_change(MovementChange(scan="d/1", gate="Gate A", serial=1, direction="in", at=moment))
        assert sent["at"] == "2026-06-20T17:00:00.000000+00:00"
    finally:
        monkeypatch.undo()
        time.tzset()


def test_pairing_requests_and_ticket_changes_have_their_documented_fields() -> None:
    assert encode_pair_request(PairRequest(code="K7QXM2PA9TRD")) == {"code": "K7QXM2PA9TRD", "protocol": 1}
    later = decode_pair_request({"code": "K7QX-M2PA-9TRD", "protocol": 7})
    assert (later.code, later.protocol) == ("K7QXM2PA9TRD", 7)  # refused by the server, not here
    change = TicketChange(
        serial=4,
        code="PULL01-004-0123abcd",
        status="valid",
        changed_at=datetime(2026, 6, 20, 17, 0, tzinfo=UTC),
        reason=None,
        order="7d9f7c1e-1111-4222-8333-444455556666",
        holder="Ada Lovelace",
    )
    assert encode_change(change) == {
        "type": "ticket",
        "serial": 4,
        "code": "PULL01-004-0123abcd",
        "status": "valid",
        "changed_at": "2026-06-20T17:00:00.000000+00:00",
        "reason": None,
        "order": "7d9f7c1e-1111-4222-8333-444455556666",
        "holder": "Ada Lovelace",
    }
    assert decode_change(encode_change(change)) == change
