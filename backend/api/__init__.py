"""The HTTP API (FastAPI): the app factory, and one router module per resource.

- ``app``: ``create_app(settings)`` (pool, lifespan with the reaper, middleware, error handlers)
- ``errors``: the one error shape and the mapping from backend errors to HTTP statuses
- ``limits``: request body limits
- ``models``: wire models shared by the routers (also the OpenAPI page's schemas)
- ``auth``: the admin bearer token
- ``event_routes``, ``order_routes``, ``payment_routes``: the routes of each resource
"""

from __future__ import annotations

from backend.api.app import create_app

__all__ = ["create_app"]
