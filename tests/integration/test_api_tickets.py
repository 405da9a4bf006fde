"""A buyer's tickets as images over real HTTP and from the command line: the project's own decoder reads
every ticket back from the PNG and from the SVG (rasterised by cairosvg); the order's token guards them."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cairosvg
import httpx
import pytest

from scanner.decode import decode_image
from tests.integration.live_server import (
    ADMIN_TOKEN,
    MASTER_SECRET,
    live_server,
    settings_for,
    signed_webhook,
)
from ticketcode import derive_event_key, find_signing_key, parse_code

ROOT = Path(__file__).resolve().parents[2]
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
NAME = "Vienna Live & <Friends> — Größe 2026"
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def base_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    with live_server(settings_for(database_url, tmp_path)) as url:
        yield url


def event(base: str, code: str, capacity: int = 20, signing: str = "hmac") -> None:
    body = {"code": code, "name": NAME, "capacity": capacity, "price_cents": 4500, "signing": signing}
    assert httpx.post(f"{base}/api/events", json=body, headers=ADMIN).status_code == 201


def buy(base: str, code: str, quantity: int, *, pay: bool = True) -> dict[str, Any]:
    made = httpx.post(
        f"{base}/api/events/{code}/orders", json={"quantity": quantity, "email": "a@example.com"}
    )
    assert made.status_code == 201, made.text
    order: dict[str, Any] = made.json()
    if pay:
        body, headers = signed_webhook(f"evt_{order['id']}", order)
        paid = httpx.post(f"{base}/api/payments/webhook", content=body, headers=headers)
        assert paid.json()["outcome"] == "paid", paid.text
        seen = httpx.get(f"{base}/api/orders/{order['id']}", params={"token": order["access_token"]})
        order["tickets"] = seen.json()["tickets"]
    return order


def image(base: str, order: dict[str, Any], suffix: str, **headers: str) -> httpx.Response:
    headers = headers or {"Authorization": f"Bearer {order['access_token']}"}
    return httpx.get(f"{base}/api/orders/{order['id']}/tickets.{suffix}", headers=headers)


def assert_reads_back(path: Path, tickets: list[str]) -> None:
    """The real decoder finds every ticket in the image, each in the QR's alphanumeric form (upper
    case) and, parsed, exactly the code issued (an HMAC one also verifies against the event's key)."""
    found = decode_image(path)
    assert sorted(str(parse_code(data)) for data in found) == sorted(tickets)
    for data in found:
        assert data == data.upper(), "the QR should hold the upper-case (alphanumeric) form"
        parsed = parse_code(data)
        if not parsed.is_ed25519:
            assert find_signing_key(parsed, [derive_event_key(MASTER_SECRET, parsed.event)]) is not None


def test_ed25519_tickets_long_codes_read_back_and_their_text_wraps(base_url: str, tmp_path: Path) -> None:
    event(base_url, "DRAWED", signing="ed25519")
    order = buy(base_url, "DRAWED", 2)
    assert len(order["tickets"][0]) > 100
    png = image(base_url, order, "png")
    (tmp_path / "t.png").write_bytes(png.content)
    assert_reads_back(tmp_path / "t.png", order["tickets"])
    svg = image(base_url, order, "svg")
    cairosvg.svg2png(bytestring=svg.content, write_to=str(tmp_path / "svg.png"))
    assert_reads_back(tmp_path / "svg.png", order["tickets"])
    root = ET.fromstring(svg.content)
    [first, _] = root.findall(f"{SVG}g[@class='ticket']")
    code = first.find(f"{SVG}text[@class='code']")
    assert code is not None and "".join(code.itertext()) == order["tickets"][0]
    assert all(len(line.text or "") <= 28 for line in code)  # wrapped, inside the tile


def test_every_ticket_of_a_paid_order_reads_back_from_its_png_and_svg(base_url: str, tmp_path: Path) -> None:
    event(base_url, "DRAW1")
    order = buy(base_url, "DRAW1", 4)
    png = image(base_url, order, "png")
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert "no-store" in png.headers["cache-control"]
    (tmp_path / "t.png").write_bytes(png.content)
    assert_reads_back(tmp_path / "t.png", order["tickets"])

    svg = image(base_url, order, "svg", Authorization="", token="")  # the token in the query instead
    assert svg.status_code == 401
    svg = httpx.get(
        f"{base_url}/api/orders/{order['id']}/tickets.svg", params={"token": order["access_token"]}
    )
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    root = ET.fromstring(svg.content)
    tiles = root.findall(f"{SVG}g[@class='ticket']")
    assert len(tiles) == 4
    codes = ["".join(t.find(f"{SVG}text[@class='code']").itertext()) for t in tiles]  # type: ignore[union-attr]
    assert codes == order["tickets"]
    names = [" ".join(e.text or "" for e in t.findall(f"{SVG}text[@class='event']")) for t in tiles]
    assert names == [NAME] * 4
    cairosvg.svg2png(bytestring=svg.content, write_to=str(tmp_path / "svg.png"))
    assert_reads_back(tmp_path / "svg.png", order["tickets"])

    pdf = image(base_url, order, "pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-") and pdf.content.count(b"/Type /Page\n") == 4


def test_tickets_need_the_orders_own_token_and_an_order_that_exists(base_url: str) -> None:
    event(base_url, "DRAW2")
    order = buy(base_url, "DRAW2", 1)
    other = buy(base_url, "DRAW2", 1)
    for suffix in ("svg", "png", "pdf"):
        missing = httpx.get(f"{base_url}/api/orders/{order['id']}/tickets.{suffix}")
        assert (missing.status_code, missing.json()["error"]["code"]) == (401, "unauthorized")
        wrong = image(base_url, order, suffix, Authorization=f"Bearer {other['access_token']}")
        assert wrong.status_code == 401 and "access token" in wrong.json()["error"]["message"]
        unknown = image(base_url, {**order, "id": "00000000-0000-4000-8000-000000000000"}, suffix)
        assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "order_not_found")
    assert httpx.get(f"{base_url}/api/orders/{order['id']}/tickets.gif").status_code == 404


