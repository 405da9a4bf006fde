"""``create_app(settings)``: the pool, lifespan (with the reaper), middleware, error handlers, routers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import psycopg
import psycopg_pool
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from backend import errors
from backend.api.context import ApiContext
from backend.api.device_routes import device_routes
from backend.api.errors import RETRY_LATER, describe_errors, error_response, status_of
from backend.api.event_routes import event_routes
from backend.api.health_routes import health_routes
from backend.api.limits import (
    MAX_BODY_BYTES,
    MAX_PUSH_BODY_BYTES,
    BodyLimit,
    BodyStalled,
    BodyTooLarge,
)
from backend.api.metrics_routes import metrics_routes
from backend.api.order_routes import order_routes
from backend.api.payment_routes import payment_routes
from backend.api.request_ids import RequestIds
from backend.api.sync_routes import sync_routes
from backend.api.ticket_routes import ticket_routes
from backend.api.unexpected import AnswerUnexpected
from backend.db import make_pool
from backend.metrics import record_pool
from backend.reaper import run_reaper
from backend.settings import Settings
from ticketcode.sync_protocol import AUTH_SCHEME, PUSH_PATH, ProtocolError

log = logging.getLogger("backend.api")

DEFAULT_POOL_MAX_SIZE = 16
POOL_GAUGE_SECONDS = 5.0


def create_app(
    settings: Settings,
    *,
    pool: psycopg_pool.AsyncConnectionPool | None = None,
    reaper: bool = True,
    pool_max_size: int = DEFAULT_POOL_MAX_SIZE,
) -> FastAPI:
    """Build the API around ``settings``.

    Without ``pool`` the app makes its own from ``settings.database_url`` and opens and closes it in
    its lifespan; a pool passed in belongs to the caller (tests). With ``reaper`` the lifespan also
    runs the reaper loop; several processes may each run one, since the reaper takes work with
    ``SKIP LOCKED``.
    """
    if pool is None:
        if not settings.database_url:
            raise errors.ConfigError("no database URL: resolve it (or start the embedded one) first")
        owned_pool: psycopg_pool.AsyncConnectionPool | None = make_pool(
            settings.database_url,
            min_size=min(4, pool_max_size),
            max_size=pool_max_size,
            pooler=settings.database_pooler,
        )
        db = owned_pool
    else:
        owned_pool = None
        db = pool
    assert db is not None

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if owned_pool is not None:
            await owned_pool.open(wait=True, timeout=30)
        stop = asyncio.Event()
        pool_gauges = asyncio.create_task(_record_pool_use(db, stop), name="pool-gauges")
        reaper_task = (
            asyncio.create_task(
                run_reaper(db, interval_seconds=settings.reaper_interval_seconds, stop=stop),
                name="reaper",
            )
            if reaper
            else None
        )
        try:
            yield
        finally:
            stop.set()
            await pool_gauges
            if reaper_task is not None:
                try:
                    await asyncio.wait_for(reaper_task, timeout=10)
                except (TimeoutError, asyncio.CancelledError):
                    log.warning("the reaper did not stop within 10 s; cancelled")
            if owned_pool is not None:
                await owned_pool.close()

    app = FastAPI(
        title="ticketgate",
        summary="Sell tickets without overselling: events, checkout, orders, payment webhooks, gate sync.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.add_middleware(BodyLimit, limit=MAX_BODY_BYTES, paths={PUSH_PATH: MAX_PUSH_BODY_BYTES})
    app.add_middleware(AnswerUnexpected)  # outside the others, so it sees every failure
    # Added last, so outermost: every answer carries its request id, an unexpected 500 too, and the
    # traceback AnswerUnexpected logs names it.
    app.add_middleware(RequestIds)
    _install_error_handlers(app)
    ctx = ApiContext(db=db, settings=settings)
    routers = (
        event_routes,
        order_routes,
        ticket_routes,
        payment_routes,
        device_routes,
        sync_routes,
        health_routes,
        metrics_routes,
    )
    for routes in routers:
        app.include_router(routes(ctx))
    return app


async def _record_pool_use(pool: psycopg_pool.AsyncConnectionPool, stop: asyncio.Event) -> None:
    """This process's pool use into the metrics every few seconds, so that with several workers a
    scrape served by one of them still sees the others' (the scraping one records its own at once)."""
    while not stop.is_set():
        record_pool(pool)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=POOL_GAUGE_SECONDS)


def _client_went_away(request: Request) -> Response:
    """One line for a client that hung up before its request was read whole; no answer can reach it."""
    client = f"{request.client.host}:{request.client.port}" if request.client else "a client"
    log.info("%s went away mid-request (%s %s); nothing was done", client, request.method, request.url.path)
    return Response(status_code=400)


def _install_error_handlers(app: FastAPI) -> None:
    """Answer every failure, expected or not, in the one error shape."""

    @app.exception_handler(errors.BackendError)
    async def backend_error(request: Request, exc: errors.BackendError) -> JSONResponse:
        status = status_of(exc)
        if status >= 500:
            log.warning("%s %s: %s (%s)", request.method, request.url.path, exc, exc.code)
        headers = RETRY_LATER if status == 503 else None
        if isinstance(exc, errors.TooMany):
            headers = {"Retry-After": str(exc.retry_after)}
        if isinstance(exc, errors.DeviceUnauthorized):
            headers = {"WWW-Authenticate": AUTH_SCHEME}
        return error_response(status, exc.code, str(exc), headers=headers)

    @app.exception_handler(ProtocolError)
    async def not_the_protocol(request: Request, exc: ProtocolError) -> JSONResponse:
        # A sync message that does not follow the protocol: the message names the field at fault.
        return error_response(422, "invalid_input", str(exc))

    @app.exception_handler(psycopg.OperationalError)
    @app.exception_handler(psycopg_pool.PoolTimeout)
    async def database_unavailable(request: Request, exc: Exception) -> JSONResponse:
        # Connection lost, server restarting, pool exhausted, serialization failure: all worth a retry.
        log.warning("%s %s: database unavailable: %s", request.method, request.url.path, exc)
        return error_response(
            503, "database_unavailable", "the database is unavailable; retry shortly", headers=RETRY_LATER
        )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, "invalid_input", describe_errors(exc.errors()))

    @app.exception_handler(ClientDisconnect)
    async def client_went_away(request: Request, exc: ClientDisconnect) -> Response:
        return _client_went_away(request)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        # FastAPI turns any failure while reading a JSON body into "400 error parsing the body".
        if isinstance(exc.__cause__, BodyTooLarge):
            return error_response(
                413, "payload_too_large", f"a request body is at most {MAX_BODY_BYTES} bytes"
            )
        if isinstance(exc.__cause__, ClientDisconnect):
            return _client_went_away(request)
        if isinstance(exc.__cause__, BodyStalled):
            raise exc.__cause__  # BodyLimit answers it, as for routes that read their body themselves
        if exc.status_code == 400 and isinstance(exc.__cause__, RecursionError | UnicodeDecodeError):
            # The sender's body, not the server, is at fault: the same 422 as any other bad body.
            why = "nested too deeply" if isinstance(exc.__cause__, RecursionError) else "not UTF-8"
            return error_response(422, "invalid_input", f"the body is not valid JSON ({why})")
        code = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}.get(
            exc.status_code, "http_error"
        )
        return error_response(exc.status_code, code, str(exc.detail), headers=exc.headers)
