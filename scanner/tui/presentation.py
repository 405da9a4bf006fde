"""How a verdict looks on the gate screen: word, colour class, serial and reason, as pure functions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo

from scanner.verdicts import Direction, ScanResult, Verdict


@dataclass(frozen=True)
class VerdictView:
    """Everything the verdict panel paints for one state."""

    word: str  # the big word
    style: str  # CSS class: -ready, -admit, -exit, -used, -reject, -unknown, -error
    serial: str  # shown with big digits; "" for none
    reason: str  # the line staff act on
    detail: str  # smaller: code, source, time


def local_time(moment: datetime, tz: tzinfo | None) -> str:
    """``HH:MM:SS`` in the gate's display time zone (the laptop's own when ``tz`` is None)."""
    return moment.astimezone(tz).strftime("%H:%M:%S")


def serial_text(result: ScanResult) -> str:
    """The ticket's serial as printed on it (zero-padded), or "" when the scan had none."""
    if result.code:
        parts = result.code.split("-")
        if len(parts) == 3 and parts[1].isdigit():
            return parts[1]
    if result.serial is not None:
        return str(result.serial).zfill(3)
    return ""


def reason_text(result: ScanResult, tz: tzinfo | None) -> str:
    """The reason staff act on; ALREADY_USED always names the first admission's time and gate."""
    if result.verdict is Verdict.ALREADY_USED and result.first_admitted_at is not None:
        where = f" at {result.first_admitted_gate}" if result.first_admitted_gate else ""
        return f"first admitted {local_time(result.first_admitted_at, tz)}{where}"
    if result.verdict is Verdict.UNKNOWN_KEY:
        event = result.event or "this event"
        return f"no key for {event} — sync or import a key"
    return result.reason


_STYLES: dict[str, tuple[str, str]] = {
    Verdict.ADMIT: ("ADMIT", "-admit"),
    Verdict.ALREADY_USED: ("ALREADY USED", "-used"),
    Verdict.INVALID: ("INVALID", "-reject"),
    Verdict.REVOKED: ("REVOKED", "-reject"),
    Verdict.WRONG_EVENT: ("WRONG EVENT", "-reject"),
    Verdict.UNKNOWN_KEY: ("UNKNOWN KEY", "-unknown"),
}


def verdict_view(result: ScanResult, tz: tzinfo | None) -> VerdictView:
    """The panel for a recorded scan."""
    if result.verdict is Verdict.ADMIT and result.direction is Direction.OUT:
        word, style = "EXIT", "-exit"
    else:
        # A verdict added after this module was written is shown by name, coloured as a refusal.
        word, style = _STYLES.get(result.verdict, (str(result.verdict).replace("_", " "), "-used"))
    shown = result.code or result.raw or "(empty)"
    detail = f"{shown} · {result.source} · {local_time(result.scanned_at, tz)}"
    return VerdictView(
        word=word,
        style=style,
        serial=serial_text(result),
        reason=reason_text(result, tz),
        detail=detail,
    )


def ready_view(*, exit_mode: bool, camera_problem: str | None = None) -> VerdictView:
    """The resting panel: what to do next."""
    hint = "scan a ticket, or F2 to type a code"
    if camera_problem:
        # The full camera message is in the notice line above; here only what to do instead.
        hint = "no camera: use the handheld scanner, or F2 to type a code"
    return VerdictView(
        word="READY",
        style="-ready",
        serial="",
        reason=("EXIT mode: scanning records people leaving" if exit_mode else "ENTRY mode"),
        detail=hint,
    )


def not_recorded_view(raw: str, message: str) -> VerdictView:
    """A scan the gate could not record (full disk...): nobody passes, staff scan again."""
    return VerdictView(
        word="NOT RECORDED",
        style="-error",
        serial="",
        reason=message,
        detail=f"{raw[:60] or '(empty)'} · scan again once fixed",
    )
