"""Sealed key files: the gate app asks for the passphrase at start (a wrong one is told and asked
again), checks no ticket before, and admits with the unsealed key after; the files stay sealed."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from textual.widgets import Input

from scanner.keystore import KeyStore
from scanner.paths import keys_dir
from scanner.tui.screens.passphrase import PassphraseScreen
from scanner.verdicts import Verdict
from tests.tui.gatekit import KEY, code, make_harness, make_home, screen_text, wait_for, wait_painted

pytestmark = pytest.mark.anyio

PASSPHRASE = "correct horse battery"


async def test_the_app_asks_for_the_passphrase_then_admits_with_the_sealed_key(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    assert KeyStore(keys_dir(home)).protect(PASSPHRASE) == 1
    folder = keys_dir(home)
    assert folder.stat().st_mode & 0o777 == 0o700
    for path in folder.iterdir():
        assert path.stat().st_mode & 0o777 == 0o600
        assert base64.b64encode(KEY.key) not in path.read_bytes()

    harness = make_harness(home)
    async with harness.app.run_test(size=(100, 30)) as pilot:
        await wait_for(lambda: isinstance(harness.app.screen, PassphraseScreen), what="the passphrase dialog")
        await wait_for(lambda: "key files are protected" in screen_text(harness.app), what="the dialog drawn")
        # No ticket is checked while locked: the gate refuses rather than answer UNKNOWN_KEY.
        assert harness.gate.keys.locked
        await pilot.press(*"not the passphrase", "enter")
        await wait_for(lambda: "wrong passphrase" in screen_text(harness.app), timeout=20, what="the refusal")
        assert isinstance(harness.app.screen, PassphraseScreen)
        assert harness.app.screen.query_one("#passphrase", Input).value == ""
        await pilot.press(*PASSPHRASE, "enter")
        await wait_for(lambda: harness.app.screen is harness.app.gate_screen, timeout=20, what="unlocked")
        await pilot.press(*code(5), "enter")
        [result] = await wait_painted(harness, 1)
        assert result.verdict is Verdict.ADMIT
    assert all(b'"sealed"' in p.read_bytes() for p in folder.glob("*.v*.json"))
