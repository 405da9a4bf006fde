"""The whole-system demo's gate app: the demo camera's shots reach the real verdict panel, and the
narration panel says who held up what and whether each verdict is the one the design gives."""

from __future__ import annotations

from pathlib import Path

import pytest

from scanner.gate import Gate
from scanner.keystore import KeyStore
from scanner.paths import keys_dir, store_path
from scanner.settings import GateSettings
from scanner.store import Store
from scanner.tui.widgets.verdict_panel import VerdictPanel
from scanner.verdicts import KnownTicket
from tests.tui.gatekit import EVENT, OTHER_KEY, code, forged, make_home, screen_text, wait_for
from ticketgate.demo.camera import Shot
from ticketgate.demo.gate_app import DemoGateApp

pytestmark = pytest.mark.anyio


async def test_the_demo_gate_app_narrates_each_shot_and_its_verdict(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    store = Store.open(store_path(home))
    store.upsert_tickets(KnownTicket(event=EVENT, serial=n, holder=None) for n in (1, 2, 3))
    store.revoke(EVENT, 3, reason="refunded")
    keys = KeyStore(keys_dir(home))
    # Gate A let ticket 1 in earlier (what Gate B learns by sync at the real demo).
    assert Gate(store=store, keys=keys, event=EVENT, gate_name="Gate A").check(code(1)).admitted
    gate = Gate(store=store, keys=keys, event=EVENT, gate_name="Gate B")
    shots = (
        Shot(code(2), "Ada", "ADMIT", "a paid ticket"),
        Shot(code(1), "Grace", "ALREADY_USED", "the ticket Gate A let in"),
        Shot(forged(2), "a forger", "INVALID", "a forged copy"),
        Shot(code(3), "Alan", "REVOKED", "a refunded ticket"),
        Shot(code(1, OTHER_KEY), "a lost guest", "WRONG_EVENT", "another event's ticket"),
    )
    app = DemoGateApp(
        shots=shots,
        intro=("Gate B is about to see five people.",),
        fps=4.0,  # each code in view for half a second: read even on a busy machine
        start_delay_s=0.0,
        gate=gate,
        home=home,
        settings=GateSettings(preview=False),
        verdict_seconds=0,
    )
    try:
        async with app.run_test(size=(110, 40)) as pilot:
            await wait_for(lambda: len(app.camera_results) == len(shots), timeout=30, what="five verdicts")
            said = lambda: " ".join(line for _at, line in app.said)  # noqa: E731
            await wait_for(lambda: "That was everyone" in said(), timeout=10, what="the closing words")
            # Painted a moment later than said: on a busy machine the next refresh may still be due.
            await wait_for(
                lambda: "That was everyone" in screen_text(app), timeout=10, what="the words on screen"
            )
            await pilot.pause()
            on_screen = screen_text(app)
            panel_word = app.gate_screen.query_one(VerdictPanel).view.word
    finally:
        store.close()
    assert [r.verdict.value for r in app.camera_results] == [s.expected for s in shots]
    shown = [line for _at, line in app.said]
    assert shown[0] == "Gate B is about to see five people."
    # The panel shows the latest lines, wrapped: the last verdict and the closing words are on screen.
    assert "Gate B says WRONG EVENT" in on_screen and "That was everyone" in on_screen
    assert "Ada holds up " + code(2) + " (a paid ticket)" in shown
    assert "Gate B says ALREADY USED: " in " ".join(shown) and "at Gate A as designed" in " ".join(shown)
    assert sum(line.endswith("as designed") for line in shown) == len(shots)
    assert panel_word == "WRONG EVENT"  # the gate's own verdict panel painted the last verdict
