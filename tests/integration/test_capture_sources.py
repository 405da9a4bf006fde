"""Frame sources on real files: video files and camera device paths via cv2.VideoCapture, image folders."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from scanner.capture import open_source
from scanner.decode import decode_frame
from scanner.errors import CaptureError
from tests.gatecams import FPS, HEIGHT, WIDTH, Shot, gate_frame, write_frames, write_video

CODES = ["GATE24-0001-89415704", "GATE24-0002-fc9dbe83", "GATE24-0003-00c0ffee"]


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One second of nothing, one of CODES[0], one of nothing: 90 frames at 30 fps."""
    folder = tmp_path_factory.mktemp("capture")
    return write_video(folder / "gate.avi", [Shot(None, 1.0), Shot(CODES[0], 1.0), Shot(None, 1.0)])


def read_all(source: object) -> list[np.ndarray]:
    frames = []
    while (frame := source.read()) is not None:  # type: ignore[attr-defined]
        frames.append(frame)
    return frames


def test_video_file_plays_every_frame_then_ends(video: Path) -> None:
    source = open_source(path=video, realtime=False)
    try:
        assert source.name == "video gate.avi"
        frames = read_all(source)
        assert len(frames) == 90
        assert frames[0].shape == (HEIGHT, WIDTH, 3)
        assert decode_frame(frames[45]) == [CODES[0].encode()]
        assert decode_frame(frames[10]) == []
        assert source.read() is None  # stays ended
    finally:
        source.close()


def test_video_played_in_realtime_takes_its_own_duration(video: Path) -> None:
    source = open_source(path=video, realtime=True)
    started = time.monotonic()
    frames = read_all(source)
    elapsed = time.monotonic() - started
    source.close()
    assert len(frames) == 90
    assert elapsed >= 89 / FPS - 0.05  # paced at the file's 30 fps, not as fast as it decodes


def test_image_folder_plays_in_name_order_at_the_given_rate(tmp_path: Path) -> None:
    frames = [gate_frame(code, seed=n) for n, code in enumerate(CODES)]
    write_frames(tmp_path / "shots", reversed(frames))  # frame-0000 holds the LAST code
    (tmp_path / "shots" / "notes.txt").write_text("not an image")
    (tmp_path / "shots" / "zz-broken.png").write_bytes(b"broken")
    source = open_source(path=tmp_path / "shots", fps=10, realtime=True)
    assert source.name == f"images {tmp_path / 'shots'}"
    started = time.monotonic()
    read = read_all(source)
    elapsed = time.monotonic() - started
    assert [decode_frame(frame) for frame in read] == [[code.encode()] for code in reversed(CODES)]
    assert elapsed >= 0.2 - 0.02  # three images at 10 per second: two intervals


def test_empty_folder_missing_path_and_non_video_file_are_clear_capture_errors(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(CaptureError, match="holds no images"):
        open_source(path=tmp_path / "empty")
    with pytest.raises(CaptureError, match="no such video file or image folder"):
        open_source(path=tmp_path / "missing.avi")
    text = tmp_path / "notes.avi"
    text.write_text("this is not a video\n" * 100)
    with pytest.raises(CaptureError, match="not a video file OpenCV can play"):
        open_source(path=text)
    image = tmp_path / "ticket.png"
    cv2.imwrite(str(image), gate_frame(CODES[0]))
    with pytest.raises(CaptureError, match="single image"):
        open_source(path=image)


def test_truncated_video_plays_what_it_holds_then_ends_or_is_refused(video: Path, tmp_path: Path) -> None:
    data = video.read_bytes()
    for fraction in (0.5, 0.1, 0.01, 0.0005):
        cut = tmp_path / f"cut-{fraction}.avi"
        cut.write_bytes(data[: int(len(data) * fraction)])
        try:
            source = open_source(path=cut, realtime=False)
        except CaptureError as exc:
            assert "not a video file" in str(exc)
            assert fraction < 0.01  # only a file cut inside its header is refused outright
            continue
        frames = read_all(source)
        source.close()
        assert len(frames) < 90
        if fraction == 0.5:
            assert len(frames) >= 30
            assert [CODES[0].encode()] in [decode_frame(f) for f in frames[30:60:5]]


def test_missing_camera_index_and_device_path_are_clear_capture_errors() -> None:
    with pytest.raises(CaptureError, match="camera 7 cannot be opened"):
        open_source(camera=7)
    with pytest.raises(CaptureError, match="camera 7 cannot be opened"):
        open_source(camera="7")  # as typed on the command line
    with pytest.raises(CaptureError, match="no camera at /dev/video-gate-b"):
        open_source(camera="/dev/video-gate-b")
    with pytest.raises(CaptureError, match="0 or more"):
        open_source(camera=-1)


def test_camera_and_path_together_or_neither_are_refused(video: Path) -> None:
    with pytest.raises(CaptureError, match="either a camera or"):
        open_source()
    with pytest.raises(CaptureError, match="either a camera or"):
        open_source(camera=0, path=video)


def test_camera_code_path_reports_a_stream_that_stops_as_unplugged(video: Path) -> None:
    # No camera on this machine: a device path that is a video file goes through the camera code
    # path (cv2.VideoCapture(path)); when its frames run out, that is what an unplugged camera does.
    source = open_source(camera=str(video))
    assert source.name == f"camera {video}"
    frames = 0
    with pytest.raises(CaptureError, match="stopped delivering frames"):
        while True:
            assert source.read() is not None
            frames += 1
    assert frames == 90
    source.close()
    with pytest.raises(CaptureError, match="closed"):
        source.read()


def test_image_folder_orders_numbers_in_names_as_numbers(tmp_path: Path) -> None:
    folder = tmp_path / "numbered"
    folder.mkdir()
    for number, code in zip((10, 2, 1), CODES, strict=True):
        cv2.imwrite(str(folder / f"shot-{number}.png"), gate_frame(code, seed=number))
    source = open_source(path=folder, realtime=False)
    assert [decode_frame(frame) for frame in read_all(source)] == [
        [CODES[2].encode()],  # shot-1
        [CODES[1].encode()],  # shot-2
        [CODES[0].encode()],  # shot-10
    ]
