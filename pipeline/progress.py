"""Stage timing, and a progress display on a terminal for stages that take over a second."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

SHOW_AFTER_SECONDS = 1.0

Progress = Callable[[str, float], None]

# Share of a run's time each stage usually takes, for one progress fraction over the whole run.
STAGE_END = {"clean": 0.10, "features": 0.20, "fit": 0.84, "score": 0.84, "version": 0.85,
             "membership": 0.88, "forecast": 0.93, "report": 1.0}


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


class RunTimer:
    """Seconds per stage, and progress over the whole run as each stage ends."""

    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress
        self.seconds: dict[str, float] = {}
        self._start = 0.0

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        started = time.perf_counter()
        self._start = self._fraction_before(stage)
        if self.progress:
            self.progress(stage, self._start)
        yield
        self.seconds[stage] = round(time.perf_counter() - started, 3)
        if self.progress:
            self.progress(stage, STAGE_END[stage])

    def within(self, stage: str) -> Progress:
        """A progress callable for a sub-step of ``stage`` (its fraction within the stage)."""
        start, end = self._fraction_before(stage), STAGE_END[stage]

        def report(_sub: str, fraction: float) -> None:
            if self.progress:
                self.progress(stage, start + (end - start) * min(1.0, fraction) * 0.99)

        return report

    @staticmethod
    def _fraction_before(stage: str) -> float:
        ends = sorted({v for k, v in STAGE_END.items() if v < STAGE_END[stage]})
        return ends[-1] if ends else 0.0
