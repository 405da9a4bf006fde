"""The ``ticketgate`` argument tree; each program registers its own subcommands and runs them lazily.

Nothing heavy is imported here: ``ticketgate verify`` must not pay for the web framework, and the
scanner's commands must work on a laptop where the database driver is never touched.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import io
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from backend import cli as backend_cli
from backend.errors import BackendError
from backend.logs import configure_logging
from monitor import cli as monitor_cli
from scanner import cli as scanner_cli
from scanner.errors import ScannerError
from ticketcode.display import readable
from ticketcode.errors import TicketCodeError
from ticketgate.demo import cli as demo_cli
from ticketgate.terminal import TerminalSafeStream


class _Commands(argparse._SubParsersAction):  # type: ignore[type-arg]
    """Sub-commands whose own ``--help`` starts with the line the command list shows for them, so
    ``ticketgate verify --help`` says what ``verify`` does (and its exit codes), not only its usage."""

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        kwargs.setdefault("description", kwargs.get("help"))
        parser: argparse.ArgumentParser = super().add_parser(name, **kwargs)
        return parser


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error's bytes that are not UTF-8 shown as ``\\xff`` like every error,
    and sub-commands described in their own help (sub-parsers are made of this class too)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.register("action", "parsers", _Commands)

    def error(self, message: str) -> NoReturn:
        super().error(readable(message))


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="ticketgate",
        description="Sell tickets without overselling; check them at a gate with no internet.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    parser.add_argument("--version", action="version", version=f"ticketgate {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    keys = commands.add_parser(
        "keys", help="move event keys by hand (export on the backend, import on a gate)"
    )
    key_commands = keys.add_subparsers(dest="keys_command", metavar="KEYS_COMMAND", required=True)
    tickets = commands.add_parser(
        "tickets", help="tickets: draw a buyer's (backend), import known ones (gate laptop)"
    )
    ticket_commands = tickets.add_subparsers(dest="tickets_command", metavar="TICKETS_COMMAND", required=True)
    backend_cli.register(commands, key_commands, ticket_commands)
    scanner_cli.register(commands, key_commands, ticket_commands)
    monitor_cli.register(commands)
    # The demo runs both programs: it belongs to neither.
    demo_cli.register(commands)
    return parser


def _version() -> str:
    try:
        return importlib.metadata.version("ticketgate")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; errors become one clear line on stderr and a non-zero exit, never a traceback."""
    _tolerate_any_encoding()
    stdout, stderr = sys.stdout, sys.stderr
    # Everything a command prints or logs, usage errors included, goes through the terminal-safe
    # streams. The gate app draws through Textual, which writes to the process's own descriptors.
    safe_out, safe_err = TerminalSafeStream(stdout), TerminalSafeStream(stderr)
    sys.stdout, sys.stderr = safe_out, safe_err
    try:
        return _main(argv)
    finally:
        # A command that swapped a stream itself (verify's reader went away: devnull) keeps its own.
        if sys.stdout is safe_out:
            sys.stdout = stdout
        if sys.stderr is safe_err:
            sys.stderr = stderr


def _tolerate_any_encoding() -> None:
    """Whatever the locale: bytes on standard input that are not text reach the command as
    surrogate escapes (a scanned or piped line is then INVALID, not a UnicodeDecodeError), and text
    the terminal's encoding cannot show is written as backslash escapes (a Latin-1 terminal showed a
    traceback for a QR code holding Chinese text)."""
    for stream, errors in (
        (sys.stdin, "surrogateescape"),
        (sys.stdout, "backslashreplace"),
        (sys.stderr, "backslashreplace"),
    ):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors=errors)


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        # Text, or JSON lines (TICKETGATE_LOG_FORMAT=json); a format that does not exist is one line.
        configure_logging(level=_log_level(args))
        result = _run(args)
    except (BackendError, ScannerError, TicketCodeError) as exc:
        print(f"ticketgate: error: {readable(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return result


# Programs that run until stopped log what they do; a one-shot command prints its own result and logs
# only warnings and errors, so its output is not lost among log lines (-v: everything, for any).
SERVICES = frozenset(
    {
        "backend.server:run",
        "backend.commands:reaper",
        "monitor.command:run",
        "scanner.tui.launch:scan",
        "ticketgate.demo.command:demo",
    }
)


def _log_level(args: argparse.Namespace) -> int:
    if args.verbose or os.environ.get("TICKETGATE_DEBUG"):
        return logging.DEBUG
    return logging.INFO if getattr(args, "handler", None) in SERVICES else logging.WARNING


def _run(args: argparse.Namespace) -> int:
    """Import the command's handler only now, so each command loads just what it uses."""
    if getattr(args, "unavailable", None):
        print(f"ticketgate: {args.unavailable} is not available in this release yet", file=sys.stderr)
        return 2
    module, _, name = args.handler.partition(":")
    handler = getattr(importlib.import_module(module), name)
    result: int = handler(args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
