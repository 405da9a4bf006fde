"""``/healthz`` (the process answers) and ``/readyz`` (it can serve: database, migrations, reaper)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from backend.api.context import ApiContext
from backend.health import readiness, reaper_lag_threshold


def health_routes(ctx: ApiContext) -> APIRouter:
    router = APIRouter(tags=["operations"])
    lag_threshold = reaper_lag_threshold(ctx.settings.reaper_interval_seconds)

    @router.get("/healthz")
    async def healthz() -> JSONResponse:
        """200 ``{"status": "ok"}`` while the process serves; touches nothing else (a liveness probe)."""
        return JSONResponse({"status": "ok"}, headers={"Cache-Control": "no-store"})

    @router.get("/readyz")
    async def readyz() -> JSONResponse:
        """200 when the database answers within 3 s, every migration is applied and the reaper keeps up
        (the oldest overdue pending order expired less than 2 x reaper interval + 30 s ago); otherwise
        503. Either way ``{"ready", "reasons", "checks"}`` says why."""
        verdict = await readiness(ctx.db, lag_threshold=lag_threshold)
        return JSONResponse(
            verdict.as_json(),
            status_code=200 if verdict.ready else 503,
            headers={"Cache-Control": "no-store"},
        )

    return router
