"""The live camera view: on with a camera, off over SSH by default, switchable in settings, never in
the verdict's way."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from scanner.capture import open_source
from scanner.preview import OUTLINE_BGR, draw, preview_wanted
from scanner.settings import GateSettings
from scanner.tui.widgets.camera_preview import CameraPreview
from scanner.verdicts import Verdict
from tests.gatecams import Conditions, background, gate_frame, write_frames
from tests.tui.gatekit import EVENT, code, make_harness, make_home, wait_for, wait_painted

pytestmark = pytest.mark.anyio


def _ticket_folder(tmp_path: Path, serial: int, frames: int = 40) -> Path:
    """A camera's worth of frames: a little empty scene, then the ticket held up."""
    ticket = gate_frame(code(serial), Conditions(size=260), seed=serial)
    return write_frames(tmp_path / "camera", [background(1)] * 3 + [ticket] * frames)[0].parent


def test_preview_is_on_by_default_and_off_by_default_over_ssh() -> None:
    assert preview_wanted(None, {}) is True
    assert preview_wanted(None, {"SSH_CONNECTION": "10.0.0.2 5022 10.0.0.1 22"}) is False
    assert preview_wanted(None, {"SSH_TTY": "/dev/pts/3"}) is False
    assert preview_wanted(True, {"SSH_CONNECTION": "x"}) is True  # staff asked for it
    assert preview_wanted(False, {}) is False


def test_drawn_picture_outlines_the_code_where_the_camera_saw_it() -> None:
    frame = np.full((720, 1280, 3), 128, np.uint8)
    quad = ((400.0, 200.0), (700.0, 200.0), (700.0, 500.0), (400.0, 500.0))
    picture = np.asarray(draw(frame, [quad], width=192))
    assert picture.shape == (108, 192, 3)
    green = np.all(picture == OUTLINE_BGR[::-1], axis=2)
    _ys, xs = np.nonzero(green)
    assert 55 <= xs.min() <= 65 and 100 <= xs.max() <= 110  # 400..700 px at 0.15 scale
    assert not green[54, 90]  # inside the outline: the frame itself


async def test_preview_shows_the_camera_frame_with_the_code_outlined(tmp_path: Path) -> None:
    folder = _ticket_folder(tmp_path, 7)
    harness = make_harness(
        make_home(tmp_path),
        open_frames=lambda: open_source(path=folder, fps=15.0),
        settings=GateSettings(gate_name="Gate B", event=EVENT, preview=True),
    )
    app = harness.app
    async with app.run_test(size=(100, 30)):
        await wait_painted(harness, 1)
        assert harness.painted[0].verdict is Verdict.ADMIT
        preview = app.gate_screen.query_one(CameraPreview)
        assert preview.display
        caption = preview.query_one("#preview-caption")
        await wait_for(lambda: "code in view" in str(caption.render()), what="the outlined code in view")
        picture = preview.query_one("#preview-image").image  # type: ignore[attr-defined]
        assert isinstance(picture, Image.Image)
        assert np.all(np.asarray(picture) == OUTLINE_BGR[::-1], axis=2).any()


async def test_preview_off_in_settings_hides_it_and_scans_go_on(tmp_path: Path) -> None:
    folder = _ticket_folder(tmp_path, 8, frames=60)
    harness = make_harness(
        make_home(tmp_path),
        open_frames=lambda: open_source(path=folder, fps=15.0),
        settings=GateSettings(gate_name="Gate B", event=EVENT, preview=True),
    )
    app = harness.app
    async with app.run_test(size=(100, 30)) as pilot:
        preview = app.gate_screen.query_one(CameraPreview)
        assert preview.display
        await pilot.press("f6")
        await pilot.click("#preview")  # the switch
        await pilot.click("#save")
        await wait_for(lambda: not app.preview_on, what="the preview switched off")
        assert not preview.display
        await wait_painted(harness, 1)
        assert harness.painted[0].verdict is Verdict.ADMIT
    assert app.settings.preview is False


async def test_no_preview_without_a_camera(tmp_path: Path) -> None:
    harness = make_harness(
        make_home(tmp_path), settings=GateSettings(gate_name="Gate B", event=EVENT, preview=True)
    )
    async with harness.app.run_test(size=(100, 30)):
        assert not harness.app.preview_on
        assert not harness.app.gate_screen.query_one(CameraPreview).display


async def test_a_stuck_preview_never_delays_the_verdict(tmp_path: Path) -> None:
    folder = _ticket_folder(tmp_path, 9)
    release = threading.Event()
    drawing: list[float] = []

    def stuck(frame: Any, quads: Any) -> Image.Image:
        drawing.append(time.monotonic())
        release.wait(20)  # a terminal that takes forever to draw pictures
        return draw(frame, quads)

    harness = make_harness(
        make_home(tmp_path),
        open_frames=lambda: open_source(path=folder, fps=15.0),
        settings=GateSettings(gate_name="Gate B", event=EVENT, preview=True),
        draw_preview=stuck,
    )
    try:
        async with harness.app.run_test(size=(100, 30)):
            await wait_for(lambda: bool(drawing), what="the preview to start drawing")
            started = time.monotonic()
            await wait_painted(harness, 1, timeout=5)
            assert harness.painted[0].verdict is Verdict.ADMIT
            # the ticket appears at 0.2 s of a 15 fps folder; the stuck preview costs it nothing
            assert time.monotonic() - started < 3.0
            release.set()
    finally:
        release.set()
