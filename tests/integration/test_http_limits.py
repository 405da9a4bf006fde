"""The HTTP server's own limits, met with raw sockets as a hostile or broken client would meet them.

A reverse proxy in front would enforce these; the server must not depend on one: a bounded request
head in size and time, the API's error shape for malformed HTTP, one log line per dropped client,
authentication before validation.
"""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from backend.api import limits
from backend.http_limits import MAX_HEAD_BYTES, guarded_protocol
from tests.integration.live_server import ADMIN_TOKEN, live_server, settings_for

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
HEAD_TIMEOUT = 1.0  # the server's is 10 s; the same code with a shorter wait keeps the test short


@pytest.fixture
def base_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    protocol = guarded_protocol(max_head_bytes=MAX_HEAD_BYTES, head_timeout_seconds=HEAD_TIMEOUT)
    with live_server(settings_for(database_url, tmp_path), http=protocol) as url:
        yield url


def _connect(base_url: str) -> socket.socket:
    host, port = base_url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=30)
    return sock


def _read_response(sock: socket.socket) -> tuple[int, dict[str, object]]:
    """Status and JSON body of the one response the server sends before it closes the connection."""
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass  # closed while our own bytes were still arriving: what was sent before still counts
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    assert b"content-type: application/json" in head.lower(), head
    return status, json.loads(body)


def test_a_request_head_over_8_kib_is_refused_with_431_before_it_is_buffered(base_url: str) -> None:
    sock = _connect(base_url)
    sock.sendall(b"GET /api/events/BIGHEAD HTTP/1.1\r\nHost: x\r\nX-Big: ")
    sent = 0
    try:
        # A 30 MB header was once buffered whole: the server now stops reading long before.
        while sent < 30 * 2**20:
            sock.sendall(b"a" * 65536)
            sent += 65536
    except (BrokenPipeError, ConnectionResetError):
        pass
    assert sent < 30 * 2**20, "the server kept reading a 30 MB header"
    status, body = _read_response(sock)
    sock.close()
    assert status == 431 and body["error"]["code"] == "headers_too_large"  # type: ignore[index]


@pytest.mark.parametrize("extra", [MAX_HEAD_BYTES - 200, MAX_HEAD_BYTES + 100])
def test_the_head_limit_is_exact_for_a_head_that_arrives_whole(base_url: str, extra: int) -> None:
    response = httpx.get(f"{base_url}/api/events/NOSUCH", headers={"X-Pad": "p" * extra})
    if extra < MAX_HEAD_BYTES:
        assert response.status_code == 404 and response.json()["error"]["code"] == "event_not_found"
    else:
        assert response.status_code == 431 and response.json()["error"]["code"] == "headers_too_large"


def test_a_client_trickling_its_request_head_is_dropped_after_the_head_timeout(base_url: str) -> None:
    sock = _connect(base_url)
    started = time.monotonic()
    closed_after = None
    try:
        for byte in b"GET /api/events/SLOWLORIS HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"s" * 400:
            sock.sendall(bytes([byte]))  # one byte every 50 ms: each resets uvicorn's keep-alive timer
            time.sleep(0.05)
            if time.monotonic() - started > 20:
                break
    except (BrokenPipeError, ConnectionResetError):
        closed_after = time.monotonic() - started
    status, body = _read_response(sock)
    closed_after = closed_after or time.monotonic() - started
    sock.close()
    assert status == 408 and body["error"]["code"] == "request_timeout"  # type: ignore[index]
    assert HEAD_TIMEOUT * 0.9 < closed_after < 15


def test_a_connection_that_sends_nothing_is_closed_after_the_head_timeout(base_url: str) -> None:
    sock = _connect(base_url)
    started = time.monotonic()
    status, _body = _read_response(sock)
    assert status == 408 and HEAD_TIMEOUT * 0.9 < time.monotonic() - started < 15
    sock.close()


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GARBAGE\r\n\r\n",
        b"GET / HTTP/9.9\r\n\r\n",
        b"GET /api/events/X HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
        b"POST /api/events/X/orders HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
        b"GET /\x00 HTTP/1.1\r\n\r\n",
    ],
)
def test_malformed_http_gets_a_400_in_the_error_shape(base_url: str, request_bytes: bytes) -> None:
    sock = _connect(base_url)
    sock.sendall(request_bytes)
    status, body = _read_response(sock)
    sock.close()
    assert status == 400 and body["error"]["code"] == "malformed_request"  # type: ignore[index]


