"""A progress bar on stderr for people: files, rows, rate and time left.

It appears only when stderr is a terminal (Rich's rules, so ``TTY_COMPATIBLE`` works) and
the run is not ``-q``; it is erased when the run ends. With several inputs the bar counts
files (and the time left follows from them); with one it counts rows against the input's
estimated row count, when there is one.
"""

from __future__ import annotations

import contextlib
import sys
import time
from typing import Iterator


class RunProgress:
    """Feed it rows and finished files; it draws them. Use :meth:`shown` to create one."""

    def __init__(self, progress, files_total: int):
        self._progress = progress
        self._started = time.monotonic()
        self._rows = 0
        self._by_files = files_total > 1
        self._task = progress.add_task(
            "files" if self._by_files else "rows", total=files_total if self._by_files else None, rows=0, rate=""
        )

    @classmethod
    @contextlib.contextmanager
    def shown(cls, files_total: int, enabled: bool) -> Iterator["RunProgress | None"]:
        """Yield a bar while the block runs, or None when it would not be seen."""
        if not enabled:  # (-q: not even Rich is loaded)
            yield None
            return
        from rich.console import Console

        console = Console(stderr=True)
        if not console.is_terminal:
            yield None
            return
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed:.0f}/{task.total:.0f}" if files_total > 1 else ""),
            TextColumn("{task.fields[rows]:,} rows"),
            TextColumn("{task.fields[rate]}"),
            TimeRemainingColumn(),
            console=console,
            transient=True,
            # Results printed to a terminal go above the bar; to a file or a pipe (even one
            # that TTY_COMPATIBLE makes look like a terminal) never through the bar's console.
            redirect_stdout=_real_terminal(sys.stdout),
            redirect_stderr=True,
        )
        with progress:
            yield cls(progress, files_total)

    def rows_total(self, total: int | None) -> None:
        """The input's estimated row count (one input only)."""
        if not self._by_files and total:
            self._progress.update(self._task, total=total)

    def add_rows(self, count: int) -> None:
        self._rows += count
        elapsed = max(time.monotonic() - self._started, 1e-9)
        advance = 0 if self._by_files else count
        self._progress.update(self._task, advance=advance, rows=self._rows, rate=f"{self._rows / elapsed:,.0f} rows/s")

    def file_done(self, rows: int = 0) -> None:
        """One input finished; ``rows`` of it were not reported through :meth:`add_rows`."""
        if rows:
            self.add_rows(rows)
        if self._by_files:
            self._progress.advance(self._task)


def _real_terminal(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
