"""Limits a reverse proxy would put on each HTTP connection, enforced by the server itself.

uvicorn's httptools protocol (chosen for checkout throughput) bounds neither the size of a request's
head nor the time a client may take to send it: a 30 MB header was buffered whole, and a client
trickling one byte at a time held its connection open indefinitely. This subclass adds, like nginx's
``large_client_header_buffers`` and ``client_header_timeout``:

- a request head (request line and headers) of at most ``MAX_HEAD_BYTES``: larger is refused with
  431 as soon as it is known, never buffered further;
- a head complete within ``HEAD_TIMEOUT_SECONDS`` of the connection opening or the request starting:
  otherwise 408 and the connection is closed;
- malformed HTTP answered in the API's one error shape (uvicorn answers in plain text).

Each refused connection is one warning line; the application never sees the request.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

log = logging.getLogger("backend.http")

MAX_HEAD_BYTES = 8 * 1024
HEAD_TIMEOUT_SECONDS = 10.0


class _HeadTooLarge(Exception):
    """Raised from the parser's callback when a complete request head is over the limit."""


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a bound on the request head's size and time."""

    max_head_bytes = MAX_HEAD_BYTES
    head_timeout_seconds = HEAD_TIMEOUT_SECONDS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True  # reading a request head: since the connection opened or a request began
        self._head_bytes = 0  # bytes received while in the head (whole reads: an upper bound)
        self._head_started = 0.0  # loop time the current head began
        # One timer per connection, re-armed only when it fires early: a timer per request cost more
        # CPU than the rest of the guard.
        self._head_timer: asyncio.TimerHandle | None = None
        self._refused = False

    # -- connection ----------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_started = self.loop.time()
        self._arm_head_timer(self.head_timeout_seconds)

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # No WebSocket here: answered as uvicorn does (the request goes on as plain HTTP).
            self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError as exc:
            if isinstance(exc.__context__, _HeadTooLarge):
                self._refuse_head_too_large()
            else:
                self._refuse(
                    400, "malformed_request", "this is not a valid HTTP/1.1 request", why="malformed HTTP"
                )
            return
        if self._in_head:
            self._head_bytes += len(data)
            if self._head_bytes > self.max_head_bytes:
                self._refuse_head_too_large()

    def send_400_response(self, msg: str) -> None:
        self._refuse(400, "malformed_request", "this is not a valid HTTP/1.1 request", why=msg)

    # -- parser callbacks ----------------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head, self._head_bytes = True, 0
        self._head_started = self.loop.time()
        if self._head_timer is None:
            self._arm_head_timer(self.head_timeout_seconds)

    def on_headers_complete(self) -> None:
        self._in_head = False
        size = len(self.url)
        for name, value in self.headers:
            size += len(name) + len(value) + 4  # ": " and CRLF
        if size > self.max_head_bytes:
            raise _HeadTooLarge
        super().on_headers_complete()

    # -- refusing ------------------------------------------------------------------------------

    def _arm_head_timer(self, delay: float) -> None:
        self._head_timer = self.loop.call_later(delay, self._check_head_time)

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _check_head_time(self) -> None:
        self._head_timer = None
        if not self._in_head or self.transport.is_closing():
            return  # no head being read: the next request's start arms the timer again
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a response is still being written; uvicorn's keep-alive handling takes over
        left = self._head_started + self.head_timeout_seconds - self.loop.time()
        if left > 0:
            self._arm_head_timer(left)  # this head began after the timer was armed
            return
        self._refuse(
            408,
            "request_timeout",
            f"the request's head did not arrive within {self.head_timeout_seconds:g} s",
            why=f"no complete request head within {self.head_timeout_seconds:g} s",
        )

    def _refuse_head_too_large(self) -> None:
        self._refuse(
            431,
            "headers_too_large",
            f"the request line and headers are at most {self.max_head_bytes} bytes",
            why=f"request head over {self.max_head_bytes} bytes",
        )

    def _refuse(self, status: int, code: str, message: str, *, why: str) -> None:
        """Answer ``status`` in the API's error shape, close the connection, log one line."""
        if self._refused:
            return
        self._refused = True
        self._stop_head_timer()
        client = "%s:%d" % self.client if self.client else "unknown client"
        log.warning("dropped connection from %s: %s (%d)", client, why, status)
        body = json.dumps({"error": {"code": code, "message": message}}).encode()
        self.transport.write(
            b"".join(
                [
                    STATUS_LINE[status],
                    b"content-type: application/json\r\n",
                    b"content-length: " + str(len(body)).encode() + b"\r\n",
                    b"connection: close\r\n",
                    b"\r\n",
                    body,
                ]
            )
        )
        self.transport.close()


def guarded_protocol(*, max_head_bytes: int, head_timeout_seconds: float) -> type[GuardedHttpToolsProtocol]:
    """The protocol class with other limits (tests use a short timeout)."""
    return type(
        "GuardedHttpToolsProtocol",
        (GuardedHttpToolsProtocol,),
        {"max_head_bytes": max_head_bytes, "head_timeout_seconds": head_timeout_seconds},
    )
