"""Routes of a paid order's tickets as images (SVG, PNG, PDF), with the order's access token."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials

from backend import errors, orders
from backend.api.context import ApiContext
from backend.api.models import error_responses
from backend.api.order_routes import order_bearer
from backend.ticket_images import FORMATS, ImageFormat, event_name_of, ticket_faces


def ticket_routes(ctx: ApiContext) -> APIRouter:
    router = APIRouter(tags=["orders"])

    def add(image: ImageFormat) -> None:
        async def tickets_image(
            order_id: UUID,
            credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(order_bearer)],
            token: Annotated[
                str | None, Query(max_length=200, description="the order's access token")
            ] = None,
        ) -> Response:
            order = await orders.get_order(ctx.db, order_id)
            given = credentials.credentials if credentials is not None else token
            if not order.opens_with(given):
                raise errors.Unauthorized(
                    "an order's tickets need its access token: Authorization: Bearer <token> or ?token="
                )
            faces = ticket_faces(order, await event_name_of(ctx.db, order.id))
            # Drawing ten QR codes takes tens of milliseconds: off the event loop, so checkouts go on.
            body = await asyncio.to_thread(image.draw, faces)
            return Response(
                body,
                media_type=image.media_type,
                headers={
                    # Whoever holds the image holds the tickets: no shared cache may keep it.
                    "Cache-Control": "private, no-store",
                    "Content-Disposition": f'inline; filename="tickets-{order.id}.{image.suffix}"',
                },
            )

        tickets_image.__doc__ = (
            f"The order's valid tickets as {image.suffix.upper()}: one QR code per ticket with its code "
            "under it and the event's name. Needs the order's access token (``Authorization: Bearer "
            "<token>`` or ``?token=``): 401 without it or with another. 409 ``no_tickets`` for an "
            "order that has none (not paid yet, expired, refunded), saying why."
        )
        content: dict[str, Any] = {image.media_type: {}}
        router.add_api_route(
            f"/api/orders/{{order_id}}/tickets.{image.suffix}",
            tickets_image,
            methods=["GET"],
            name=f"tickets_{image.suffix}",
            response_class=Response,
            responses={200: {"content": content}, **error_responses(401, 404, 409, 422)},
        )

    for image in FORMATS.values():
        add(image)
    return router
