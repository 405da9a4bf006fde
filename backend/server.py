"""``ticketgate server``: check settings, find or start the database, migrate it, serve the API (uvicorn)."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import os

import uvicorn
from fastapi import FastAPI

from backend.api import create_app
from backend.db import migrate, resolve_database_url
from backend.errors import ConfigError
from backend.settings import load_settings

log = logging.getLogger(__name__)

# How the supervising process tells its worker processes what it resolved; workers read only these
# plus the usual TICKETGATE_* variables.
_WORKER_REAPER_VARIABLE = "TICKETGATE_SERVER_RUN_REAPER"


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted. Missing secrets or a bad option: one clear error, before anything starts."""
    settings = load_settings(database_url=args.database_url)
    if args.workers < 1:
        raise ConfigError(f"--workers must be at least 1, not {args.workers}")
    if not 0 < args.port < 65536:
        raise ConfigError(f"--port must be between 1 and 65535, not {args.port}")
    url = resolve_database_url(settings)
    applied = asyncio.run(migrate(url))
    if applied:
        log.info("applied migrations: %s", ", ".join(applied))
    settings = dataclasses.replace(settings, database_url=url)
    run_reaper = not args.no_reaper
    options = {
        "host": args.host,
        "port": args.port,
        # uvloop + httptools: the checkout path is mostly event-loop and HTTP-parsing overhead.
        "loop": "uvloop",
        "http": "httptools",
        "access_log": bool(getattr(args, "verbose", False)),
        "log_level": "info",
        "server_header": False,
    }
    log.info(
        "serving on http://%s:%d (docs at /docs), %d worker(s), reaper %s",
        args.host,
        args.port,
        args.workers,
        "on" if run_reaper else "off",
    )
    if args.workers == 1:
        uvicorn.run(create_app(settings, reaper=run_reaper), **options)
        return 0
    # Worker processes are spawned afresh and rebuild the app from the environment: pass on what the
    # command line and the embedded database decided. Every worker runs a reaper: reaping is safe
    # concurrently (FOR UPDATE SKIP LOCKED), so no single process is special and none can take the
    # reaper down with it.
    os.environ["TICKETGATE_DATABASE_URL"] = url
    os.environ[_WORKER_REAPER_VARIABLE] = "1" if run_reaper else "0"
    uvicorn.run(
        "backend.server:app_from_environment",
        factory=True,
        workers=args.workers,
        **options,
    )
    return 0


def app_from_environment() -> FastAPI:
    """The app of one worker process of ``ticketgate server --workers N`` (a uvicorn factory)."""
    settings = load_settings()
    if not settings.database_url:
        raise ConfigError("TICKETGATE_DATABASE_URL is not set for the worker process")
    return create_app(settings, reaper=os.environ.get(_WORKER_REAPER_VARIABLE, "1") != "0")
