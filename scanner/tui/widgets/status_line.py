"""The status line: event, gate, entry/exit mode, camera, keys, and sync: online or offline (since
when), last sync, scans waiting to upload, conflicts, a clock far off the server's."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, tzinfo
from typing import Any

from rich.text import Text
from textual.widgets import Static

_CAMERA_STYLES = {
    "live": "bold green",
    "starting": "yellow",
    "retrying": "bold yellow",
    "no camera": "bold red",
    "error": "bold red",
    "ended": "dim",
    "off": "dim",
}


@dataclass(frozen=True)
class GateStatus:
    """Plain data behind the status line."""

    event: str
    gate: str
    exit_mode: bool = False
    camera: str = "off"
    key_versions: tuple[int, ...] = ()
    last_sync_at: datetime | None = None
    pending_upload: int | None = None
    sound: bool = True
    paired: bool = False
    link: str = "never"  # never / online / offline / refused (scanner.store.sync_state.Link)
    link_since: datetime | None = None
    conflicts: int = 0
    clock_offset_ms: int | None = None


# Past this, times from this laptop and other gates disagree enough to mislead staff.
CLOCK_WARNING_MS = 30_000


def status_text(status: GateStatus, tz: tzinfo | None) -> Text:
    """The status line's text, segments separated by ``│``."""
    text = Text(no_wrap=False, overflow="fold")
    sep = (" │ ", "dim")
    text.append(status.event, "bold")
    text.append(*sep)
    text.append(status.gate, "bold")
    text.append(*sep)
    text.append("EXIT" if status.exit_mode else "ENTRY", "bold reverse" if status.exit_mode else "bold")
    text.append(*sep)
    text.append("cam ", "dim")
    text.append(status.camera, _CAMERA_STYLES.get(status.camera, ""))
    text.append(*sep)
    if status.key_versions:
        text.append("key v" + ",".join(str(v) for v in status.key_versions), "green")
    else:
        text.append("NO KEY", "bold red")
    text.append(*sep)
    if status.paired:
        _link(text, status, tz)
        text.append(*sep)
    synced = status.last_sync_at.astimezone(tz).strftime("%H:%M") if status.last_sync_at else "never"
    text.append(f"sync {synced}")
    text.append(*sep)
    pending = "?" if status.pending_upload is None else str(status.pending_upload)
    text.append(f"{pending} to upload")
    if status.conflicts:
        text.append(*sep)
        text.append(f"{status.conflicts} conflict{'s' if status.conflicts != 1 else ''}", "bold yellow")
    offset = status.clock_offset_ms
    if offset is not None and abs(offset) > CLOCK_WARNING_MS:
        text.append(*sep)
        way = "slow" if offset > 0 else "fast"
        text.append(f"clock {abs(offset) // 1000} s {way}", "bold red")
    if not status.sound:
        text.append(*sep)
        text.append("sound off", "yellow")
    return text


def _link(text: Text, status: GateStatus, tz: tzinfo | None) -> None:
    since = status.link_since.astimezone(tz).strftime("%H:%M") if status.link_since else ""
    if status.link == "online":
        text.append("online", "green")
    elif status.link == "offline":
        text.append(f"OFFLINE since {since}" if since else "OFFLINE", "bold yellow")
    elif status.link == "refused":
        text.append("REFUSED BY SERVER", "bold red")
    else:
        text.append("not synced yet", "yellow")


class StatusLine(Static):
    """Renders a :class:`GateStatus`; ``change(**fields)`` updates part of it."""

    def __init__(self, status: GateStatus, *, tz: tzinfo | None = None, id: str | None = None) -> None:
        super().__init__(status_text(status, tz), id=id)
        self.status = status
        self.tz = tz

    def change(self, **fields: Any) -> None:
        before = status_text(self.status, self.tz)
        self.status = replace(self.status, **fields)
        after = status_text(self.status, self.tz)
        # Lay the screen out again only when the line starts or stops wrapping (its height changes).
        width = self.size.width or 80
        self.update(after, layout=(len(before.plain) > width) != (len(after.plain) > width))
