"""Reading and writing the sync protocol's JSON bodies (decoded by ``ticketcode.sync_protocol``)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from backend.api.limits import read_body
from backend.errors import InvalidInput, PayloadTooLarge


async def json_body(request: Request, *, limit: int) -> Any:
    """The request's JSON body; PayloadTooLarge past ``limit`` bytes, InvalidInput if it is not JSON."""
    raw = await read_body(request, limit=limit)
    if raw is None:
        raise PayloadTooLarge(f"a request body here is at most {limit} bytes")
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        # RecursionError: JSON nested deeper than the parser goes is not a message of ours either.
        raise InvalidInput("the body is not valid JSON") from None


def json_response(body: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status_code=status, media_type="application/json", headers=headers)
