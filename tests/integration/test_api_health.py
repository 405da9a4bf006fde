"""``/healthz`` and ``/readyz`` on a real server: ready only while the database answers, every migration
is applied and the reaper keeps up; the JSON says which check failed."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg

from tests.integration.fault_proxy import FaultProxy
from tests.integration.live_server import ADMIN_TOKEN, live_server, settings_for

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def test_a_fresh_server_is_live_and_ready(database_url: str, tmp_path: Path) -> None:
    with live_server(settings_for(database_url, tmp_path)) as base:
        assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}
        ready = httpx.get(f"{base}/readyz")
        assert ready.status_code == 200, ready.text
        body = ready.json()
        assert body["ready"] is True and body["reasons"] == []
        assert body["checks"]["migrations"]["missing"] == []
        assert body["checks"]["reaper"] == {"ok": True, "lag_seconds": 0, "threshold_seconds": 150}


def test_an_overdue_order_the_reaper_left_makes_the_server_not_ready_until_it_is_reaped(
    database_url: str, tmp_path: Path
) -> None:
    settings = settings_for(database_url, tmp_path, reaper_interval_seconds=0.5)
    with live_server(settings, reaper=False) as base:
        made = httpx.post(
            f"{base}/api/events", json={"code": "LAG1", "name": "Lag", "capacity": 5}, headers=ADMIN
        )
        assert made.status_code == 201, made.text
        order = httpx.post(f"{base}/api/events/LAG1/orders", json={"quantity": 1, "email": "a@example.com"})
        assert order.status_code == 201, order.text
        with psycopg.connect(database_url, autocommit=True) as conn:
            # Within the threshold (2 x 0.5 + 30 s) the reaper is not behind yet ...
            conn.execute("UPDATE orders SET expires_at = now() - interval '20 seconds'")
            assert httpx.get(f"{base}/readyz").status_code == 200
            # ... past it, it is: no reaper runs in this server.
            conn.execute("UPDATE orders SET expires_at = now() - interval '10 minutes'")
        answer = httpx.get(f"{base}/readyz")
        assert answer.status_code == 503
        body = answer.json()
        assert body["ready"] is False and body["checks"]["reaper"]["ok"] is False
        assert 590 < body["checks"]["reaper"]["lag_seconds"] < 700
        assert body["reasons"] == [
            "the reaper is behind: the oldest overdue pending order expired 600 s ago (more than 31 s)"
        ]
        assert httpx.get(f"{base}/healthz").status_code == 200  # alive all the same
    with live_server(settings, reaper=True) as base:
        deadline = time.monotonic() + 20
        while httpx.get(f"{base}/readyz").status_code != 200:
            assert time.monotonic() < deadline, "the reaper caught up but the server stayed not ready"
            time.sleep(0.2)


def test_a_missing_migration_makes_the_server_not_ready_and_names_it(
    database_url: str, tmp_path: Path
) -> None:
    with live_server(settings_for(database_url, tmp_path)) as base:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("DELETE FROM schema_migrations WHERE version LIKE '004%'")
        body = httpx.get(f"{base}/readyz").json()
        assert body["ready"] is False and body["checks"]["migrations"]["missing"] == ["004_payments"]
        assert body["reasons"] == ["migrations not applied: 004_payments (run `ticketgate migrate`)"]


def test_a_database_that_went_away_makes_the_server_not_ready_and_back_again(
    database_url: str, tmp_path: Path
) -> None:
    parts = urlsplit(database_url)
    with FaultProxy(parts.port or 5432) as proxy:
        proxied = urlunsplit(parts._replace(netloc=f"{parts.username}@127.0.0.1:{proxy.port}"))
        with live_server(settings_for(proxied, tmp_path)) as base:
            assert httpx.get(f"{base}/readyz").status_code == 200
            proxy.mode = "refuse"
            proxy.drop_all()
            started = time.monotonic()
            answer = httpx.get(f"{base}/readyz", timeout=30)
            assert time.monotonic() - started < 10, "a probe must not hang"
            assert answer.status_code == 503, answer.text
            assert answer.json()["reasons"] == ["the database does not answer"]
            assert httpx.get(f"{base}/healthz").status_code == 200
            proxy.mode = "pass"
            deadline = time.monotonic() + 30
            while httpx.get(f"{base}/readyz", timeout=30).status_code != 200:
                assert time.monotonic() < deadline, "the server did not become ready again"
                time.sleep(0.5)
