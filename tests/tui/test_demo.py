"""``ticketgate demo``: the prepared key, tickets and images give the verdicts the demo promises."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from scanner.capture import open_source
from scanner.demo import DEMO_FPS, explanation, prepare_demo
from scanner.errors import CaptureError
from scanner.settings import GateSettings
from scanner.tui.launch import frame_opener, settings_for_run
from scanner.verdicts import Verdict
from tests.tui.gatekit import make_harness, wait_painted

pytestmark = pytest.mark.anyio


async def test_demo_images_played_through_the_gate_app_give_every_promised_verdict(tmp_path: Path) -> None:
    setup = prepare_demo(tmp_path / "demo")
    assert setup.event in explanation(setup)
    harness = make_harness(
        setup.home,
        event=setup.event,
        gate_name="Demo gate",
        # Played by its own clock (1.5 images a second), as fast as it decodes.
        open_frames=lambda: open_source(path=setup.images, fps=DEMO_FPS, realtime=False),
    )
    async with harness.app.run_test(size=(80, 24)):
        results = await wait_painted(harness, len(setup.shown), timeout=60)
        # After the replay, each code the F2 hint offers still gets the verdict the hint promises.
        for payload, label in setup.typeable:
            typed = harness.gate.check(payload, source="manual")
            assert typed.verdict == Verdict(label.split(",")[0]), (payload, label)
    expected = [Verdict(label.split()[0]) for _payload, label in setup.shown]
    assert [r.verdict for r in results] == expected
    assert {r.source for r in results} == {"camera"}


def test_scan_flags_choose_the_frame_source() -> None:
    args = argparse.Namespace(gate=None, event=None, no_sound=False, camera=None, source="/tmp/x.avi")
    settings = settings_for_run(GateSettings(camera="0"), args)
    assert settings.camera is None and settings.source == "/tmp/x.avi"
    with pytest.raises(CaptureError, match="no such video file"):
        frame_opener(settings)()
