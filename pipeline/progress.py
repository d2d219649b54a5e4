"""Stage timing, and a progress display on a terminal for stages that take over a second."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

SHOW_AFTER_SECONDS = 1.0


class StageProgress:
    """Times named stages; on a terminal shows a spinner and bar once a stage runs over a second.

    Also usable as the pipeline's ``progress(stage, fraction)`` callable.
    """

    def __init__(self, stream: TextIO | None = None, *, enabled: bool | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.seconds: dict[str, float] = {}
        self._display = None
        self._task = None
        self._lock = threading.Lock()
        self._active: str | None = None

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the block as stage ``name`` (accumulating if it repeats)."""
        self._active = name
        timer = threading.Timer(SHOW_AFTER_SECONDS, self._show, args=(name,))
        if self.enabled:
            timer.daemon = True
            timer.start()
        started = time.perf_counter()
        try:
            yield
        finally:
            timer.cancel()
            with self._lock:
                self._active = None
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started
            self._hide()

    def __call__(self, stage: str, fraction: float) -> None:
        with self._lock:
            if self._display is not None and self._task is not None:
                self._display.update(self._task, completed=fraction, description=stage)

    def rounded_seconds(self) -> dict[str, float]:
        return {name: round(value, 3) for name, value in self.seconds.items()}

    def _show(self, name: str) -> None:
        # rich is imported only when a bar is shown (a terminal), not by the worker or tests
        from rich import console, progress

        with self._lock:
            if self._active != name:  # the stage ended while the timer fired
                return
            self._display = progress.Progress(
                progress.SpinnerColumn(),
                progress.TextColumn("{task.description}"),
                progress.BarColumn(),
                progress.TimeElapsedColumn(),
                console=console.Console(file=self.stream),
                transient=True,
            )
            self._task = self._display.add_task(name, total=1.0)
            self._display.start()

    def _hide(self) -> None:
        with self._lock:
            if self._display is not None:
                self._display.stop()
            self._display = None
            self._task = None
