"""Ticket lists an operator imports by hand: each accepted shape gives exactly the tickets it says."""

from __future__ import annotations

import json

import pytest

from scanner.errors import TicketListError
from scanner.store.ticket_list import parse_ticket_list
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
    ],
)  # fmt: skip
def test_each_refusal_names_the_entry_and_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(TicketListError) as refused:
        parse_ticket_list(text, name="list")
    assert str(refused.value) == message
