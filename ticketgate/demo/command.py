"""``ticketgate demo``: the whole system on this machine, in a throwaway folder, told as it happens.

``--gate-only`` is the quick gate demo (scanner/demo.py); ``--headless`` tells the story without a
terminal and exits 0 only if every check held; by default Gate B's part plays in the gate app.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import tempfile
from pathlib import Path

from scanner.verdicts import ScanResult
from ticketcode.display import readable
from ticketgate.demo import checks
from ticketgate.demo.narration import PrintedNarration
from ticketgate.demo.sale import Crowd
from ticketgate.demo.story import GATE_B, Stage, finish, gate_b_headless, set_the_stage
from ticketgate.demo.system import DemoError, running_system

EXIT_CHECKS_FAILED = 1


def demo(args: argparse.Namespace) -> int:
    if args.gate_only:
        from scanner.demo import demo as gate_only

        return gate_only(args)
    crowd = Crowd(buyers=args.buyers, capacity=args.capacity)
    problem = crowd.problem() or (
        None if 1 <= args.hold_seconds <= 600 else f"--hold-seconds must be 1 to 600, not {args.hold_seconds}"
    )
    if problem:
        print(f"ticketgate: error: {readable(str(problem))}", file=sys.stderr)
        return 2
    try:
        fresh = not args.home
        folder = Path(tempfile.mkdtemp(prefix="ticketgate-demo-")) if fresh else Path(args.home).expanduser()
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        where = args.home or tempfile.gettempdir()
        print(
            f"ticketgate: error: cannot make the demo's folder {readable(str(where))}: "
            f"{readable(str(exc.strerror or exc))}",
            file=sys.stderr,
        )
        return 2
    if not args.headless and not (sys.stdin.isatty() and sys.stdout.isatty()):
        # The gate app needs a terminal; piped or in CI, the story is told in print.
        print("ticketgate: no terminal for the gate app: telling the story headless", file=sys.stderr)
        args.headless = True
    if not args.verbose:
        # Every request would be a log line (httpx logs each at INFO): the story says what matters.
        for noisy in ("httpx", "httpcore"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    narrator = PrintedNarration()
    narrator.say(f"the demo's data folder is {folder}")
    code = 2
    # A closed terminal or a `kill` stops the demo like Ctrl-C does: the finally blocks below then
    # stop the server and PostgreSQL instead of leaving them running.
    stops = (signal.SIGTERM, signal.SIGHUP)
    previous = {sig: signal.signal(sig, signal.default_int_handler) for sig in stops}
    try:
        code = _run(args, crowd, folder, narrator)
    except DemoError as exc:
        print(f"ticketgate: error: {readable(str(exc))}", file=sys.stderr)
    except KeyboardInterrupt:
        print("ticketgate: the demo was interrupted; everything it started is stopped", file=sys.stderr)
        code = 130
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        print(
            f"\nNothing is left running. The demo's data is in {folder} (server.log, gate folders, database)."
        )
        print(f"Remove it with:  rm -rf {folder}")
    return code


def _run(args: argparse.Namespace, crowd: Crowd, folder: Path, narrator: PrintedNarration) -> int:
    database_url = args.database_url or os.environ.get("TICKETGATE_DATABASE_URL", "").strip() or None
    with running_system(
        folder, narrator=narrator, hold_seconds=args.hold_seconds, database_url=database_url
    ) as system:
        stage = set_the_stage(system, crowd, narrator)
        play_gate_b = gate_b_headless if args.headless else _gate_b_in_the_app
        results = play_gate_b(stage, narrator)
        played = finish(stage, results, narrator)
        held = checks.report(checks.run_checks(system.database_url, stage, played), narrator)
    return 0 if held else EXIT_CHECKS_FAILED


def _gate_b_in_the_app(stage: Stage, narrator: PrintedNarration) -> list[ScanResult]:
    from ticketgate.demo.gate_app import run_gate_app

    if sys.stdin.isatty() and not os.environ.get("TICKETGATE_DEMO_NO_WAIT"):
        # The gate app takes the whole terminal: first let the sale's story be read.
        try:
            input(f"\nPress Enter to open the gate app as {GATE_B}... ")
        except EOFError:
            pass
    results: list[ScanResult] = run_gate_app(stage, narrator)
    return results
