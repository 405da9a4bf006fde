"""``ticketgate server``: check settings, find or start the database, migrate it, serve the API (uvicorn)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import multiprocessing
import multiprocessing.connection
import os
import shutil
import signal
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn

from backend.api import create_app
from backend.db import migrate, resolve_database_url
from backend.errors import ConfigError
from backend.http_limits import GuardedHttpToolsProtocol
from backend.logs import configure_logging
from backend.metrics import MULTIPROCESS_VARIABLE
from backend.settings import load_settings

log = logging.getLogger(__name__)

# How the supervising process tells its spawned workers what it resolved; workers read only this
# plus the usual TICKETGATE_* variables.
_WORKER_REAPER_VARIABLE = "TICKETGATE_SERVER_RUN_REAPER"


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted. Missing secrets or a bad option: one clear error, before anything starts."""
    # A hang-up (the terminal closed) before serving starts is a Ctrl-C: the command ends through its
    # exit handlers, which stop an embedded PostgreSQL it started; SIGHUP's default action skips them.
    signal.signal(signal.SIGHUP, signal.default_int_handler)
    settings = load_settings(database_url=args.database_url)
    if args.workers < 1:
        raise ConfigError(f"--workers must be at least 1, not {args.workers}")
    if not 0 < args.port < 65536:
        raise ConfigError(f"--port must be between 1 and 65535, not {args.port}")
    # Bound before the database is touched: "address in use" is one clear error, and nothing is
    # started or migrated for a server that cannot listen.
    probe = _listening_socket(args.host, args.port, shared=args.workers > 1)
    url = resolve_database_url(settings)
    applied = asyncio.run(migrate(url, pooler=settings.database_pooler))
    if applied:
        log.info("applied migrations: %s", ", ".join(applied))
    settings = dataclasses.replace(settings, database_url=url)
    run_reaper = not args.no_reaper
    access_log = bool(getattr(args, "verbose", False))
    log.info(
        "serving on http://%s:%d (docs at /docs), %d worker(s), reaper %s",
        args.host,
        args.port,
        args.workers,
        "on" if run_reaper else "off",
    )
    if args.workers == 1:
        server = uvicorn.Server(
            uvicorn_config(create_app(settings, reaper=run_reaper), access_log=access_log)
        )
        _serve_until_stopped(server, probe)
        return 0
    probe.close()
    # Spawned workers rebuild the app from the environment: pass on what the command line and the
    # embedded database decided. Every worker runs a reaper: reaping is safe concurrently (FOR UPDATE
    # SKIP LOCKED), so no process is special and none takes the reaper down with it.
    os.environ["TICKETGATE_DATABASE_URL"] = url
    os.environ[_WORKER_REAPER_VARIABLE] = "1" if run_reaper else "0"
    with _metrics_folder():
        return _supervise(args.host, args.port, workers=args.workers, access_log=access_log)


@contextlib.contextmanager
def _metrics_folder() -> Iterator[Path]:
    """A fresh folder for prometheus-client's multi-process mode, for the workers this start spawns
    (they inherit the variable and import prometheus-client after it is set); removed at exit. Files
    left by an earlier start would add its counts to this one's, so a folder set by hand is not reused."""
    if os.environ.get(MULTIPROCESS_VARIABLE):
        log.info("%s is set; this server uses a fresh folder of its own instead", MULTIPROCESS_VARIABLE)
    folder = Path(tempfile.mkdtemp(prefix="ticketgate-metrics-"))
    previous = os.environ.get(MULTIPROCESS_VARIABLE)
    os.environ[MULTIPROCESS_VARIABLE] = str(folder)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        if previous is None:
            os.environ.pop(MULTIPROCESS_VARIABLE, None)
        else:
            os.environ[MULTIPROCESS_VARIABLE] = previous


def _listening_socket(host: str, port: int, *, shared: bool) -> socket.socket:
    """A socket bound to host:port; ``shared`` sets SO_REUSEPORT, so each worker process has its own.

    Why not uvicorn's ``workers=N``: its workers share one listening socket, and on this kind of
    machine one worker accepted nearly every keep-alive connection (measured: 387 vs 1 CPU ticks under
    load), so the second CPU idled. With one socket per worker the kernel spreads connections.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if shared:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


def uvicorn_config(
    app: Any,
    *,
    access_log: bool,
    http: type[asyncio.Protocol] = GuardedHttpToolsProtocol,
    log_level: str = "info",
) -> uvicorn.Config:
    """How the server runs ``app``; tests serve with the same configuration."""
    return uvicorn.Config(
        app,
        # uvloop + httptools: the checkout path is mostly event-loop and HTTP-parsing overhead. The
        # httptools protocol with the limits of backend.http_limits (head size and time).
        loop="uvloop",
        http=http,
        access_log=access_log,
        log_level=log_level,
        # uvicorn's own logging set-up would print in another format through its own handlers; its
        # loggers go through the one the command line configured.
        log_config=None,
        server_header=False,
        backlog=2048,
    )


def _supervise(host: str, port: int, *, workers: int, access_log: bool) -> int:
    """Run ``workers`` server processes until interrupted; if one dies, stop the rest and fail."""
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=_worker_main, args=(host, port, access_log), name=f"ticketgate-worker-{i}")
        for i in range(workers)
    ]
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for process in processes:
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, signal.SIGTERM)

    # SIGHUP too: closing the terminal the server runs in stops it like Ctrl+C (its default action
    # would end the process at once, leaving the embedded PostgreSQL running).
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        for process in processes:
            if stopping:  # a signal came while workers were being started: start no more
                break
            process.start()
        processes = [p for p in processes if p.pid is not None]  # the ones started
        if stopping:
            stop(signal.SIGTERM, None)  # the ones started after the signal have not had it yet
        else:
            multiprocessing.connection.wait([p.sentinel for p in processes])
        if not stopping:
            died = [p for p in processes if not p.is_alive()]
            log.error("worker %s exited with %s; stopping the others", died[0].name, died[0].exitcode)
            stop(signal.SIGTERM, None)
            stopping = False
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
                process.join()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    # A worker still starting when the signal came has no handler yet and ends by the signal itself
    # (a hang-up reaches every process of the terminal): that is a stop too, not a failure.
    stopped_by = {0, -signal.SIGINT, -signal.SIGTERM, -signal.SIGHUP}
    clean = stopping and all(p.exitcode in stopped_by for p in processes)
    return 0 if clean else 1


def _worker_main(host: str, port: int, access_log: bool) -> None:
    """One worker process: its own listening socket (SO_REUSEPORT), app, pool and reaper."""
    configure_logging()
    settings = load_settings()
    app = create_app(settings, reaper=os.environ.get(_WORKER_REAPER_VARIABLE, "1") != "0")
    server = uvicorn.Server(uvicorn_config(app, access_log=access_log))
    _serve_until_stopped(server, _listening_socket(host, port, shared=True))


def _serve_until_stopped(server: uvicorn.Server, sock: socket.socket) -> None:
    """Serve on ``sock`` until SIGINT/SIGTERM/SIGHUP; a signal is the normal way to stop, not an error."""
    # uvicorn re-raises the stop signal once it has shut down; as KeyboardInterrupt it ends the
    # process with status 0 instead of "killed by SIGTERM".
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    # uvicorn handles only SIGINT and SIGTERM. A hang-up (the terminal closed) would otherwise end the
    # process at once, with no shutdown and no exit handlers, so the embedded PostgreSQL stayed up.
    signal.signal(signal.SIGHUP, lambda _signum, frame: server.handle_exit(signal.SIGTERM, frame))
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
