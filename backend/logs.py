"""How log lines look: text (default) or one JSON object a line (``TICKETGATE_LOG_FORMAT=json``), with
the id of the HTTP request being served, if any (set by ``backend.api.request_ids``)."""

from __future__ import annotations

import json
import logging
import os
from contextvars import ContextVar
from datetime import UTC, datetime

from backend.errors import ConfigError

LOG_FORMAT_VARIABLE = "TICKETGATE_LOG_FORMAT"
LOG_FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# The request being served in this task (None outside requests): the API's middleware sets it.
REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)


def log_format(environ: dict[str, str] | None = None) -> str:
    """``text`` or ``json`` from TICKETGATE_LOG_FORMAT (unset or empty: text); ConfigError otherwise."""
    raw = (os.environ if environ is None else environ).get(LOG_FORMAT_VARIABLE, "")
    chosen = raw.strip().lower() or "text"
    if chosen not in LOG_FORMATS:
        raise ConfigError(f"{LOG_FORMAT_VARIABLE} must be text or json, not {raw!r}")
    return chosen


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message, pid, request_id inside a
    request, exception with its traceback. ASCII only, so a terminal shows it as it is."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        request_id = REQUEST_ID.get()
        if request_id is not None:
            entry["request_id"] = request_id
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=True)


def configure_logging(*, level: int = logging.INFO, environ: dict[str, str] | None = None) -> str:
    """Send log records to standard error in the chosen format and return it (as ``basicConfig``: not
    if the root logger has handlers already, e.g. a test's). ConfigError for a format that does not
    exist, before anything is logged."""
    chosen = log_format(environ)
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if chosen == "json" else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level, handlers=[handler])
    return chosen
