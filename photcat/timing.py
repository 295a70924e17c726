"""CPU time per prediction stage, for the throughput benchmark's profile.

:func:`stage` is a no-op unless a :func:`record` block is active in the same thread, so the
prediction path carries its stage names at no cost. Times are ``time.process_time`` (the
process's CPU seconds, every thread), which is the per-object cost when a process predicts
one partition at a time.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

STAGES = ("read", "features", "networks", "quantiles", "pdf", "restframe", "encode", "write")

# (times per stage, CPU seconds of the enclosing stages' inner stages so far)
_CURRENT: ContextVar[tuple[dict[str, float], list[float]] | None] = ContextVar(
    "photcat_stage_times", default=None
)


@contextmanager
def record() -> Iterator[dict[str, float]]:
    """Collect CPU seconds per stage into the dict yielded (a stage inside another counts
    once, in the inner one)."""
    times: dict[str, float] = dict.fromkeys(STAGES, 0.0)
    token = _CURRENT.set((times, []))
    try:
        yield times
    finally:
        _CURRENT.reset(token)


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Count the CPU time of the block under ``name`` while :func:`record` is active."""
    current = _CURRENT.get()
    if current is None:
        yield
        return
    times, inner = current
    inner.append(0.0)
    t0 = time.process_time()
    try:
        yield
    finally:
        elapsed = time.process_time() - t0
        nested = inner.pop()
        times[name] = times.get(name, 0.0) + elapsed - nested
        if inner:
            inner[-1] += elapsed
