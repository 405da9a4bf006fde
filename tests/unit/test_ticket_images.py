"""How tickets are drawn (``ticketqr``): the symbol's mode, any event name in a well-formed image, and
which orders are drawn at all (``backend.ticket_images``)."""

from __future__ import annotations

import io
import uuid
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from backend.errors import InvalidInput, NoTickets
from backend.orders import Order
from backend.ticket_images import MAX_TICKETS_PER_IMAGE, ticket_faces
from ticketqr import TicketFace, make_symbol, symbol_text, tickets_png, tickets_svg

CODE = "VL9IHU-001-f3a2b1c0"


def test_a_ticket_code_is_drawn_upper_case_in_alphanumeric_mode_in_a_version_1_symbol() -> None:
    text = symbol_text(f"  {CODE.lower()} ")
    assert text == "VL9IHU-001-F3A2B1C0"
    symbol = make_symbol(text)
    assert (symbol.mode, symbol.version) == ("alphanumeric", 1)
    # As issued (lower-case tag), the same code needs byte mode and a bigger symbol.
    assert (make_symbol(CODE).mode, make_symbol(CODE).version) == ("byte", 2)


def test_text_that_is_not_a_ticket_code_is_drawn_as_it_is() -> None:
    assert symbol_text("hello world") == "hello world"
    assert symbol_text("VL9IHU-000-f3a2b1c0") == "VL9IHU-000-f3a2b1c0"  # serial 0 does not exist


@settings(max_examples=40, deadline=None)
@given(name=st.text(min_size=1, max_size=200))
def test_any_event_name_gives_a_well_formed_svg_and_png(name: str) -> None:
    faces = [TicketFace(event_name=name, code=CODE)]
    root = ET.fromstring(tickets_svg(faces))
    shown = " ".join("".join(e.itertext()) for e in root.iter("{http://www.w3.org/2000/svg}text"))
    assert CODE in shown
    image = Image.open(io.BytesIO(tickets_png(faces)))
    assert image.width == 400 and image.height > 300


def test_an_order_of_more_tickets_than_one_image_holds_is_refused_with_a_reason() -> None:
    now = datetime.now(UTC)

    def order(status: str, count: int) -> Order:
        codes = tuple(f"VL9IHU-{n:03d}-f3a2b1c0" for n in range(1, count + 1))
        return Order(
            uuid.uuid4(), "VL9IHU", status, max(count, 1), 0, "EUR", "a@b.c", now, now, None, 0, codes
        )

    assert len(ticket_faces(order("paid", MAX_TICKETS_PER_IMAGE), "V")) == MAX_TICKETS_PER_IMAGE
    with pytest.raises(InvalidInput, match=f"at most {MAX_TICKETS_PER_IMAGE} are drawn"):
        ticket_faces(order("paid", MAX_TICKETS_PER_IMAGE + 1), "V")
    with pytest.raises(NoTickets, match="was refunded: its tickets were revoked"):
        ticket_faces(order("refunded", 0), "V")
