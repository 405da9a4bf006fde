"""Handlers of the backend's CLI commands: migrate, reaper, event create / rotate-key, keys export / list."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import tempfile
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

import psycopg
from psycopg_pool import AsyncConnectionPool

from backend import db, events, money
from backend import reaper as reaper_module
from backend.errors import ConfigError, InvalidInput
from backend.settings import Settings, load_settings
from ticketcode import derive_verify_key, dump_key_file

T = TypeVar("T")


def _settings(args: argparse.Namespace, *, require: tuple[str, ...] = ()) -> Settings:
    return load_settings(database_url=getattr(args, "database_url", None), require=require)


def _with_pool(settings: Settings, work: Callable[[AsyncConnectionPool], Awaitable[T]]) -> T:
    """Run ``work`` with an opened small pool on the configured (or embedded) database."""
    url = db.resolve_database_url(settings)

    async def main() -> T:
        async with db.database_errors():
            # One plain connection first: an unreachable server gives its own clear error at once,
            # not a pool retrying in the background until it times out.
            probe = await psycopg.AsyncConnection.connect(
                url, connect_timeout=10, **db.connection_options(pooler=settings.database_pooler)
            )
            await probe.close()
            pool = db.make_pool(url, min_size=1, max_size=2, timeout=10.0, pooler=settings.database_pooler)
            await pool.open(wait=True, timeout=10.0)
        try:
            return await work(pool)
        finally:
            await pool.close()

    return asyncio.run(main())


def migrate(args: argparse.Namespace) -> int:
    """``ticketgate migrate``: apply the migrations the database lacks."""
    settings = _settings(args)
    url = db.resolve_database_url(settings)
    applied = asyncio.run(db.migrate(url, pooler=settings.database_pooler))
    if applied:
        print(f"applied {len(applied)} migration(s): {', '.join(applied)}")
    else:
        print(f"the database is up to date ({len(db.migration_files())} migration(s) applied before)")
    return 0


def reaper(args: argparse.Namespace) -> int:
    """``ticketgate reaper [--once]``: expire overdue pending orders, once or every interval until Ctrl-C."""
    settings = _settings(args)
    if args.once:
        count = _with_pool(settings, reaper_module.reap_all)
        print(f"expired {count} order(s)")
        return 0

    async def loop(pool: AsyncConnectionPool) -> None:
        stop = asyncio.Event()
        running = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            # Event loops without signal support (Windows, or not the main thread) raise these; Ctrl-C
            # then still ends the loop through KeyboardInterrupt.
            with suppress(NotImplementedError, RuntimeError):
                running.add_signal_handler(signum, stop.set)
        await reaper_module.run_reaper(pool, interval_seconds=settings.reaper_interval_seconds, stop=stop)

    print(
        f"reaper: expiring orders past their hold every {settings.reaper_interval_seconds:g} s "
        "(Ctrl-C to stop)",
        file=sys.stderr,
    )
    _with_pool(settings, loop)
    return 0


def event_create(args: argparse.Namespace) -> int:
    """``ticketgate event create``: create an event with its whole capacity on sale."""
    settings = _settings(args)
    # Checked before the database is reached: a typo is refused at once, not after an embedded
    # PostgreSQL has started.
    new = events.check_new_event(
        code=args.code,
        name=args.name,
        capacity=args.capacity,
        price_cents=args.price_cents,
        currency=args.currency,
        share_holders=args.share_holders,
        signing=args.signing,
    )

    async def create(pool: AsyncConnectionPool) -> events.Event:
        return await events.insert_event(pool, new, actor="cli")

    event = _with_pool(settings, create)
    price = money.amount(event.price_cents, event.currency) if event.price_cents else "free"
    print(
        f"created event {event.code} ({event.name}): {event.capacity} tickets, {price}, "
        f"{event.signing} signing, key version {event.key_version}"
        + ("; holders shared with gates" if event.share_holders else "")
    )
    return 0


def event_rotate_key(args: argparse.Namespace) -> int:
    """``ticketgate event rotate-key CODE [--reissue]``: a new key version (and new codes for all)."""
    from backend import key_rotation

    settings = _settings(args, require=("master_secret",))
    rotation = _with_pool(
        settings,
        lambda pool: key_rotation.rotate_key(
            pool, args.code, master_secret=settings.master_secret, reissue=args.reissue
        ),
    )
    print(
        f"event {rotation.event}: key version {rotation.new_version} is current ({rotation.scheme});"
        " tickets sold from now on use it, gates learn it on their next sync"
    )
    if args.reissue:
        last = rotation.retired_below - 1
        retired = "version v1 is" if last == 1 else f"versions v1 to v{last} are"
        print(
            f"re-signed {rotation.reissued} valid ticket(s) with v{rotation.new_version} (buyers see the new"
            f" codes on their order); {retired} retired: after their next sync gates answer their codes"
            f' REVOKED, "{key_rotation.SUPERSEDED_REASON}"'
        )
    else:
        print(
            f"codes signed with v{rotation.old_version} and older stay valid; to retire them, re-sign"
            f" every ticket: ticketgate event rotate-key {rotation.event} --reissue"
        )
    return 0


def keys_list(args: argparse.Namespace) -> int:
    """``ticketgate keys list --backend --event CODE``: the event's key versions on the backend."""
    from backend import key_rotation

    if not args.event:
        raise InvalidInput("keys list --backend needs --event CODE")
    settings = _settings(args, require=("master_secret",))
    versions = _with_pool(
        settings,
        lambda pool: key_rotation.list_versions(pool, args.event, master_secret=settings.master_secret),
    )
    print(f"{'EVENT':<12}  {'VERSION':>7}  {'SCHEME':<7}  {'STATE':<8}  {'TICKETS':>8}  FINGERPRINT")
    event = args.event.strip().upper()
    for v in versions:
        state = "current" if v.current else ("retired" if v.retired else "valid")
        print(
            f"{event:<12}  {'v' + str(v.version):>7}  {v.scheme:<7}  {state:<8}  {v.valid_tickets:>8}"
            f"  {v.fingerprint}"
        )
    return 0


