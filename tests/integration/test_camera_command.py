"""``ticketgate camera test`` and the camera flags as a user runs them: real processes, generated clips."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from scanner.capture import CameraControls, parse_control, parse_size
from scanner.errors import CaptureError
from tests.gatecams import Conditions, Shot, write_video
from ticketgate.cli import main


def _run(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TICKETGATE_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "ticketgate", *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_camera_test_reports_size_frame_rate_and_decode_rate_of_a_clip(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clip = write_video(
        tmp_path / "gate.avi", [Shot(None, 0.5), Shot("GATE24-0001-89415704", 1.0, Conditions(size=260))]
    )
    # the command line in this process (its real-process behaviour is checked below): the clip
    # plays in real time either way, and a second interpreter would only add its start-up
    assert main(["camera", "test", "--source", str(clip), "--seconds", "10"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("video gate.avi: 1280x720, ")
    fps = float(lines[0].split(", ")[1].split()[0])
    assert 20 <= fps <= 32  # played at the file's 30 fps
    decoded, frames = (int(n) for n in lines[1].split("in ")[1].split(" frames")[0].split(" of "))
    assert frames == 45 and 25 <= decoded <= 30
    assert "1 different code(s)" in lines[1]


def test_camera_test_without_a_camera_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = _run("camera", "test", "--camera", "/dev/video-none", "--seconds", "1", home=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "ticketgate: error: no camera at /dev/video-none (is it plugged in?)"
    ]
    assert result.stdout == ""


BAD_FLAGS = [
    ("--camera-size", "big", "is not WIDTHxHEIGHT"),
    ("--camera-size", "99999x10", "out of range"),
    ("--camera-size", "100x100", "out of range"),
    ("--exposure", "bright", "--exposure must be a number"),
    ("--focus", "nan", "--focus 'nan' is out of range"),
]


def test_a_bad_camera_flag_is_one_line_and_exit_2_for_both_commands(tmp_path: Path) -> None:
    # as a user meets it: a real process, nothing on stdout, no traceback
    for command, flag, value in [(["camera", "test"], "--camera-size", "big"), (["scan"], "--focus", "nan")]:
        result = _run(*command, flag, value, home=tmp_path)
        assert result.returncode == 2, (command, result.stdout, result.stderr)
        (line,) = result.stderr.strip().splitlines()
        assert line.startswith("ticketgate: error: ")
        assert result.stdout == ""


@pytest.mark.parametrize(("flag", "value", "message"), BAD_FLAGS)
def test_bad_camera_flags_are_one_line_and_exit_2(
    flag: str, value: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # every bad value through the same command line in this process (a process each costs seconds);
    # the flags are checked before anything opens a camera or takes the terminal
    for command in (["camera", "test"], ["scan", "--home", str(tmp_path)]):
        assert main([*command, flag, value]) == 2, command
        out, err = capsys.readouterr()
        (line,) = err.strip().splitlines()
        assert line.startswith("ticketgate: error: ") and message in line
        assert out == ""


def test_camera_flags_parse_into_controls() -> None:
    assert parse_size("1920x1080") == (1920, 1080)
    assert parse_size(" 640 X 480 ") == (640, 480)
    assert parse_control("exposure", "auto") is None
    assert parse_control("exposure", None) is None
    assert parse_control("exposure", "156") == 156.0
    with pytest.raises(CaptureError):
        parse_size("1280x")
    assert CameraControls() == CameraControls(width=1280, height=720, fps=30.0, exposure=None, focus=None)