def test_a_client_hanging_up_mid_body_is_one_log_line_not_tracebacks(
    base_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    httpx.post(f"{base_url}/api/events", json={"code": "HANG1", "name": "H", "capacity": 5}, headers=ADMIN)
    caplog.set_level(logging.INFO)
    for path in ("/api/events/HANG1/orders", "/api/payments/webhook", "/api/events"):
        sock = _connect(base_url)
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {ADMIN_TOKEN}\r\nContent-Length: 1000\r\n\r\n".encode()
            + b'{"quantity": 1, "em'
        )
        time.sleep(0.3)
        sock.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and sum("went away" in r.getMessage() for r in caplog.records) < 3:
        time.sleep(0.1)
    time.sleep(0.5)  # anything logged late would be logged by now
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []
    assert not [r for r in caplog.records if r.exc_info]
    went_away = [r.getMessage() for r in caplog.records if "went away" in r.getMessage()]
    assert len(went_away) == 3, went_away


def test_a_body_nested_too_deeply_for_json_is_422_invalid_input_on_every_route(base_url: str) -> None:
    headers = {**ADMIN, "Content-Type": "application/json"}
    for path, depth in (("/api/events", 50_000), ("/api/events/NEST1/orders", 2_000)):  # within body limits
        response = httpx.post(f"{base_url}{path}", content=b"[" * depth + b"]" * depth, headers=headers)
        assert response.status_code == 422, (path, response.text)
        assert response.json()["error"]["code"] == "invalid_input"
    for body in (b"\xff\xfe not utf-8", b'{"code": "BADUTF8", "name": "\xff", "capacity": 1}'):
        response = httpx.post(f"{base_url}/api/events", content=body, headers=headers)
        assert response.status_code == 422 and response.json()["error"]["code"] == "invalid_input"


@pytest.mark.parametrize(
    "body",
    [b"", b"not json", b"[" * 10_000, b'{"code": "X"}', b'{"code": "AUTH1", "name": "A", "capacity": 5}'],
)
def test_creating_an_event_checks_the_token_before_the_body(base_url: str, body: bytes) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789"}):
        response = httpx.post(
            f"{base_url}/api/events", content=body, headers={**headers, "Content-Type": "application/json"}
        )
        assert response.status_code == 401, response.text
        assert response.json()["error"]["code"] == "unauthorized"
        assert response.headers["www-authenticate"] == "Bearer"


def test_an_unexpected_failure_is_a_500_in_the_error_shape_and_one_traceback(
    base_url: str, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    httpx.post(f"{base_url}/api/events", json={"code": "BROKE1", "name": "B", "capacity": 5}, headers=ADMIN)
    # A schema the code does not expect (a migration run by hand, say): a programming error, not an
    # outage, so neither 503 nor a retry helps.
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE events RENAME COLUMN name TO title")
    caplog.set_level(logging.INFO)
    response = httpx.get(f"{base_url}/api/events/BROKE1")
    assert response.status_code == 500
    assert response.json() == {
        "error": {"code": "internal_error", "message": "an unexpected error occurred; it has been logged"}
    }
    time.sleep(0.5)  # anything logged late would be logged by now
    tracebacks = [r for r in caplog.records if r.exc_info]
    assert len(tracebacks) == 1, [r.getMessage() for r in tracebacks]
    assert "GET /api/events/BROKE1" in tracebacks[0].getMessage()


@pytest.mark.parametrize("path", ["/api/events", "/api/payments/webhook", "/api/events/HANG1/orders"])
def test_a_body_that_stalls_is_a_408_and_the_connection_closed(
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    path: str,
) -> None:
    monkeypatch.setattr(limits, "BODY_GAP_TIMEOUT_SECONDS", 1.0)  # the server's is 20 s
    with live_server(settings_for(database_url, tmp_path)) as url:
        caplog.set_level(logging.INFO)
        sock = _connect(url)
        started = time.monotonic()
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {ADMIN_TOKEN}\r\nContent-Length: 1000\r\n\r\n".encode()
            + b'{"quan'
        )
        status, body = _read_response(sock)
        waited = time.monotonic() - started
        assert sock.recv(1) == b""  # closed: the rest of that body is never read as a request
        sock.close()
    assert status == 408 and body["error"]["code"] == "request_timeout", body  # type: ignore[index]
    assert 0.9 < waited < 10
    assert [r.getMessage() for r in caplog.records if "stalled" in r.getMessage()] != []
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
