"""Every request gets an id: the client's ``X-Request-ID`` when it is a sane one, else a new random one.
It is in every log line written while the request is served (JSON logs) and in the answer's
``X-Request-ID`` header, so a buyer's complaint or a proxy's log leads to the server's lines."""

from __future__ import annotations

import re
import secrets

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.logs import REQUEST_ID

HEADER = b"x-request-id"
# What a proxy or client may hand us (uuids, hex, ULIDs): anything else is replaced, so a log line
# never carries what a client made up beyond these characters.
_ACCEPTED = re.compile(rb"[A-Za-z0-9._:-]{1,128}")


class RequestIds:
    """A pure ASGI middleware (no per-request objects beyond the id: the checkout path is hot)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((value for name, value in scope["headers"] if name == HEADER), None)
        raw = given if given is not None and _ACCEPTED.fullmatch(given) else secrets.token_hex(8).encode()
        token = REQUEST_ID.set(raw.decode("ascii"))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), (HEADER, raw)]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            REQUEST_ID.reset(token)
