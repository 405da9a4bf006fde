"""The gate app for an Ed25519 event: QR codes verify with the public key alone; typing takes
EVENT-SERIAL, says on screen that only tickets known from sync are admitted, and keeps to that."""

from __future__ import annotations

from pathlib import Path

import pytest

from scanner.keystore import KeyStore
from scanner.paths import keys_dir
from scanner.tui.screens.manual_entry import ManualEntryScreen
from scanner.verdicts import NOT_KNOWN_REASON, KnownTicket, Verdict
from tests.tui.gatekit import make_harness, screen_text, wait_for, wait_painted
from ticketcode import derive_signing_key, issue_code

pytestmark = pytest.mark.anyio

EVENT = "RTEV1"
SIGNER = derive_signing_key(b"ticketgate tui ed25519 master secret", EVENT, 1, scheme="ed25519")


def _home(tmp_path: Path) -> Path:
    home = tmp_path / "gate-home"
    home.mkdir()
    KeyStore(keys_dir(home)).add(SIGNER.public_key)  # type: ignore[union-attr]
    return home


async def test_typed_entry_of_an_ed25519_event_asks_for_event_serial_and_admits_only_known_tickets(
    tmp_path: Path,
) -> None:
    harness = make_harness(_home(tmp_path), event=EVENT)
    harness.gate.store.upsert_tickets([KnownTicket(event=EVENT, serial=42)])  # as a sync would
    async with harness.app.run_test(size=(100, 30)) as pilot:
        await pilot.press(*issue_code(SIGNER, 7))  # a handheld scanner types the whole code
        await pilot.press("enter")
        [scanned] = await wait_painted(harness, 1)
        assert scanned.verdict is Verdict.ADMIT

        await pilot.press("f2")
        assert isinstance(harness.app.screen, ManualEntryScreen)
        await wait_for(lambda: "EVENT-SERIAL" in screen_text(harness.app), what="the typing hint")
        shown = screen_text(harness.app)
        assert (
            "EVENT-SERIAL" in shown and "too long to type" in shown and "knows from sync is admitted" in shown
        )
        await pilot.press(*"rtev1-042", "enter")
        results = await wait_painted(harness, 2)
        assert (results[1].verdict, results[1].code, results[1].source) == (
            Verdict.ADMIT,
            "RTEV1-042",
            "manual",
        )

        await pilot.press("f2")
        await pilot.press(*"RTEV1-043", "enter")
        results = await wait_painted(harness, 3)
        assert (results[2].verdict, results[2].reason) == (Verdict.INVALID, NOT_KNOWN_REASON)
