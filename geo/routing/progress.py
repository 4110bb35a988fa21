"""Progress of long network steps on standard error: percent, rate and time left.

A :class:`Progress` is told how far a step has got (:meth:`Progress.update`)
and redraws one line at most every ``interval`` seconds. Reading an OSM
file happens inside pyosmium's own threads, so :class:`FileProgress` polls
how far the process has read the file instead (Linux's
``/proc/self/fdinfo``); where that is not available it shows the time spent.
"""
from __future__ import annotations

import os
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import TextIO


class Progress:
    """One step's progress line: ``label: 45% (12.3 MB/s), 20 s left``.

    Parameters
    ----------
    label
        What is being done (shown first).
    total
        Units of work in the step; 0 when unknown (then only the amount and time are shown).
    unit
        Unit name after the rate (``"MB"``, ``"ways"``).
    scale
        Divide amounts by this for display (``1e6`` for megabytes).
    stream
        Where to write; None writes nothing (a quiet build).
    interval
        Seconds between redraws.
    """

    def __init__(self, label: str, total: float = 0, *, unit: str = "", scale: float = 1.0,
                 stream: TextIO | None = sys.stderr, interval: float = 1.0) -> None:
        self.label, self.total, self.unit, self.scale = label, float(total), unit, scale
        self.stream, self.interval = stream, interval
        self.t0 = time.perf_counter()
        self._shown = -1e9
        self.done = 0.0
        self.window = 15.0
        self._samples: deque[tuple[float, float]] = deque([(self.t0, 0.0)])

    def _rate(self, now: float) -> float:
        # Over the last ``window`` seconds: a file's nodes read fast and its
        # ways slowly, and a rate averaged from the start would promise too soon an end.
        self._samples.append((now, self.done))
        while len(self._samples) > 2 and now - self._samples[0][0] > self.window:
            self._samples.popleft()
        t_old, d_old = self._samples[0]
        if now - t_old > 0 and self.done > d_old:
            return (self.done - d_old) / (now - t_old)
        elapsed = now - self.t0
        return self.done / elapsed if elapsed > 0 else 0.0

    def line(self) -> str:
        """The progress line for the amount done so far."""
        now = time.perf_counter()
        elapsed = now - self.t0
        rate = self._rate(now)
        amount = f"{self.done / self.scale:,.1f}{(' ' + self.unit) if self.unit else ''}"
        if self.total > 0:
            frac = min(self.done / self.total, 1.0)
            left = (self.total - self.done) / rate if rate > 0 else float("nan")
            left_txt = f"{left:.0f} s" if left == left else "?"
            return (f"{self.label}: {100 * frac:3.0f}% ({rate / self.scale:,.1f} {self.unit}/s), "
                    f"剩余 / left {left_txt}, {elapsed:.0f} s")
        return f"{self.label}: {amount} ({elapsed:.0f} s)"

    def update(self, done: float) -> None:
        """Record the amount done and redraw if ``interval`` has passed."""
        self.done = float(done)
        now = time.perf_counter()
        if self.stream is not None and now - self._shown >= self.interval:
            self._shown = now
            self.stream.write("\r" + self.line() + "   ")
            self.stream.flush()

    def finish(self, note: str = "") -> None:
        """Draw the final line and end it."""
        if self.total > 0:
            self.done = self.total
        if self.stream is not None:
            self.stream.write("\r" + self.line() + (f" {note}" if note else "") + "   \n")
            self.stream.flush()


def _bytes_read(path: Path) -> int | None:
    """How far this process has read ``path`` (the largest position of a descriptor open on it)."""
    target = str(path.resolve())
    best = None
    try:
        fds = os.listdir("/proc/self/fd")
    except OSError:
        return None
    for fd in fds:
        try:
            if os.readlink(f"/proc/self/fd/{fd}") != target:
                continue
            with open(f"/proc/self/fdinfo/{fd}") as fh:
                pos = int(fh.readline().split()[1])
            best = pos if best is None else max(best, pos)
        except (OSError, ValueError, IndexError):
            continue
    return best


class FileProgress:
    """Show how far a file has been read while other code (pyosmium's threads) reads it.

    Use as a context manager around the read; a background thread polls.

    Parameters
    ----------
    path
        The file being read.
    label
        What is being done.
    stream
        Where to write; None writes nothing.
    """

    def __init__(self, path: str | Path, label: str, *, stream: TextIO | None = sys.stderr) -> None:
        self.path = Path(path)
        self.progress = Progress(label, self.path.stat().st_size, unit="MB", scale=1e6, stream=stream)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self._stop.wait(0.5):
            pos = _bytes_read(self.path)
            if pos is not None:
                self.progress.update(pos)

    def __enter__(self) -> "FileProgress":
        if self.progress.stream is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        if exc[0] is None:
            self.progress.finish()
        elif self.progress.stream is not None:
            self.progress.stream.write("\n")
