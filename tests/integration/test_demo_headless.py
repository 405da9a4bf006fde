"""``ticketgate demo --headless``: the whole story from the command line, as a fresh clone runs it (an
embedded PostgreSQL, a child ``ticketgate server``, two gate folders); it exits 0 only if every check
held, and leaves nothing running."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest

from backend.invariants import InvariantCheck
from ticketgate.demo import checks
from ticketgate.demo.narration import PrintedNarration
from ticketgate.demo.sale import Sale

ROOT = Path(__file__).resolve().parents[2]
CHECKS = (
    "no oversell",
    "capacity = available + held + sold",
    "every paid order has its tickets",
    "every scan uploaded exactly once",
    "cross-gate ALREADY USED seen",
    "the refunded ticket is turned away as revoked",
    "every shot got the design's verdict",
    # The sale's story, step by step: each holds only when the server answered as the story promised.
    "story: the first rush sells every ticket once",
    "story: the first rush's payers all pay",
    "story: the reaper expires the abandoned orders",
    "story: the first late payer is answered late_paid",
    "story: the turned-away buyers buy every returned seat",
    "story: the second late payer is answered refund_due",
    "story: the refund is recorded",
)


def _children_of_the_demo(folder: Path) -> list[str]:
    """Processes running for the demo in ``folder``: PostgreSQL (its data folder on the command line)
    and the server (the folder as its TICKETGATE_HOME)."""
    left = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        try:
            home = process.environ().get("TICKETGATE_HOME")
        except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
            home = None
        if str(folder) in cmdline or home == str(folder):
            left.append(cmdline)
    return left


@pytest.fixture
def folder() -> Iterator[Path]:
    """The demo's folder outside pytest's tmp_path: as root, pgserver runs PostgreSQL as another user,
    and a concurrent pytest session resets /tmp/pytest-of-root to mode 0700, locking that user out."""
    made = Path(tempfile.mkdtemp(prefix="tg_demo_"))
    made.chmod(0o755)
    try:
        yield made / "demo"
    finally:
        shutil.rmtree(made, ignore_errors=True)


def test_the_headless_demo_tells_the_whole_story_and_every_check_holds(folder: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TICKETGATE_")}
    result = subprocess.run(
        [sys.executable, "-m", "ticketgate", "demo", "--headless", "--home", str(folder)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    # The story, 200 buyers for 150 tickets: its counts are held by the story's own checks
    # (asserted below), which fail the run when a step went differently.
    assert "200 buyers checked out at once over HTTP" in out
    assert "forged payment webhook (wrong signing secret)" in out and ": 400, order still pending" in out
    assert "outcome late_paid (tickets still there" in out and "outcome refund_due (sold out now" in out
    assert "outcome refunded, order refunded" in out
    for verdict in ("ADMIT", "ALREADY USED: already used", "INVALID", "REVOKED", "WRONG EVENT"):
        assert f"Gate B says {verdict}" in out, verdict
    assert "at Gate A as designed" in out and "at Gate B as designed" in out
    for name in CHECKS:
        assert f"ok   {name}" in out, name
    assert "every check held" in out
    assert f"rm -rf {folder}" in out
    assert not _children_of_the_demo(folder)
    # The story is told by its narration: no log line of the parts (the embedded database's
    # creation warning among them) breaks into it.
    assert " WARNING " not in out + result.stderr and " INFO " not in out + result.stderr


def test_a_demo_folder_that_cannot_be_made_is_named() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ticketgate", "demo", "--headless", "--home", "/proc/0/demo"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("ticketgate: error: cannot make the demo's folder /proc/0/demo: ")
    assert len(result.stderr.splitlines()) == 1


def test_a_story_step_that_went_differently_is_named_and_fails_the_run() -> None:
    sale = Sale(event="DEMOTEST", capacity=150)
    sale.promise("the first late payer is answered late_paid", "late_paid", "late_paid")
    sale.promise("the second late payer is answered refund_due", "refund_due", "late_paid")
    narration = PrintedNarration(out=open(os.devnull, "w"))  # noqa: SIM115 (closed with the process)
    assert not checks.report(checks.story_checks(sale), narration)
    assert "ok   story: the first late payer is answered late_paid" in narration.lines[1]
    assert any("FAIL story: the second late payer is answered refund_due" in line for line in narration.lines)
    assert any("the story promised refund_due; it went: late_paid" in line for line in narration.lines)
    assert narration.lines[-1].endswith(
        "1 check(s) failed: story: the second late payer is answered refund_due"
    )


@contextmanager
def _demo_during_its_sale(folder: Path) -> Iterator[subprocess.Popen[str]]:
    """``ticketgate demo --headless`` started and read up to its sale, its server and PostgreSQL
    running; killed at the end of the block if it still runs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TICKETGATE_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "ticketgate", "demo", "--headless", "--home", str(folder)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if "organiser created event" in line:
                break
        else:
            raise AssertionError(f"the demo ended before its sale began: {process.communicate()}")
        running = _children_of_the_demo(folder)
        assert any("postgres" in c for c in running) and any(" server " in c for c in running), running
        yield process
    finally:
        if process.poll() is None:
            process.kill()


def test_ctrl_c_during_the_sale_stops_the_server_and_postgresql(folder: Path) -> None:
    with _demo_during_its_sale(folder) as process:
        process.send_signal(signal.SIGINT)
        rest, errors = process.communicate(timeout=60)
    assert process.returncode == 130, errors
    assert "interrupted; everything it started is stopped" in errors
    assert f"rm -rf {folder}" in rest
    assert not _children_of_the_demo(folder)


def test_a_demo_killed_outright_leaves_nothing_running(folder: Path) -> None:
    """kill -9 gives the demo no chance to clean up: its watchdog stops the server and PostgreSQL."""
    with _demo_during_its_sale(folder) as process:
        process.kill()
        process.wait(timeout=10)
    deadline = time.monotonic() + 60
    while _children_of_the_demo(folder) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _children_of_the_demo(folder)


def test_a_failed_check_is_named_and_fails_the_run() -> None:
    narration = PrintedNarration(out=open(os.devnull, "w"))  # noqa: SIM115 (closed with the process)
    found = [
        InvariantCheck("no oversell", ()),
        InvariantCheck("every scan uploaded exactly once", ("Gate B: 1 scan(s) never uploaded",)),
    ]
    held = checks.report(found, narration)
    assert not held
    assert any("FAIL every scan uploaded exactly once" in line for line in narration.lines)
    assert narration.lines[-1].endswith("1 check(s) failed: every scan uploaded exactly once")
