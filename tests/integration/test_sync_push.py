"""The push over real HTTP: every scan stored exactly once, however batches are retried or cut off."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest

from backend.scan_ingest import INGEST_LOCK_CLASS, lock_keys
from tests.integration.live_server import live_server, settings_for
from tests.integration.synckit import Gate, create_event, error_code, paired_gate, sell
from ticketcode.sync_protocol import PUSH_PATH, PushRequest, ScanUpload, encode_push_request


@pytest.fixture
def base_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    with live_server(settings_for(database_url, tmp_path)) as url:
        yield url


def stored(database_url: str, gate: Gate) -> list[tuple[int, int]]:
    """(gate scan id, times stored) for each scan of the gate on the server."""
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            "SELECT scan_id, count(*)::int FROM scans WHERE device_id = %s GROUP BY scan_id ORDER BY scan_id",
            (gate.device_id,),
        ).fetchall()


def movement_rows(database_url: str, gate: Gate) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM sync_feed WHERE kind = 'movement' AND device_id = %s", (gate.device_id,)
        ).fetchone()
    assert row is not None
    return int(row[0])


def mixed_scans(gate: Gate, codes: list[str], count: int) -> list[ScanUpload]:
    """Admissions, exits and rejections, as a busy gate records them."""
    scans = []
    for i in range(count):
        code = codes[i % len(codes)]
        if i % 5 == 4:
            scans.append(gate.scan(code, verdict="ALREADY_USED"))
        else:
            scans.append(gate.scan(code, direction="out" if i % 5 == 2 else "in"))
    return scans


def body_of(scans: list[ScanUpload]) -> bytes:
    return json.dumps(encode_push_request(PushRequest(scans=tuple(scans)))).encode()


def test_the_same_batch_retried_at_once_from_several_threads_is_stored_once(
    base_url: str, database_url: str
) -> None:
    create_event(base_url, "ONCE01", capacity=50)
    codes = sell(base_url, "ONCE01", 10)
    gate = paired_gate(base_url, database_url, "ONCE01", "Gate A")
    scans = mixed_scans(gate, codes, 600)
    body = body_of(scans)
    threads = 6
    start = threading.Barrier(threads)
    answers: list[httpx.Response | BaseException] = []

    def send() -> None:
        start.wait(timeout=30)
        try:
            answers.append(
                httpx.post(
                    f"{base_url}{PUSH_PATH}",
                    content=body,
                    headers={**gate.headers, "Content-Type": "application/json"},
                    timeout=60,
                )
            )
        except httpx.HTTPError as exc:
            answers.append(exc)

    workers = [threading.Thread(target=send) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert all(isinstance(a, httpx.Response) and a.status_code == 200 for a in answers), answers
    for answer in answers:
        assert isinstance(answer, httpx.Response)
        assert answer.json()["acknowledged"] == [s.id for s in scans]
    assert stored(database_url, gate) == [(s.id, 1) for s in scans]
    assert movement_rows(database_url, gate) == sum(1 for s in scans if s.verdict == "ADMIT")


def test_a_batch_cut_off_half_way_then_resent_is_stored_once(base_url: str, database_url: str) -> None:
    create_event(base_url, "HALF01", capacity=50)
    codes = sell(base_url, "HALF01", 10)
    gate = paired_gate(base_url, database_url, "HALF01", "Gate A")
    scans = mixed_scans(gate, codes, 1000)
    body = body_of(scans)
    # The connection drops half way through the upload: the server stores none of that batch ...
    url = urlsplit(base_url)
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        head = (
            f"POST {PUSH_PATH} HTTP/1.1\r\nHost: {url.netloc}\r\nContent-Type: application/json\r\n"
            f"Authorization: Device {gate.token}\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        sock.sendall(head.encode() + body[: len(body) // 2])
    # ... an earlier, smaller batch had got through, and its answer was lost on the way back ...
    gate.push(scans[:300])
    # ... so the gate sends the whole batch again: every scan once, all acknowledged.
    answer = gate.push(scans)
    assert list(answer.acknowledged) == [s.id for s in scans]
    assert stored(database_url, gate) == [(s.id, 1) for s in scans]
    assert movement_rows(database_url, gate) == sum(1 for s in scans if s.verdict == "ADMIT")


def test_an_answer_never_read_leaves_the_batch_stored_and_the_retry_acknowledged(
    base_url: str, database_url: str
) -> None:
    create_event(base_url, "LOST01")
    codes = sell(base_url, "LOST01", 3)
    gate = paired_gate(base_url, database_url, "LOST01", "Gate A")
    scans = mixed_scans(gate, codes, 20)
    body = body_of(scans)
    url = urlsplit(base_url)
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        head = (
            f"POST {PUSH_PATH} HTTP/1.1\r\nHost: {url.netloc}\r\nContent-Type: application/json\r\n"
            f"Authorization: Device {gate.token}\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        sock.sendall(head.encode() + body)
        sock.shutdown(socket.SHUT_WR)  # and hang up without reading the answer
    answer = gate.push(scans)
    assert list(answer.acknowledged) == [s.id for s in scans]
    assert stored(database_url, gate) == [(s.id, 1) for s in scans]


def test_a_batch_that_breaks_the_protocol_is_refused_whole(base_url: str, database_url: str) -> None:
    create_event(base_url, "BADB01")
    codes = sell(base_url, "BADB01", 1)
    gate = paired_gate(base_url, database_url, "BADB01", "Gate A")
    good = encode_push_request(PushRequest(scans=(gate.scan(codes[0]),)))
    cases = {
        "unknown verdict": {"scans": [{**good["scans"][0], "verdict": "MAYBE"}]},
        "time without zone": {"scans": [{**good["scans"][0], "scanned_at": "2026-11-24T19:00:00"}]},
        "too many scans": {"scans": [{**good["scans"][0], "id": i} for i in range(1, 1002)]},
        "not a list": {"scans": "all of them"},
    }
    for what, body in cases.items():
        response = httpx.post(f"{base_url}{PUSH_PATH}", json=body, headers=gate.headers)
        assert response.status_code == 422 and error_code(response) == "invalid_input", what
    for raw in (b"{", b"[" * 100_000):
        response = httpx.post(f"{base_url}{PUSH_PATH}", content=raw, headers=gate.headers)
        assert response.status_code == 422 and error_code(response) == "invalid_input"
    assert stored(database_url, gate) == []


def test_a_push_that_waits_too_long_for_a_ticket_is_503_and_stores_nothing_until_retried(
    base_url: str, database_url: str
) -> None:
    create_event(base_url, "BUSY01")
    codes = sell(base_url, "BUSY01", 1)
    gate = paired_gate(base_url, database_url, "BUSY01", "Gate A")
    scan = gate.scan(codes[0])
    with psycopg.connect(database_url) as blocker:
        # Another batch moving the same ticket holds it (here: as long as this transaction lasts).
        [(event_id,)] = blocker.execute("SELECT id FROM events WHERE code = 'BUSY01'").fetchall()
        blocker.execute(
            "SELECT pg_advisory_xact_lock(%s::integer, k) FROM unnest(%s::integer[]) AS k",
            (INGEST_LOCK_CLASS, lock_keys(event_id, [scan.serial or 0])),
        )
        body = encode_push_request(PushRequest(scans=(scan,)))
        busy = httpx.post(f"{base_url}{PUSH_PATH}", json=body, headers=gate.headers, timeout=30)
        assert busy.status_code == 503 and error_code(busy) == "busy", busy.text
        assert busy.headers["Retry-After"] == "1"
        assert stored(database_url, gate) == []
    # The lock is gone with the blocker's transaction: the gate's retry of the same batch lands once.
    assert gate.push([scan]).acknowledged == (scan.id,)
    assert stored(database_url, gate) == [(scan.id, 1)]
