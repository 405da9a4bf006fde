"""``ticketgate demo --gate-only``: a gate at work, no camera, no backend: throwaway key, ticket images."""

from __future__ import annotations

import argparse
import os
import secrets
import string
import sys
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from scanner.keystore import KeyStore
from scanner.paths import keys_dir, store_path
from scanner.render import save_ticket_png
from scanner.store import Store
from scanner.verdicts import KnownTicket
from ticketcode import derive_event_key, issue_code

DEMO_FPS = 1.5  # images per second: a ticket stays up 2/3 s, then two blank frames
BLANKS_AFTER_EACH = 2  # 1.3 s without a code: longer than the debouncer's "gone", so a repeat counts
HOLDERS = (
    "Ada Lovelace",
    "Grace Hopper",
    "Alan Turing",
    "Katherine Johnson",
    "Edsger Dijkstra",
    "Barbara Liskov",
    "Donald Knuth",
    "Frances Allen",
    "Ken Thompson",
    "Margaret Hamilton",
)


@dataclass(frozen=True)
class DemoSetup:
    """What the demo prepared: the data folder, the event, the folder of images and what each shows."""

    home: Path
    event: str
    images: Path
    shown: tuple[tuple[str, str], ...]  # (what is on the image, the verdict it should get), in order
    typeable: tuple[tuple[str, str], ...]  # codes for F2 that the replay never shows, and their verdict


def _event_code(prefix: str) -> str:
    # A fresh code per run, so a reused --home never mixes this run's tickets with an earlier one's.
    return prefix + "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(4))


def prepare_demo(home: Path) -> DemoSetup:
    """Make a throwaway event key, known tickets (one revoked) and the images to play, under ``home``."""
    event = _event_code("DEMO")
    key = derive_event_key(secrets.token_bytes(32), event)
    KeyStore(keys_dir(home)).add(key)
    other_key = derive_event_key(secrets.token_bytes(32), _event_code("OTHR"))  # never stored here
    with Store.open(store_path(home)) as store:
        store.upsert_tickets(
            KnownTicket(event=event, serial=n, holder=name) for n, name in enumerate(HOLDERS, start=1)
        )
        store.revoke(event, 4, reason="order refunded")
    code = {n: issue_code(key, n) for n in range(1, len(HOLDERS) + 1)}
    # Ticket 005 with one hex digit of its tag changed: well-formed, but the signature does not match.
    forged = code[5][:-1] + ("0" if code[5][-1] != "0" else "1")
    shown = (
        (code[1], "ADMIT"),
        (code[2], "ADMIT"),
        (code[3], "ADMIT"),
        (forged, "INVALID (forged tag)"),
        (code[1], "ALREADY_USED (shown twice)"),
        (code[4], "REVOKED (refunded)"),
        (issue_code(other_key, 1), "WRONG_EVENT"),
        (code[5], "ADMIT"),
        ("https://example.com/menu", "INVALID (not a ticket)"),
        (code[6], "ADMIT"),
        (code[7], "ADMIT"),
    )
    # Codes the replay never shows, so typing one with F2 admits it whenever it is typed; the hint
    # listed replayed codes as "(ADMIT)" and they were ALREADY_USED by then.
    typeable = (
        (code[8], "ADMIT, then ALREADY_USED"),
        (code[9], "ADMIT, then ALREADY_USED"),
        (code[10], "ADMIT, then ALREADY_USED"),
        (code[4], "REVOKED"),
    )
    images = home / "demo-images"
    images.mkdir(parents=True, exist_ok=True)
    for old in images.glob("*.png"):
        old.unlink()
    blank = np.full((480, 640, 3), 255, dtype=np.uint8)
    index = 0
    for payload, _expected in shown:
        save_ticket_png(payload, images / f"{index:03d}-ticket.png", scale=10)
        index += 1
        for _ in range(BLANKS_AFTER_EACH):
            cv2.imwrite(str(images / f"{index:03d}-blank.png"), blank)
            index += 1
    return DemoSetup(home=home, event=event, images=images, shown=shown, typeable=typeable)


def explanation(setup: DemoSetup) -> str:
    """The paragraph printed before the app opens."""
    text = (
        f"This is the gate app that staff run at a venue entrance. The demo made a throwaway key for "
        f"event {setup.event}, {len(HOLDERS)} known ticket holders (ticket 004 refunded) and "
        f"{len(setup.shown)} QR images in {setup.images}, which it plays as if held up to a camera, "
        f"one every {BLANKS_AFTER_EACH / DEMO_FPS + 1 / DEMO_FPS:.0f} s: valid tickets (green ADMIT), "
        "one shown twice (orange ALREADY USED with the first admission's time), a forged code and a "
        "non-ticket QR (red INVALID), a refunded ticket (REVOKED) and another event's ticket "
        "(WRONG EVENT). Every scan is verified offline and recorded on disk before it is shown. Try "
        "F2 to type a code by hand, F3 to switch to exit mode, F4 to look up 'Grace', F1 for help; "
        "Ctrl+Q quits."
    )
    return textwrap.fill(text, width=100, break_on_hyphens=False, break_long_words=False)


def demo(args: argparse.Namespace) -> int:
    """``ticketgate demo [--home DIR]``: prepare, explain, then run the gate app on the images."""
    from scanner.tui.launch import scan

    home = Path(args.home).expanduser() if getattr(args, "home", None) else None
    if home is None:
        home = Path(tempfile.mkdtemp(prefix="ticketgate-demo-"))
    setup = prepare_demo(home)
    print(explanation(setup))
    print()
    print("Codes to type with F2 (the replay never shows them):")
    for payload, expected in setup.typeable:
        print(f"  {payload}   ({expected})")
    if sys.stdin.isatty() and not os.environ.get("TICKETGATE_DEMO_NO_WAIT"):
        try:
            input("\nPress Enter to open the gate app... ")
        except EOFError:
            pass
    scan_args = argparse.Namespace(
        home=str(home),
        source=str(setup.images),
        camera=None,
        event=setup.event,
        gate="Demo gate",
        no_sound=False,
    )
    code = scan(scan_args, source_fps=DEMO_FPS)
    print(f"The demo's data is in {home} (keys, store, settings). Check a code offline with:")
    print(f"  ticketgate verify --home {home} {setup.shown[1][0]}")
    return code
