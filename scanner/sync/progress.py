"""A progress bar for a large pull, on a terminal only (rich, which Textual already brings)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from scanner.sync.round import Progress

# Below this many changes a pull takes a moment: a bar would only flicker.
LARGE_PULL = 10_000


@contextmanager
def pull_progress(stream: TextIO | None = None) -> Iterator[Progress | None]:
    """A callback drawing a bar on ``stream`` (stderr) once a pull is known to be large; None (no
    bar at all) when the stream is not a terminal, so scripts and logs stay quiet."""
    out = stream or sys.stderr
    if not out.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, TaskID, TextColumn, TimeRemainingColumn
    from rich.progress import Progress as Bar

    bar = Bar(
        TextColumn("pulling"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(file=out),
        transient=True,
    )
    task: list[TaskID] = []

    def update(done: int, remaining: int | None) -> None:
        total = done + (remaining or 0)
        if not task:
            if total < LARGE_PULL:
                return
            bar.start()
            task.append(bar.add_task("pull", total=total))
        bar.update(task[0], completed=done, total=max(total, done))

    try:
        yield update
    finally:
        if task:
            bar.stop()
