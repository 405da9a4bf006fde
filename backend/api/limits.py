"""Request body limits: bounded reads, and a middleware that refuses oversized bodies with a 413 and
bodies that stall with a 408."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from fastapi import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.api.errors import error_response

# Stripe's own payloads are a few kB; anything beyond this is not a payment event, and a bounded read
# keeps a hostile client from making the server buffer an unbounded body.
MAX_WEBHOOK_BODY_BYTES = 64 * 1024
# A checkout body is a quantity and an email; a bound keeps a buyer from making us buffer megabytes.
MAX_ORDER_BODY_BYTES = 4 * 1024
# A gate's batch of 1,000 scans is ~300 kB of JSON, up to ~3.5 MB if every text field is at its limit
# and escaped.
MAX_PUSH_BODY_BYTES = 4 * 1024 * 1024
# A pairing request is a code and a version.
MAX_PAIR_BODY_BYTES = 4 * 1024
# Everything else (event creation) is small too; BodyLimit enforces this for every route but the push.
MAX_BODY_BYTES = 256 * 1024
# The longest wait for the next piece of a body once its head has arrived (nginx's client_body_timeout,
# 60 s by default, is the same idea). uvicorn waits forever: a client trickling a byte now and then
# held a connection and a request task without end. Read when a request starts (tests shorten it).
BODY_GAP_TIMEOUT_SECONDS = 20.0

log = logging.getLogger("backend.api")


async def read_body(request: Request, *, limit: int) -> bytes | None:
    """The raw body, or None as soon as it is known to exceed ``limit`` bytes (never buffered whole)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


class BodyTooLarge(Exception):
    """Raised inside the app when a body grows past the limit while being received."""


class BodyStalled(Exception):
    """Raised inside the app when the next piece of a body does not arrive in time."""


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes with a 413 in the API's error shape, never buffering them.

    (FastAPI's own ``max_body_size`` answers in plain text, which would break the one error shape.)
    """

    def __init__(self, app: ASGIApp, *, limit: int, paths: Mapping[str, int] | None = None) -> None:
        self.app = app
        self.limit = limit
        self.paths = dict(paths or {})  # a route's own limit, by exact path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.paths.get(scope.get("path", ""), self.limit)
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await self._refuse(scope, receive, send, limit)
                return
        received = 0
        started = False
        body_done = False
        gap = BODY_GAP_TIMEOUT_SECONDS

        async def counting_receive() -> Message:
            nonlocal received, body_done
            if body_done:
                return await receive()  # after the body: the app waits for a disconnect, unbounded
            try:
                message = await asyncio.wait_for(receive(), gap)
            except TimeoutError:
                raise BodyStalled from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge
                body_done = not message.get("more_body", False)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if started:
                raise
            await self._refuse(scope, receive, send, limit)
        except BodyStalled:
            if started:
                raise
            client = scope.get("client") or ("a client", "")
            log.info(
                "%s:%s stalled mid-body for %g s (%s %s); dropped, nothing was done",
                *client, gap, scope.get("method"), scope.get("path"),
            )  # fmt: skip
            response = error_response(
                408,
                "request_timeout",
                f"the request's body stalled: nothing arrived for {gap:g} s",
                headers={"Connection": "close"},  # the rest of that body must not be read as a request
            )
            await response(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        response = error_response(413, "payload_too_large", f"a request body is at most {limit} bytes")
        await response(scope, receive, send)
