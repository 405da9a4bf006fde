"""The live camera view: on with a camera, off over SSH by default, switchable in settings, never in
the verdict's way."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from PIL import Image

from scanner.capture import open_source
from scanner.preview import OUTLINE_BGR, draw, preview_wanted
from scanner.settings import GateSettings
from scanner.tui.widgets.camera_preview import CameraPreview
from scanner.verdicts import Verdict
from tests.gatecams import Conditions, background, gate_frame
from tests.tui.gatekit import EVENT, code, make_harness, make_home, wait_for, wait_painted

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def camera_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A camera's worth of frames (an image-folder source, read-only, shared by this module's tests):
    a little empty scene, then one ticket held up for 4 s at 15 fps. Each test has its own gate
    store, so the same ticket admits in each. Each picture is encoded once and its bytes copied:
    encoding 63 noisy 1280x720 PNGs per test took longer than the tests themselves."""
    folder = tmp_path_factory.mktemp("camera")
    ticket = gate_frame(code(7), Conditions(size=260), seed=7)
    quality = [cv2.IMWRITE_JPEG_QUALITY, 90]  # JPEG: a USB camera's own format, and quick to read
    empty, held = (cv2.imencode(".jpg", frame, quality)[1].tobytes() for frame in (background(1), ticket))
    for index, data in enumerate([empty] * 3 + [held] * 60):
        (folder / f"frame-{index:04d}.jpg").write_bytes(data)
    return folder


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


async def test_preview_shows_the_camera_frame_with_the_code_outlined(
    tmp_path: Path, camera_folder: Path
) -> None:
    harness = make_harness(
        make_home(tmp_path),
        open_frames=lambda: open_source(path=camera_folder, fps=15.0),
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


class HeldUpCamera:
    """A USB camera (the real FrameSource protocol) in front of which the test decides when the
    ticket is held up: until ``hold_up()`` an empty scene twice a second (an idle process, so the
    pilot's clicks are not slowed by decoding), then the ticket at 15 fps."""

    name = "held-up camera"
    live = False  # its pauses are the test's, not a hung driver
    realtime = True

    def __init__(self, empty: np.ndarray, ticket: np.ndarray) -> None:
        self._empty, self._ticket = empty, ticket
        self._held_up = threading.Event()

    def hold_up(self) -> None:
        self._held_up.set()

    def read(self) -> np.ndarray:
        if self._held_up.wait(0.5):
            time.sleep(1 / 15)
            return self._ticket
        return self._empty

    def close(self) -> None:
        pass


async def test_preview_off_in_settings_stops_drawing_and_scans_go_on(tmp_path: Path) -> None:
    camera = HeldUpCamera(background(1), gate_frame(code(8), Conditions(size=260), seed=8))
    drawn: list[float] = []

    def counted(frame: Any, quads: Any) -> Image.Image:
        drawn.append(time.monotonic())
        return draw(frame, quads)

    harness = make_harness(
        make_home(tmp_path),
        open_frames=lambda: camera,
        settings=GateSettings(gate_name="Gate B", event=EVENT, preview=True),
        draw_preview=counted,
    )
    app = harness.app
    async with app.run_test(size=(100, 30)) as pilot:
        preview = app.gate_screen.query_one(CameraPreview)
        assert preview.display
        await wait_for(lambda: bool(drawn), what="the preview drawing the camera's view")
        await pilot.press("f6")
        await pilot.click("#preview")  # the switch
        await pilot.click("#save")
        await wait_for(lambda: not app.preview_on, what="the preview switched off")
        assert not preview.display
        await wait_for(
            lambda: all(w.is_finished for w in app.workers if w.group == "preview"),
            what="the preview's thread to stop",
        )
        drawn_before = len(drawn)
        camera.hold_up()
        await wait_painted(harness, 1)
        assert harness.painted[0].verdict is Verdict.ADMIT
        assert len(drawn) == drawn_before  # nothing drawn any more, and the camera still scans
    assert app.settings.preview is False


async def test_no_preview_without_a_camera(tmp_path: Path) -> None:
    harness = make_harness(
        make_home(tmp_path), settings=GateSettings(gate_name="Gate B", event=EVENT, preview=True)
    )
    async with harness.app.run_test(size=(100, 30)):
        assert not harness.app.preview_on
        assert not harness.app.gate_screen.query_one(CameraPreview).display
        # quit only once the app is up (its figures shown), as staff would: a figures message that
        # lands after the screen is torn down fails the app, a race of quitting at once
        await wait_for(lambda: harness.app.figures is not None, what="the gate's figures")


async def test_a_stuck_preview_never_delays_the_verdict(tmp_path: Path, camera_folder: Path) -> None:
    release = threading.Event()
    drawing: list[float] = []

    def stuck(frame: Any, quads: Any) -> Image.Image:
        drawing.append(time.monotonic())
        release.wait(20)  # a terminal that takes forever to draw pictures
        return draw(frame, quads)

    harness = make_harness(
        make_home(tmp_path),
        open_frames=lambda: open_source(path=camera_folder, fps=15.0),
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
