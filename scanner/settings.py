"""The gate's persisted settings (gate name, event, sound, camera or source): JSON in the data folder.

Written atomically (temporary file, fsync, rename) so a laptop that loses power mid-write keeps the
previous settings rather than half a file.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from scanner.durable import replace_file
from scanner.errors import ScannerError
from scanner.gate import gate_name_problem
from ticketcode.keys import EVENT_CODE_RE

# A settings file is a few hundred bytes: a stray large (or endless, like /dev/zero) file is refused.
_MAX_SETTINGS_BYTES = 64 * 1024


class SettingsError(ScannerError):
    """The settings file exists but cannot be read or written."""

    code = "settings_error"


@dataclass(frozen=True)
class GateSettings:
    """What gate staff set once and expect to find again after a restart."""

    gate_name: str | None = None  # None: the laptop's host name (scanner.gate.default_gate_name)
    event: str | None = None
    sound: bool = True
    camera: str | None = None
    source: str | None = None
    preview: bool | None = None  # the live camera view; None: on, except over SSH

    def merged(self, **overrides: Any) -> GateSettings:
        """These settings with every override that is not None applied."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})


def _from_json(data: Any) -> GateSettings:
    if not isinstance(data, dict):
        raise SettingsError("settings file is not a JSON object")
    known = {f.name for f in fields(GateSettings)}
    values: dict[str, Any] = {}
    for name, value in data.items():
        if name not in known:
            continue  # a newer version's setting: ignore rather than refuse to start a gate
        if name == "sound":
            if not isinstance(value, bool):
                raise SettingsError("setting 'sound' must be true or false")
        elif name == "preview":
            if value is not None and not isinstance(value, bool):
                raise SettingsError("setting 'preview' must be true, false or null")
        elif value is not None and not isinstance(value, str):
            raise SettingsError(f"setting {name!r} must be text")
        _check_value(name, value)
        values[name] = value
    return GateSettings(**values)


def _check_value(name: str, value: Any) -> None:
    """Refuse here what the gate would refuse at start: an edited or damaged file must not keep the
    gate app from starting (the app then runs on defaults and says why)."""
    if value is None:
        return
    problem = gate_name_problem(" ".join(value.split())) if name == "gate_name" else None
    if problem is not None:
        raise SettingsError(f"setting 'gate_name': {problem}")
    if name == "event" and not EVENT_CODE_RE.fullmatch(value.strip().upper()):
        raise SettingsError(f"setting 'event' {value!r} is not an event code (4 to 12 of A-Z and 0-9)")


def load_settings(path: Path) -> GateSettings:
    """The settings stored at ``path``; defaults when there is no file yet.

    Raises SettingsError (with the reason) for a file that exists but is not valid settings.
    """
    try:
        with path.open("rb") as fh:
            data = fh.read(_MAX_SETTINGS_BYTES + 1)
    except FileNotFoundError:
        return GateSettings()
    except OSError as exc:
        raise SettingsError(f"cannot read settings {path}: {exc.strerror or exc}") from None
    if len(data) > _MAX_SETTINGS_BYTES:
        raise SettingsError(f"settings {path} is too large to be a settings file")
    try:
        data = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise SettingsError(f"settings {path} is not UTF-8 text") from None
    except ValueError as exc:
        raise SettingsError(f"settings {path} is not valid JSON: {exc}") from None
    except RecursionError:  # json's answer to brackets nested thousands deep
        raise SettingsError(f"settings {path} is not valid JSON: nested too deeply") from None
    return _from_json(data)


def save_settings(path: Path, settings: GateSettings) -> None:
    """Write ``settings`` to ``path`` atomically; raise SettingsError if the disk refuses."""
    text = json.dumps(asdict(settings), indent=2, sort_keys=True) + "\n"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        replace_file(path, text, prefix=".settings-")
    except OSError as exc:
        raise SettingsError(f"cannot save settings to {path}: {exc.strerror or exc}") from None
