"""The dashboard app: takes a snapshot every few seconds and draws it; a database that stops
answering is a banner ("database unreachable, retrying") over the last figures, never a traceback."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import tzinfo
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid
from textual.widgets import Footer, Static

from backend.dashboard import Snapshot
from backend.errors import BackendError, Busy, DatabaseUnavailable
from backend.terminal import safe
from monitor.cli import DEFAULT_INTERVAL_SECONDS
from monitor.panels import ALL_PANELS, Panel
from monitor.presentation import clock

Fetch = Callable[[], Awaitable[Snapshot]]


class MonitorApp(App[None]):
    """``fetch`` reads a snapshot (``monitor.source.DatabaseSource.fetch`` in the command); it is
    awaited on the app's own loop, one at a time, every ``interval`` seconds."""

    CSS_PATH = "monitor.tcss"
    TITLE = "ticketgate monitor"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "refresh_now", "Refresh now"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(
        self,
        fetch: Fetch,
        *,
        interval: float = DEFAULT_INTERVAL_SECONDS,
        tz: tzinfo | None = None,
        first: Snapshot | None = None,
    ) -> None:
        super().__init__()
        self._fetch = fetch
        self.interval = interval
        self.tz = tz
        self.snapshot: Snapshot | None = first
        self.problem: str | None = None  # what went wrong with the last refresh, if it failed
        self.refreshes = 0  # snapshots drawn, for tests and the title line
        self._wake = asyncio.Event()

    def compose(self) -> ComposeResult:
        yield Static(id="title")
        yield Static(id="banner")
        with Grid(id="panels"):
            for panel in ALL_PANELS:
                yield panel()
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#banner", Static).display = False
        if self.snapshot is not None:
            self._draw(self.snapshot)
        self._refresh_loop()

    def action_refresh_now(self) -> None:
        self._wake.set()

    @work(exclusive=True, group="refresh", exit_on_error=False)
    async def _refresh_loop(self) -> None:
        """One fetch at a time: a slow database delays the next refresh instead of piling them up."""
        if self.snapshot is not None:
            self._wake.clear()
            await self._pause()
        while True:
            # Cleared before the fetch, not after: r pressed while a slow fetch runs refreshes again.
            self._wake.clear()
            try:
                snapshot = await self._fetch()
            except (DatabaseUnavailable, Busy) as exc:
                self._show_problem(f"database unreachable, retrying every {self.interval:g} s: {exc}")
            except BackendError as exc:
                self._show_problem(f"{exc}; retrying every {self.interval:g} s")
            except Exception as exc:
                # Anything else (a driver error nobody translated) must not stop the refreshes
                # silently behind figures that look live: it is shown, and the next round tries again.
                self._show_problem(
                    f"refresh failed ({type(exc).__name__}: {exc}); retrying every {self.interval:g} s"
                )
            else:
                self.snapshot = snapshot
                self.problem = None
                self.refreshes += 1
                self._draw(snapshot)
            await self._pause()

    async def _pause(self) -> None:
        try:
            await asyncio.wait_for(self._wake.wait(), timeout=self.interval)
        except TimeoutError:
            pass

    def _draw(self, snapshot: Snapshot) -> None:
        self.query_one("#banner", Static).display = False
        self._draw_title(snapshot)
        for panel in self.query(Panel):
            panel.show(snapshot, self.tz)

    def _draw_title(self, snapshot: Snapshot) -> None:
        title = Text()
        title.append(f" {snapshot.event_code} ", "bold reverse")
        title.append(f" {safe(snapshot.event_name)}", "bold")
        title.append(f"   updated {clock(snapshot.taken_at, self.tz)}, every {self.interval:g} s", "dim")
        self.query_one("#title", Static).update(title)

    def _show_problem(self, message: str) -> None:
        # Shown, not logged: a log line on stderr would tear through the drawn screen.
        self.problem = message
        text = Text(safe(message), "bold")
        if self.snapshot is not None:
            text.append(f"\nthe figures below are from {clock(self.snapshot.taken_at, self.tz)}")
        banner = self.query_one("#banner", Static)
        banner.update(text)
        banner.display = True
