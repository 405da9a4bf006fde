"""Handler of ``ticketgate monitor``: read the first snapshot, then run the dashboard on it."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from backend import db
from backend.errors import ConfigError
from backend.settings import load_settings
from monitor.app import MonitorApp
from monitor.source import DatabaseSource


def run(args: argparse.Namespace) -> int:
    """``ticketgate monitor --event CODE [--interval SECONDS]``: an unknown event or an unreachable
    database at start is one clear error (exit 2); once running, an outage is a banner and a retry."""
    # Read-only: it needs the database and none of the secrets.
    settings = load_settings(database_url=args.database_url, require=())
    url = db.resolve_database_url(settings)

    # Quitting mid-refresh cancels a query, and psycopg warns that it closed that connection: expected,
    # and a line on stderr would land in the terminal the dashboard paints on. Outages are shown in
    # the dashboard itself.
    logging.getLogger("psycopg").setLevel(logging.ERROR)

    async def main() -> None:
        source = DatabaseSource(url, args.event, pooler=settings.database_pooler)
        try:
            first = await source.fetch()  # an unknown event or no database: one line, first
            if not sys.stdout.isatty():
                # A dashboard redrawn in place means nothing in a file or a pipe (it wrote escape
                # codes there).
                raise ConfigError(
                    "ticketgate monitor draws a live dashboard and needs a terminal; for a script, use "
                    "`ticketgate scans summary --event CODE --json`, `ticketgate orders attention` "
                    "or GET /metrics"
                )
            app = MonitorApp(source.fetch, interval=args.interval, first=first)
            await app.run_async()
        finally:
            await source.close()

    asyncio.run(main())
    return 0
