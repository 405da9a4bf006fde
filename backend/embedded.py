"""An embedded PostgreSQL in the backend's data folder, for a newcomer who has no database installed."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

from backend.errors import ConfigError, DatabaseUnavailable

log = logging.getLogger(__name__)

# Handles are kept for the life of the process: pgserver stops the server when the last one goes.
_servers: dict[Path, Any] = {}


def start_embedded_postgres(data_dir: Path) -> str:
    """Start (or reuse) a PostgreSQL server whose files live in ``data_dir/pgdata``; return its URL."""
    pgdata = (Path(data_dir) / "pgdata").resolve()
    if pgdata in _servers:
        url: str = _servers[pgdata].get_uri()
        return url
    try:
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (root, containers); its fallback is fine.
            warnings.simplefilter("ignore")
            from pgserver.postgres_server import get_server
    except ImportError as exc:
        raise ConfigError(
            "TICKETGATE_DATABASE_URL is not set and the embedded PostgreSQL (package pgserver) "
            f"is not installed: {exc}"
        ) from exc
    try:
        pgdata.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the data folder {pgdata.parent}: {exc}") from exc
    # Said once, as a warning, when the database is made: a production setting without its URL
    # shows at once; later commands on the same folder stay quiet (-v shows it each time).
    if (pgdata / "PG_VERSION").exists():
        log.info("no TICKETGATE_DATABASE_URL: using the embedded PostgreSQL in %s", pgdata)
    else:
        log.warning("no TICKETGATE_DATABASE_URL: creating an embedded PostgreSQL in %s", pgdata)
    if not log.isEnabledFor(logging.DEBUG):
        # pgserver logs every pg_ctl call with its full output at INFO; keep that for --verbose.
        logging.getLogger("pgserver").setLevel(logging.WARNING)
    try:
        server = get_server(pgdata, cleanup_mode="stop")
    except Exception as exc:  # pgserver raises assorted subprocess and OS errors; say which and where
        raise DatabaseUnavailable(
            f"could not start the embedded PostgreSQL in {pgdata} ({type(exc).__name__}: {exc}); "
            "set TICKETGATE_DATABASE_URL to use an existing server"
        ) from exc
    _servers[pgdata] = server
    url = server.get_uri()
    return url


def stop_embedded_postgres(data_dir: Path) -> None:
    """Stop the embedded PostgreSQL this process started for ``data_dir`` (nothing if it started none).

    Its files stay; pgserver would also stop it when the process exits, but a command that is done
    with it (``ticketgate demo``) stops it now, so nothing is left running even if the process lives on.
    """
    pgdata = (Path(data_dir) / "pgdata").resolve()
    server = _servers.pop(pgdata, None)
    if server is not None:
        server.cleanup()
