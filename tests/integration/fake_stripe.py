"""A local stand-in for Stripe's refund endpoint (Stripe's servers cannot be reached from tests).

It speaks the real protocol of ``POST /v1/refunds``: form-encoded parameters (``payment_intent``,
``amount``, ``metadata[...]``), ``Authorization: Bearer sk_...``, an ``Idempotency-Key`` header that
makes a repeated request answer the refund it already made; it answers a JSON ``refund`` object, or
Stripe's error shape ``{"error": {"type", "code", "message"}}``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs


@dataclass
class FakeStripe:
    """What the fake received, and what it should refuse."""

    base: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)  # by idempotency key
    refuse: set[str] = field(default_factory=set)  # payment intents to answer with a card error


@contextmanager
def fake_stripe() -> Iterator[FakeStripe]:
    state = FakeStripe()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.send_header("Request-Id", "req_fake")
            self.end_headers()
            self.wfile.write(raw)

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
            form = {k: v[0] for k, v in parse_qs(raw).items()}
            key = self.headers.get("Idempotency-Key")
            state.requests.append(
                {
                    "path": self.path,
                    "form": form,
                    "idempotency_key": key,
                    "authorization": self.headers.get("Authorization"),
                    "content_type": self.headers.get("Content-Type"),
                }
            )
            if self.path != "/v1/refunds":
                self._answer(
                    404, {"error": {"type": "invalid_request_error", "message": "Unrecognized request URL"}}
                )
                return
            intent = form.get("payment_intent", "")
            if intent in state.refuse:
                self._answer(
                    400,
                    {
                        "error": {
                            "type": "invalid_request_error",
                            "code": "charge_already_refunded",
                            "message": f"Charge for {intent} has already been refunded.",
                        }
                    },
                )
                return
            if key in state.refunds:
                self._answer(200, state.refunds[key])
                return
            refund = {
                "id": f"re_{len(state.refunds) + 1}",
                "object": "refund",
                "amount": int(form["amount"]),
                "balance_transaction": "txn_1",
                "charge": f"ch_{intent}",
                "created": 1796000000,
                "currency": "eur",
                "metadata": {k[9:-1]: v for k, v in form.items() if k.startswith("metadata[")},
                "payment_intent": intent,
                "reason": None,
                "receipt_number": None,
                "status": "succeeded",
            }
            if key:
                state.refunds[key] = refund
            self._answer(200, refund)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