def keys_export(args: argparse.Namespace) -> int:
    """``ticketgate keys export --event CODE``: write the event's key file for a gate laptop."""
    settings = _settings(args, require=("master_secret",))
    event = _with_pool(settings, lambda pool: events.get_event(pool, args.event))
    version = event.key_version if args.version is None else args.version
    if not 1 <= version <= event.key_version:
        raise InvalidInput(f"event {event.code} has key version(s) 1 to {event.key_version}, not {version}")
    # An Ed25519 event's file holds the public key only (it says so): a gate never needs more.
    key = derive_verify_key(settings.master_secret, event.code, version, scheme=event.signing)
    if version < event.retired_below:
        key = replace(key, retired=True)
    text = dump_key_file(key)
    if not args.output or args.output == "-":
        sys.stdout.write(text)
        return 0
    path = Path(args.output)
    try:
        _write_private_file(path, text)
    except OSError as exc:
        raise ConfigError(f"cannot write the key file {path}: {exc.strerror or exc}") from None
    what = "public key (no secret: it cannot issue tickets)" if not key.can_issue else "secret key"
    print(
        f"wrote the {what} of event {key.event} version {key.version} to {path} "
        f"(fingerprint {key.fingerprint}); import it on the gate with: ticketgate keys import {path}",
        file=sys.stderr,
    )
    return 0


def _write_private_file(path: Path, text: str | bytes) -> None:
    """Write ``text`` to ``path`` with mode 0600 from the first byte (a key lets anyone forge tickets
    for the event, a ticket image lets anyone in): under a private temporary name beside it, then
    renamed over it. A symlink at ``path`` is replaced, never followed (it could point at a file others
    read), and an existing readable file is never truncated and refilled in place."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    fd, temporary = tempfile.mkstemp(prefix=".private-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
