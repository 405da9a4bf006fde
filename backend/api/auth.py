"""The admin bearer token that guards operator routes (``TICKETGATE_ADMIN_TOKEN``)."""

from __future__ import annotations

import hmac

from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from backend.api.errors import error_response

# Declared for the OpenAPI page's "Authorize" button; the token itself is checked in require_admin.
admin_bearer = HTTPBearer(auto_error=False, description="the TICKETGATE_ADMIN_TOKEN")


def require_admin(credentials: HTTPAuthorizationCredentials | None, admin_token: str) -> JSONResponse | None:
    """None when ``credentials`` carry the admin token (compared in constant time), else the 401 answer."""
    token = credentials.credentials if credentials is not None else ""
    if credentials is None or not hmac.compare_digest(
        token.encode("utf-8", "surrogateescape"), admin_token.encode("utf-8")
    ):
        return error_response(
            401,
            "unauthorized",
            "this needs the admin token: Authorization: Bearer <TICKETGATE_ADMIN_TOKEN>",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return None
