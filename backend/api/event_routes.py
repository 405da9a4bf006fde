"""Routes of events: create one (admin), read its stock."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import ValidationError

from backend import events
from backend.api.auth import admin_bearer, require_admin
from backend.api.context import ApiContext
from backend.api.errors import error_response
from backend.api.limits import MAX_BODY_BYTES, read_body
from backend.api.models import EventCreate, EventOut, error_responses, event_out

# The body is read by hand (after the token check), so the OpenAPI page is told its schema here.
_EVENT_CREATE_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": EventCreate.model_json_schema()}},
    }
}


def event_routes(ctx: ApiContext) -> APIRouter:
    router = APIRouter(tags=["events"])

    @router.post(
        "/api/events",
        status_code=201,
        response_model=EventOut,
        responses=error_responses(401, 409, 413, 422),
        openapi_extra=_EVENT_CREATE_DOC,
    )
    async def create_event(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(admin_bearer)],
    ) -> Any:
        """Create an event (admin token). Its stock starts fully available."""
        # The token first, the body after: a caller without the token learns nothing about what a
        # valid body looks like (FastAPI validates a declared body before the route runs).
        denied = require_admin(credentials, ctx.settings.admin_token)
        if denied is not None:
            return denied
        raw = await read_body(request, limit=MAX_BODY_BYTES)
        if raw is None:
            return error_response(
                413, "payload_too_large", f"a request body is at most {MAX_BODY_BYTES} bytes"
            )
        try:
            body = EventCreate.model_validate_json(raw)
        except ValidationError as exc:
            raise RequestValidationError(exc.errors(include_url=False)) from None
        await events.create_event(
            ctx.db,
            code=body.code,
            name=body.name,
            capacity=body.capacity,
            price_cents=body.price_cents,
            currency=body.currency,
            share_holders=body.share_holders,
            signing=body.signing,
        )
        return event_out(await events.get_event_stock(ctx.db, body.code))

    @router.get("/api/events/{code}", response_model=EventOut, responses=error_responses(404))
    async def get_event(code: str) -> EventOut:
        """An event's stock: capacity = available + held (pending orders) + sold."""
        return event_out(await events.get_event_stock(ctx.db, code))

    return router
