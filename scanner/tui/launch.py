"""``ticketgate scan``: settle settings and the gate, then run the gate app until staff quit."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from scanner.capture import CameraControls, FrameSource, open_source
from scanner.gate import open_gate
from scanner.paths import data_home, settings_path
from scanner.settings import GateSettings, SettingsError, load_settings, save_settings
from scanner.sync.schedule import interval_from_env

DEFAULT_CAMERA = "0"
# Textual paints changes on a frame timer (60 fps by default); at 120 a verdict reaches the screen
# ~7 ms sooner at p50 (bench/gate_latency.py). The timer only runs while something changed.
GATE_FPS = "120"


def settings_for_run(stored: GateSettings, args: argparse.Namespace) -> GateSettings:
    """Stored settings with this run's flags applied; a camera flag replaces a stored file source and
    the other way round."""
    settings = stored.merged(
        gate_name=getattr(args, "gate", None),
        event=getattr(args, "event", None),
        sound=False if getattr(args, "no_sound", False) else None,
    )
    preview = getattr(args, "preview", None)
    if preview is not None:
        settings = replace(settings, preview={"on": True, "off": False}.get(preview))
    camera, source = getattr(args, "camera", None), getattr(args, "source", None)
    if camera is not None:
        settings = replace(settings, camera=camera, source=None)
    elif source is not None:
        settings = replace(settings, camera=None, source=str(Path(source).expanduser().resolve()))
    return settings


def frame_opener(
    settings: GateSettings, *, fps: float = 30.0, controls: CameraControls | None = None
) -> Callable[[], FrameSource]:
    """How the reader opens this gate's frames: the file source if one is set, else the camera
    (camera 0 when none was ever chosen: a gate laptop's USB camera) with ``controls``."""
    if settings.source:
        source = settings.source
        return lambda: open_source(path=source, fps=fps)
    camera = settings.camera or DEFAULT_CAMERA
    return lambda: open_source(camera=camera, controls=controls)


@contextmanager
def logging_off_the_terminal() -> Iterator[None]:
    """While the app owns the terminal, log records go to Textual's log instead of stderr.

    A stream handler (``ticketgate``'s logging set-up) holds the real stderr, which is the terminal
    the app paints on: a warning about a damaged key file would scribble across the verdict panel.
    The app shows such problems itself.
    """
    # Imported here, like the app: the other commands never pay for Textual.
    from textual.logging import TextualHandler

    root = logging.getLogger()
    moved = [h for h in root.handlers if type(h) is logging.StreamHandler]
    replacement = TextualHandler()
    for handler in moved:
        root.removeHandler(handler)
    if moved:
        replacement.setFormatter(moved[0].formatter)
        root.addHandler(replacement)
    try:
        yield
    finally:
        if moved:
            root.removeHandler(replacement)
        for handler in moved:
            root.addHandler(handler)


def scan(args: argparse.Namespace, *, source_fps: float = 30.0) -> int:
    """Run the gate app. Configuration problems raise ScannerError (one clear line, exit 2)."""
    from scanner.camera_test import controls_from

    # bad values: one line, exit 2, before anything else happens (Textual is not even loaded yet)
    controls = controls_from(args)
    # Textual reads TEXTUAL_FPS once, at import: set it first (a value the user set wins).
    os.environ.setdefault("TEXTUAL_FPS", GATE_FPS)
    # Imported here so `ticketgate --help` and the other commands never pay for Textual.
    from scanner.tui.app import GateApp

    home = data_home(getattr(args, "home", None))
    sync_interval_s = interval_from_env()
    problem = None
    try:
        stored = load_settings(settings_path(home))
    except SettingsError as exc:
        stored, problem = GateSettings(), f"{exc}; using default settings"
    settings = settings_for_run(stored, args)
    gate = open_gate(home, event=settings.event, gate_name=settings.gate_name)
    if settings != stored:
        try:
            save_settings(settings_path(home), settings)
        except SettingsError as exc:
            problem = f"{exc} (these settings apply to this run only)"
    app = GateApp(
        gate=gate,
        home=home,
        settings=settings,
        open_frames=frame_opener(settings, fps=source_fps, controls=controls),
        # A file source that cannot be opened will not start working by itself; a camera may.
        retry_forever=not settings.source,
        startup_problem=problem,
        sync_interval_s=sync_interval_s,
    )
    try:
        with logging_off_the_terminal():
            code = app.run()
    finally:
        gate.close()
    if app.return_code not in (None, 0):
        print(f"ticketgate: the gate app stopped with code {app.return_code}", file=sys.stderr)
    return code or 0
