"""The answer to a failure nobody foresaw: a 500 in the one error shape and one traceback in the log.

Starlette's own last resort (an ``Exception`` handler) answers and then re-raises, so that the server
logs the failure too: every unexpected 500 was two tracebacks, one of which could not say which
request failed. This middleware sits inside it, answers, logs once with the request, and stops there.
"""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.api.errors import error_response

log = logging.getLogger("backend.api")


class AnswerUnexpected:
    """Pure ASGI middleware: any exception left by the app becomes a logged 500."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_tracked)
        except Exception:
            log.exception("%s %s failed", scope.get("method"), scope.get("path"))
            if started:
                # Half an answer is out: nothing sane can follow it; the server closes the connection.
                return
            response = error_response(
                500, "internal_error", "an unexpected error occurred; it has been logged"
            )
            await response(scope, receive, send)
