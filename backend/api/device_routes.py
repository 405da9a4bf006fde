"""Routes of gate devices: pairing (a one-time code for a device token)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from backend import devices
from backend.api.context import ApiContext
from backend.api.limits import MAX_PAIR_BODY_BYTES
from backend.api.models import error_responses
from backend.api.wire import json_body, json_response
from backend.change_feed import event_info
from ticketcode.sync_protocol import (
    PAIR_PATH,
    PROTOCOL_VERSION,
    PairResponse,
    decode_pair_request,
    encode_pair_response,
)

_PAIR_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {"type": "object"},
                "example": {"code": "K7QX-M2PA-9TRD", "protocol": PROTOCOL_VERSION},
            }
        },
    },
}


def device_routes(ctx: ApiContext) -> APIRouter:
    router = APIRouter(tags=["devices"])

    @router.post(PAIR_PATH, responses=error_responses(401, 413, 422, 503), openapi_extra=_PAIR_DOC)
    async def pair(request: Request) -> Response:
        """Exchange a one-time pairing code (from ``ticketgate device add``) for a device token.

        The token is in this answer only; the server keeps its hash. 401 ``pairing_invalid`` for a
        code that is unknown, already used or expired (not told apart); 422 for a malformed request.
        """
        pairing = decode_pair_request(await json_body(request, limit=MAX_PAIR_BODY_BYTES))
        if pairing.protocol != PROTOCOL_VERSION:
            return json_response(
                {
                    "error": {
                        "code": "unsupported_protocol",
                        "message": f"this server speaks sync protocol {PROTOCOL_VERSION}, "
                        f"not {pairing.protocol}: update ticketgate on the gate or the server",
                    }
                },
                status=400,
            )
        paired = await devices.pair_device(ctx.db, pairing.code)
        answer = PairResponse(
            device_id=str(paired.device.id),
            device_name=paired.device.name,
            token=paired.token,
            event=event_info(paired.device),
            server_time=paired.server_time,
        )
        return json_response(encode_pair_response(answer))

    return router
