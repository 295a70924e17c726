"""What a person sees: native libraries' start-up chatter filtered out, progress on long work.

TensorFlow, XLA and absl write their start-up lines (``oneDNN custom operations are on``,
``Could not find cuda drivers``, ``All log messages before absl::InitializeLog()``) from C++
straight to file descriptor 2, before and beside Python's logging, so neither
``TF_CPP_MIN_LOG_LEVEL`` nor a logging filter reaches all of them. :func:`quiet_native_stderr`
therefore points descriptor 2 at a pipe read by a thread that drops those lines and passes
everything else on, and gives Python's ``sys.stderr`` a duplicate of the real descriptor, so
photcat's own messages, warnings and progress go out directly (and a terminal is still seen
as one). Child processes inherit the filtered descriptor. ``photcat -v`` leaves all of this
off and shows the chatter.

:class:`Progress` shows a ``rich`` progress bar when standard error is a terminal, a plain
line every :data:`PLAIN_EVERY` seconds when it is not (cron logs), and nothing when quiet.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import os
import re
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

# one line of native chatter: absl's C++ log prefix ("I0000 00:00:1796184099.640488   14530
# cudart_stub.cc:31] ..."), absl's pre-initialisation notice, and TensorFlow's CPU-feature
# and plugin-registration notices
CHATTER = re.compile(
    r"^(?:[IWEF]\d{4} \d\d:\d\d:[\d.]+\s+\d+ [\w./-]+:\d+\] "
    r"|WARNING: All log messages before absl::InitializeLog\(\) is called"
    r"|To enable the following instructions: .* rebuild TensorFlow"
    r"|This TensorFlow binary is optimized to use available CPU instructions)"
)
# seconds between plain progress lines when stderr is not a terminal (environment variable
# PHOTCAT_PROGRESS_SECONDS overrides it)
PLAIN_EVERY = 30.0

_state: dict[str, Any] = {"installed": False, "tty": None, "quiet": False}


def stderr_is_terminal() -> bool:
    """Whether standard error was a terminal when photcat started (the filter's pipe is
    not one, so this is recorded before it is installed)."""
    if _state["tty"] is None:
        try:
            _state["tty"] = os.isatty(2)
        except OSError:
            _state["tty"] = False
    return bool(_state["tty"])


def set_quiet(quiet: bool) -> None:
    """``--quiet``: no progress displays."""
    _state["quiet"] = bool(quiet)


def quiet_native_stderr() -> None:
    """Filter native libraries' chatter out of file descriptor 2 for the rest of the process
    (idempotent); undone at exit, after the filter has passed on what is left."""
    if _state["installed"] or sys.stderr is not sys.__stderr__:
        return  # already, or standard error is someone else's (a test's capture): leave it
    stderr_is_terminal()
    try:
        sys.stderr.flush()
        real = os.dup(2)
        r, w = os.pipe()
    except OSError:
        return
    os.dup2(w, 2)
    os.close(w)
    os.set_inheritable(2, True)
    out = os.fdopen(real, "wb", buffering=0, closefd=False)
    thread = threading.Thread(target=_pump, args=(r, out), name="photcat-stderr", daemon=True)
    thread.start()
    previous = sys.stderr
    sys.stderr = io.TextIOWrapper(
        os.fdopen(os.dup(real), "wb", buffering=0), encoding="utf-8", errors="replace",
        line_buffering=True, write_through=True,
    )  # fmt: skip
    _state.update(installed=True, real=real, thread=thread, previous=previous)
    atexit.register(_restore)


def _pump(fd: int, out) -> None:
    pending = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            chunk = b""
        if not chunk:
            break
        pending += chunk
        *lines, pending = pending.split(b"\n")
        kept = [ln for ln in lines if not CHATTER.match(ln.decode("utf-8", "replace"))]
        if kept:
            try:
                out.write(b"\n".join(kept) + b"\n")
            except OSError:
                pass
    if pending and not CHATTER.match(pending.decode("utf-8", "replace")):
        try:
            out.write(pending)
        except OSError:
            pass
    os.close(fd)


def _restore() -> None:
    if not _state["installed"]:
        return
    try:
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    os.dup2(_state["real"], 2)  # closes the pipe's last write end held by this process
    _state["thread"].join(timeout=2.0)
    sys.stderr = _state["previous"]
    _state["installed"] = False


@contextlib.contextmanager
def progress_label(label: str) -> Iterator[None]:
    """Name the progress displays started inside (a committee's member being trained)."""
    old = _state.get("label")
    _state["label"] = label
    try:
        yield
    finally:
        _state["label"] = old


def current_label(default: str) -> str:
    return _state.get("label") or default


class Progress:
    """Progress of one long step: ``total`` units (rows, epochs) or None when unknown.

    A ``rich`` bar with rate and time left on a terminal; a plain line every
    :data:`PLAIN_EVERY` seconds otherwise; nothing when quiet. Use as a context manager and
    call :meth:`advance`."""

    def __init__(
        self, what: str, total: float | None, unit: str = "rows", every: float | None = None
    ) -> None:
        if every is None:
            try:
                every = float(os.environ.get("PHOTCAT_PROGRESS_SECONDS", PLAIN_EVERY))
            except ValueError:
                every = PLAIN_EVERY
        self.what, self.total, self.unit, self.every = what, total, unit, every
        self.done = 0.0
        self.note = ""
        self._bar = None
        self._t0 = self._last = time.monotonic()

    def __enter__(self) -> Progress:
        if _state["quiet"]:
            return self
        if stderr_is_terminal():
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TextColumn,
                TimeRemainingColumn,
            )
            from rich.progress import Progress as RichProgress

            cols = [
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"),
                TimeRemainingColumn(),
                TextColumn("{task.fields[note]}"),
            ]
            console = Console(file=sys.stderr, force_terminal=True)
            self._bar = RichProgress(*cols, console=console, transient=False)
            self._bar.start()
            self._task = self._bar.add_task(self.what, total=self.total, rate="", note="")
        return self

    def advance(self, n: float = 1, note: str = "") -> None:
        self.done += n
        if note:
            self.note = note
        if _state["quiet"]:
            return
        now = time.monotonic()
        rate = self.done / max(now - self._t0, 1e-9)
        if self._bar is not None:
            self._bar.update(
                self._task, completed=self.done, rate=f"{rate:,.0f} {self.unit}/s", note=self.note
            )
        elif now - self._last >= self.every:
            self._last = now
            print(self._line(rate, now), file=sys.stderr, flush=True)

    def _line(self, rate: float, now: float) -> str:
        done = f"{self.done:,.0f}" + (f" of {self.total:,.0f}" if self.total else "")
        left = ""
        if self.total and rate > 0:
            left = f", about {(self.total - self.done) / rate:,.0f} s left"
        note = f"; {self.note}" if self.note else ""
        return f"photcat: {self.what}: {done} {self.unit} ({rate:,.0f} {self.unit}/s{left}){note}"

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.stop()
