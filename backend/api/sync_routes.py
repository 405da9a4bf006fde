"""Routes of the sync: a device pulls its event's changes and pushes its scans (``Authorization: Device``)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import Response

from backend import change_feed, devices, metrics, scan_ingest
from backend.api.context import ApiContext
from backend.api.limits import MAX_PUSH_BODY_BYTES
from backend.api.models import error_responses
from backend.api.wire import json_body, json_response
from backend.errors import InvalidInput
from ticketcode.sync_protocol import (
    DEFAULT_PULL_LIMIT,
    MAX_PULL_LIMIT,
    PULL_PATH,
    PUSH_PATH,
    PushResponse,
    decode_push_request,
    encode_push_response,
)

_DEVICE_AUTH = {
    "parameters": [
        {
            "name": "Authorization",
            "in": "header",
            "required": True,
            "schema": {"type": "string"},
            "description": "Device <token>",
        }
    ]
}


def _limit(text: str | None) -> int:
    if text is None or text == "":
        return DEFAULT_PULL_LIMIT
    # ASCII digits only: str.isdigit() also takes "²" and "١", which int() then refuses or reads.
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_PULL_LIMIT:
        raise InvalidInput(f"limit must be a whole number from 1 to {MAX_PULL_LIMIT}")
    return int(text)


def sync_routes(ctx: ApiContext) -> APIRouter:
    router = APIRouter(tags=["sync"])
    origin: list[str] = []  # the database's feed id, read once

    async def device_of(request: Request) -> devices.Device:
        token = devices.token_from_authorization(request.headers.get("authorization"))
        return await devices.authenticate(ctx.db, token)

    @router.get(PULL_PATH, responses=error_responses(400, 401, 403, 422, 503), openapi_extra=_DEVICE_AUTH)
    async def pull(request: Request) -> Response:
        """The device's event, its keys, and up to ``limit`` changes after ``cursor`` (empty: the start).

        Changes: tickets as they are now (valid or revoked), other gates' movements, conflicts.
        ``more`` says another page is ready; hand back ``cursor`` to get it. 400 ``bad_cursor`` for a
        cursor this server did not hand out (start again from the empty cursor).
        """
        device = await device_of(request)
        metrics.SYNC_REQUESTS.labels(device.event_code, device.name, "pull").inc()
        cursor = request.query_params.get("cursor", "")
        limit = _limit(request.query_params.get("limit"))
        if not origin:
            origin.append(await change_feed.feed_origin(ctx.db))
        page = await change_feed.read_page(ctx.db, device, cursor=cursor, limit=limit, origin=origin[0])
        if not page.more:  # once per pull, not per page
            await devices.record_pull(ctx.db, device.id, caught_up=page.caught_up)
        body = change_feed.page_json(
            device, page, master_secret=ctx.settings.master_secret, server_time=datetime.now(UTC)
        )
        return Response(body, media_type="application/json")

    @router.post(
        PUSH_PATH, responses=error_responses(401, 403, 409, 413, 422, 503), openapi_extra=_DEVICE_AUTH
    )
    async def push(request: Request) -> Response:
        """Scans recorded at the gate, at most 1,000; each stored once per (device, scan id) however
        often it is sent. The answer lists every scan id of the batch the server now holds. 409
        ``scan_ids_reused`` (nothing stored) when an id already held comes with another scan: the
        gate's store restarted its numbering, and the gate must pair again."""
        device = await device_of(request)
        metrics.SYNC_REQUESTS.labels(device.event_code, device.name, "push").inc()
        batch = decode_push_request(await json_body(request, limit=MAX_PUSH_BODY_BYTES))
        acknowledged = await scan_ingest.ingest_scans(ctx.db, device, batch.scans)
        metrics.SCANS_INGESTED.labels(device.event_code, device.name).inc(len(batch.scans))
        answer = PushResponse(acknowledged=tuple(acknowledged), server_time=datetime.now(UTC))
        return json_response(encode_push_response(answer))

    return router
