"""Ticket lists an operator imports by hand: each accepted shape gives exactly the tickets it says."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scanner.errors import TicketListError
from scanner.store.ticket_list import (
    MAX_TEXT_CHARS,
    MAX_TICKET_LIST_BYTES,
    parse_ticket_list,
    read_ticket_list,
)
from scanner.verdicts import KnownTicket

ADA = {"event": "VL9IHU", "serial": 1, "holder": " Ada  Lovelace "}


@pytest.mark.parametrize(
    ("text", "tickets"),
    [
        ("\ufeff  " + json.dumps([ADA]) + "\n\n", [KnownTicket("VL9IHU", 1, "Ada Lovelace")]),
        (json.dumps({"tickets": [ADA]}), [KnownTicket("VL9IHU", 1, "Ada Lovelace")]),
        (json.dumps({"revocations": [{"event": "vl9ihu", "serial": "2"}]}),
         [KnownTicket("VL9IHU", 2, None, True, "refunded or cancelled")]),
        (json.dumps({"tickets": [ADA], "revocations": [{"code": "VL9IHU-003-abcdef01", "reason": "chargeback"}]}),  # noqa: E501
         [KnownTicket("VL9IHU", 1, "Ada Lovelace"), KnownTicket("VL9IHU", 3, None, True, "chargeback")]),
        (json.dumps([{**ADA, "revoked": True, "revoked_reason": "duplicate"}]),
         [KnownTicket("VL9IHU", 1, "Ada Lovelace", True, "duplicate")]),
        (json.dumps([{**ADA, "status": "refunded"}, {"event": "VL9IHU", "serial": 2, "status": "Canceled"},
                     {"event": "VL9IHU", "serial": 3, "status": "CANCELLED"}, {"event": "VL9IHU", "serial": 4,
                                                                             "status": "paid"}]),
         [KnownTicket("VL9IHU", 1, "Ada Lovelace", True, "refunded"), KnownTicket("VL9IHU", 2, None, True, "Canceled"),  # noqa: E501
          KnownTicket("VL9IHU", 3, None, True, "CANCELLED"), KnownTicket("VL9IHU", 4)]),
        (json.dumps([{**ADA, "holder": "", "reason": "ignored when valid"}]), [KnownTicket("VL9IHU", 1)]),
        ("Code , Holder,REVOKED,reason\nvl9ihu-007-ABCDEF01 , Grace ,yes, refunded \n",
         [KnownTicket("VL9IHU", 7, "Grace", True, "refunded")]),
        ("event,serial\nVL9IHU,999999999\n", [KnownTicket("VL9IHU", 999_999_999)]),
    ],
)  # fmt: skip
def test_each_accepted_shape_gives_exactly_its_tickets(text: str, tickets: list[KnownTicket]) -> None:
    assert parse_ticket_list(text, name="list") == tickets


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[5]", "list entry 1: expected an object"),
        ('[{"event": "vl", "serial": 1}]', "list entry 1: event 'vl' is not 4 to 12 of A-Z and 0-9"),
        ('[{"event": "VL9IHU", "serial": 1000000000}]',
         "list entry 1: serial 1000000000 does not exist (serials are 1 to 999999999)"),
        ('[{"event": "VL9IHU", "serial": 1, "revoked": 2}]', "list entry 1: revoked must be true or false, not 2"),  # noqa: E501
        ('{"tickets": [], "other": []}', "list: expected a list or an object with 'tickets' / 'revocations'"),
        ("{}", "list: expected a list or an object with 'tickets' / 'revocations'"),
        # Only a byte-order mark and white space are skipped before the list.
        ("X[]", "list: not JSON, and not CSV with a header naming 'event,serial' or 'code'"),
    ],
)  # fmt: skip
def test_each_refusal_names_the_entry_and_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(TicketListError) as refused:
        parse_ticket_list(text, name="list")
    assert str(refused.value) == message


# ---- what the mutation run found unguarded (docs/mutants.md) ------------------------------------------


def test_csv_cells_are_read_trimmed_and_a_short_row_has_no_holder() -> None:
    # A blank code cell beside event and serial is no code; a row shorter than its header lacks the rest.
    text = "code,event,serial,holder\n  , VL9IHU ,5, Ada \nVL9IHU-006-abcdef01\n"
    assert parse_ticket_list(text, name="list") == [
        KnownTicket("VL9IHU", 5, "Ada"),
        KnownTicket("VL9IHU", 6),
    ]


def test_a_list_without_a_name_is_called_ticket_list() -> None:
    with pytest.raises(TicketListError) as refused:
        parse_ticket_list("{}")
    assert str(refused.value) == "ticket list: expected a list or an object with 'tickets' / 'revocations'"


def test_a_csv_the_csv_module_cannot_read_names_its_line() -> None:
    text = "event,serial,holder\nVL9IHU,1,Ada\nVL9IHU,2," + "x" * 200_000 + "\n"
    with pytest.raises(TicketListError) as refused:
        parse_ticket_list(text, name="list")
    assert str(refused.value) == "list line 3: not valid CSV: field larger than field limit (131072)"


def test_a_holder_of_exactly_the_longest_length_is_kept_and_a_bad_one_is_quoted_in_part() -> None:
    longest = "A" * MAX_TEXT_CHARS
    assert parse_ticket_list(json.dumps([{**ADA, "holder": longest}]), name="list")[0].holder == longest
    with pytest.raises(TicketListError) as refused:
        parse_ticket_list(json.dumps([{**ADA, "holder": "B" * 50 + "\x07"}]), name="list")
    assert str(refused.value) == (
        f"list entry 1: holder {'B' * 40!r} holds control characters or unpaired surrogates"
    )


def test_a_list_file_of_exactly_the_largest_size_is_read_whole(tmp_path: Path) -> None:
    # Sparse: the file claims the size without taking the disk.
    largest, larger = tmp_path / "largest.csv", tmp_path / "larger.csv"
    for path, size in ((largest, MAX_TICKET_LIST_BYTES), (larger, MAX_TICKET_LIST_BYTES + 1)):
        with path.open("wb") as fh:
            fh.truncate(size)
    assert len(read_ticket_list(largest)) == MAX_TICKET_LIST_BYTES
    with pytest.raises(TicketListError) as refused:
        read_ticket_list(larger)
    assert str(refused.value) == f"{larger}: larger than 256 MiB"


def test_a_list_path_that_cannot_be_opened_says_why(tmp_path: Path) -> None:
    loop = tmp_path / "loop.csv"
    loop.symlink_to(loop)
    with pytest.raises(TicketListError) as refused:
        read_ticket_list(loop)
    assert str(refused.value) == f"{loop}: cannot read: Too many levels of symbolic links"
