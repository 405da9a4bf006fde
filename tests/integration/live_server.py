"""A real uvicorn server on 127.0.0.1 (free port, own thread and event loop) serving the API, for tests."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn

from backend.api import create_app
from backend.http_limits import GuardedHttpToolsProtocol
from backend.server import uvicorn_config
from backend.settings import Settings

ADMIN_TOKEN = "test-admin-token-0123456789"
WEBHOOK_SECRET = "whsec_test_0123456789abcdef"
MASTER_SECRET = b"test-master-secret-0123456789abcdef"


def settings_for(database_url: str, data_dir: Path, **overrides: Any) -> Settings:
    """Settings with known secrets, pointing at ``database_url``."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "master_secret": MASTER_SECRET,
        "webhook_secret": WEBHOOK_SECRET,
        "admin_token": ADMIN_TOKEN,
        "data_dir": data_dir,
    }
    # Most tests make many orders from 127.0.0.1: the per-client rate limit is off unless a test sets it.
    values["checkout_rate"] = None
    values.update(overrides)
    return Settings(**values)


@contextmanager
def live_server(
    settings: Settings,
    *,
    reaper: bool = False,
    pool_max_size: int = 16,
    http: type[asyncio.Protocol] = GuardedHttpToolsProtocol,
) -> Iterator[str]:
    """Serve the app built from ``settings`` with the server's own uvicorn configuration (``http``
    may set other connection limits) until the block ends; yield its base URL."""
    app = create_app(settings, reaper=reaper, pool_max_size=pool_max_size)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn_config(app, access_log=False, http=http, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError("the test server did not start (see the log above)")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


def signed_webhook(
    event_id: str,
    order: str | dict[str, Any],
    *,
    event_type: str = "payment_intent.succeeded",
    secret: str = WEBHOOK_SECRET,
    timestamp: int | None = None,
    payment: str | None = None,
    amount: int | None = None,
    currency: str | None = None,
    event: str | None = None,
    obj: dict[str, Any] | None = None,
) -> tuple[bytes, dict[str, str]]:
    """A provider event body and its headers, signed as Stripe documents it (written out here on purpose,
    independently of backend.webhooks).

    ``order`` is the order as the checkout answered it (its amount, currency and event are what the
    payment intent carries unless ``amount``, ``currency``, ``event`` say otherwise) or just its id.
    A payment intent event carries a payment intent object (``payment``: its id, default ``pi_<event
    id>``); ``obj`` replaces the whole ``data.object`` (charge and dispute events).
    """
    details = order if isinstance(order, dict) else {"id": order}
    if obj is None:
        obj = {
            "id": payment or f"pi_{event_id}",
            "object": "payment_intent",
            "amount": details.get("amount_cents", 0) if amount is None else amount,
            "amount_received": details.get("amount_cents", 0) if amount is None else amount,
            "currency": (currency or details.get("currency", "EUR")).lower(),
            "status": "succeeded" if event_type.endswith("succeeded") else "requires_payment_method",
            "metadata": {"order_id": details["id"], "event": event or details.get("event", "")},
        }
    body = json.dumps(
        {"id": event_id, "object": "event", "type": event_type, "data": {"object": obj}}
    ).encode()
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return body, {"Stripe-Signature": f"t={t},v1={digest}", "Content-Type": "application/json"}
