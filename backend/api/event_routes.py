"""Routes of events: create one (admin), read its stock."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.security import HTTPAuthorizationCredentials

from backend import events
from backend.api.auth import admin_bearer, require_admin
from backend.api.context import ApiContext
from backend.api.models import EventCreate, EventOut, error_responses, event_out


def event_routes(ctx: ApiContext) -> APIRouter:
    router = APIRouter(tags=["events"])

    @router.post(
        "/api/events", status_code=201, response_model=EventOut, responses=error_responses(401, 409, 413, 422)
    )
    async def create_event(
        body: EventCreate,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(admin_bearer)],
    ) -> Any:
        """Create an event (admin token). Its stock starts fully available."""
        denied = require_admin(credentials, ctx.settings.admin_token)
        if denied is not None:
            return denied
        await events.create_event(
            ctx.db,
            code=body.code,
            name=body.name,
            capacity=body.capacity,
            price_cents=body.price_cents,
            currency=body.currency,
            share_holders=body.share_holders,
        )
        return event_out(await events.get_event_stock(ctx.db, body.code))

    @router.get("/api/events/{code}", response_model=EventOut, responses=error_responses(404))
    async def get_event(code: str) -> EventOut:
        """An event's stock: capacity = available + held (pending orders) + sold."""
        return event_out(await events.get_event_stock(ctx.db, code))

    return router
