"""What a person sees: native libraries' start-up chatter filtered out, progress on long work.

TensorFlow, XLA and absl write their start-up lines (``oneDNN custom operations are on``,
``Could not find cuda drivers``, ``All log messages before absl::InitializeLog()``) from C++
straight to file descriptor 2, before and beside Python's logging, so neither
``TF_CPP_MIN_LOG_LEVEL`` nor a logging filter reaches all of them. :func:`quiet_native_stderr`
therefore points descriptor 2 at a pipe read by a small filter process that drops those lines
and passes everything else on (a process, not a thread, so that what a crashing photcat wrote
last still arrives), and gives Python's ``sys.stderr`` a duplicate of the real descriptor, so
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
import time
from collections.abc import Iterator
from typing import Any

# one line of native start-up chatter: absl's C++ log prefix ("I0000 00:00:1796184099.640488
# 14530 cudart_stub.cc:31] ...") at level I, or at levels W/E for the known harmless start-up
# notices of a CPU-only machine (no CUDA, a newer graph attribute); absl's pre-initialisation
# notice; TensorFlow's CPU-feature notices. Fatal (F) lines and other errors are kept.
CHATTER = re.compile(
    r"^(?:I\d{4} \d\d:\d\d:[\d.]+\s+\d+ [\w./-]+:\d+\] "
    r"|[WE]\d{4} \d\d:\d\d:[\d.]+\s+\d+ [\w./-]+:\d+\] (?:failed call to cuInit"
    r"|NodeDef mentions attribute \w+ which is not in the op definition"
    r"|Unable to register cu(?:DNN|FFT|BLAS) factory|TF-TRT Warning)"
    r"|WARNING: All log messages before absl::InitializeLog\(\) is called"
    r"|To enable the following instructions: .* rebuild TensorFlow"
    r"|This TensorFlow binary is optimized to use available CPU instructions)"
)
# seconds between plain progress lines when stderr is not a terminal (environment variable
# PHOTCAT_PROGRESS_SECONDS overrides it)
PLAIN_EVERY = 30.0

_state: dict[str, Any] = {"installed": False, "tty": None, "quiet": False}

# the filter: a separate process, so that what a crashing photcat wrote last (a native
# abort message, a fault handler's traceback) is still passed on after photcat is gone
_FILTER = """
import os, re, sys
chatter = re.compile(sys.argv[1].encode())
def put(data):
    while data:
        try:
            data = data[os.write(1, data):]
        except OSError:
            return
pending = b""
while True:
    try:
        chunk = os.read(0, 65536)
    except OSError:
        break
    if not chunk:
        break
    *lines, pending = (pending + chunk).split(b"\\n")
    kept = [ln for ln in lines if not chatter.match(ln)]
    if kept:
        put(b"\\n".join(kept) + b"\\n")
if pending and not chatter.match(pending):
    put(pending)
"""


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
    """Filter native libraries' start-up chatter out of file descriptor 2 for the rest of
    the process and its children (idempotent); undone at exit and by :func:`restore_stderr`."""
    if _state["installed"] or sys.stderr is None or sys.stderr is not sys.__stderr__:
        return  # already, no standard error at all, or someone else's (a test's capture)
    stderr_is_terminal()
    import subprocess

    try:
        sys.stderr.flush()
        real = os.dup(2)
        r, w = os.pipe()
        proc = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", _FILTER, CHATTER.pattern],
            stdin=r,
            stdout=real,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C stops photcat, not the filter passing on its last lines
        )
    except (OSError, ValueError):
        return
    os.close(r)
    os.dup2(w, 2)
    os.close(w)
    previous = sys.stderr
    sys.stderr = io.TextIOWrapper(
        os.fdopen(os.dup(real), "wb", buffering=0), encoding="utf-8", errors="replace",
        line_buffering=True, write_through=True,
    )  # fmt: skip
    _state.update(installed=True, real=real, proc=proc, previous=previous)
    atexit.register(restore_stderr)


def restore_stderr() -> None:
    """Point file descriptor 2 back at the real standard error (before ``exec``, at exit)."""
    if not _state["installed"]:
        return
    _state["installed"] = False
    try:
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    os.dup2(_state["real"], 2)  # this process's write end of the pipe closes
    sys.stderr = _state["previous"]
    try:  # the filter ends when every writer is gone; children may keep it a while longer
        _state["proc"].wait(timeout=0.3)
    except Exception:  # noqa: BLE001 - a child still holds the pipe: the filter outlives us
        pass


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


def _rate(rate: float) -> str:
    return f"{rate:,.0f}" if rate >= 10 else f"{rate:.2g}"


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
                self._task, completed=self.done, rate=f"{_rate(rate)} {self.unit}/s", note=self.note
            )
        elif now - self._last >= self.every:
            self._last = now
            try:
                print(self._line(rate, now), file=sys.stderr, flush=True)
            except (OSError, ValueError):  # standard error closed or a broken pipe: stop showing
                self.every = float("inf")

    def _line(self, rate: float, now: float) -> str:
        done = f"{self.done:,.0f}" + (f" of {self.total:,.0f}" if self.total else "")
        left = ""
        if self.total and rate > 0:
            left = f", about {(self.total - self.done) / rate:,.0f} s left"
        note = f"; {self.note}" if self.note else ""
        return f"photcat: {self.what}: {done} {self.unit} ({_rate(rate)} {self.unit}/s{left}){note}"

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.stop()