def test_an_unpaid_order_has_no_tickets_to_draw_and_says_why(base_url: str) -> None:
    event(base_url, "DRAW3")
    order = buy(base_url, "DRAW3", 2, pay=False)
    answer = image(base_url, order, "png")
    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "no_tickets"
    assert "pending" in answer.json()["error"]["message"] and "paid" in answer.json()["error"]["message"]


def _cli(*args: str, database_url: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TICKETGATE_")}
    env["TICKETGATE_DATABASE_URL"] = database_url
    return subprocess.run(
        [sys.executable, "-m", "ticketgate", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_tickets_render_writes_every_format_from_the_database(
    base_url: str, database_url: str, tmp_path: Path
) -> None:
    event(base_url, "DRAW4")
    order = buy(base_url, "DRAW4", 3)
    out = tmp_path / "out" / "sheets"
    done = _cli("tickets", "render", order["id"], "-o", str(out), database_url=database_url)
    assert done.returncode == 0, done.stderr
    written = sorted(p.name for p in out.iterdir())
    assert written == [f"tickets-{order['id']}.{s}" for s in ("pdf", "png", "svg")]
    for path in out.iterdir():
        assert path.stat().st_mode & 0o777 == 0o600  # whoever holds the image holds the tickets
    assert_reads_back(out / f"tickets-{order['id']}.png", order["tickets"])
    only_svg = _cli(
        "tickets",
        "render",
        order["id"],
        "-o",
        str(tmp_path / "svg"),
        "--format",
        "svg",
        database_url=database_url,
    )
    assert only_svg.returncode == 0 and [p.suffix for p in (tmp_path / "svg").iterdir()] == [".svg"]


@pytest.mark.parametrize(
    ("order_id", "says"),
    [("not-a-uuid", "is not an order id"), ("00000000-0000-4000-8000-000000000000", "no order has the id")],
)
def test_tickets_render_of_an_order_that_is_not_there_is_one_clear_line(
    order_id: str, says: str, database_url: str, tmp_path: Path
) -> None:
    done = _cli("tickets", "render", order_id, "-o", str(tmp_path / "x"), database_url=database_url)
    assert done.returncode == 2 and says in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "x").exists()


def test_tickets_render_of_an_unpaid_order_is_one_clear_line_and_writes_nothing(
    base_url: str, database_url: str, tmp_path: Path
) -> None:
    event(base_url, "DRAW5")
    order = buy(base_url, "DRAW5", 1, pay=False)
    done = _cli("tickets", "render", order["id"], "-o", str(tmp_path / "x"), database_url=database_url)
    assert done.returncode == 2 and "is pending" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "x").exists()
