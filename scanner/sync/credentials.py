"""The device credentials a pairing gives this gate: ``var/device.json`` in the data folder, mode 0600.

The token is the device's password with the backend (the server keeps only its hash): written
atomically and private from the first byte (``scanner.durable.replace_file``), never printed.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from scanner.durable import replace_file
from scanner.errors import NotPaired
from scanner.paths import var_dir
from ticketcode.keys import EVENT_CODE_RE
from ticketcode.sync_protocol import ProtocolError, normalise_server_url

_MAX_FILE_BYTES = 64 * 1024


@dataclass(frozen=True)
class DeviceCredentials:
    """Who this gate is to the backend, and where the backend is."""

    server_url: str
    device_id: str
    device_name: str
    token: str
    event: str
    event_name: str
    paired_at: datetime

    def __repr__(self) -> str:  # the token stays out of logs and tracebacks
        return f"DeviceCredentials({self.device_name!r} of {self.event} at {self.server_url})"


def credentials_path(home: Path) -> Path:
    return var_dir(home) / "device.json"


def save_credentials(home: Path, credentials: DeviceCredentials) -> Path:
    """Write the credentials (mode 0600, atomically); OSError if the disk refuses."""
    path = credentials_path(home)
    data: dict[str, Any] = asdict(credentials)
    data["paired_at"] = credentials.paired_at.isoformat()
    path.parent.mkdir(parents=True, exist_ok=True)
    replace_file(path, json.dumps(data, indent=2, sort_keys=True) + "\n", prefix=".device-")
    return path


def load_credentials(home: Path) -> DeviceCredentials:
    """The credentials stored in ``home``; NotPaired (saying what to do) when there are none or
    the file is unusable."""
    path = credentials_path(home)
    try:
        with path.open("rb") as fh:
            raw = fh.read(_MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise NotPaired(
            f"this gate is not paired (no {path}): on the backend run "
            "`ticketgate device add --event CODE --name NAME`, then `ticketgate pair PAIRING` here"
        ) from None
    except OSError as exc:
        raise NotPaired(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        if len(raw) > _MAX_FILE_BYTES:
            raise ValueError("too large")
        data = json.loads(raw.decode("utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        credentials = DeviceCredentials(
            server_url=normalise_server_url(_text(data, "server_url")),
            device_id=_text(data, "device_id"),
            device_name=_text(data, "device_name"),
            token=_text(data, "token"),
            event=_text(data, "event"),
            event_name=_text(data, "event_name"),
            paired_at=datetime.fromisoformat(_text(data, "paired_at")),
        )
        if not EVENT_CODE_RE.fullmatch(credentials.event) or credentials.paired_at.tzinfo is None:
            raise ValueError("bad event or pairing time")
    except (ValueError, RecursionError, ProtocolError) as exc:
        raise NotPaired(f"{path} is damaged ({exc}); pair this gate again with `ticketgate pair`") from None
    return credentials


def _text(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name!r} missing")
    return value
