"""Collects the keystrokes of a keyboard-wedge handheld scanner typed into the app, with no field to focus."""

from __future__ import annotations

MAX_BUFFER_CHARS = 256


class WedgeBuffer:
    """Printable keystrokes since the last Enter; a pause longer than ``gap_seconds`` starts afresh.

    A handheld scanner types a whole code in a burst, so a stray key pressed seconds earlier (a
    knocked keyboard) must not be glued onto the next code.
    """

    def __init__(self, *, gap_seconds: float = 2.0) -> None:
        self.gap_seconds = gap_seconds
        self._chars: list[str] = []
        self._last: float | None = None

    @property
    def text(self) -> str:
        return "".join(self._chars)

    def feed(self, char: str, now: float) -> None:
        """Add one typed character at time ``now`` (seconds, monotonic)."""
        if self._last is not None and now - self._last > self.gap_seconds:
            self._chars.clear()
        self._last = now
        if len(self._chars) < MAX_BUFFER_CHARS:
            self._chars.append(char)

    def backspace(self) -> None:
        if self._chars:
            self._chars.pop()

    def take(self) -> str:
        """The buffered text (stripped), emptying the buffer."""
        text = self.text.strip()
        self.clear()
        return text

    def clear(self) -> None:
        self._chars.clear()
        self._last = None
