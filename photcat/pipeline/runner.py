"""Run photcat's Luigi tasks from Python: local scheduler by default, ``luigid`` when given."""

from __future__ import annotations

from typing import Any

import luigi


def build(tasks: list[luigi.Task], *, workers: int = 1, scheduler_url: str | None = None):
    """Run ``tasks`` and their dependencies; returns Luigi's detailed run result.

    ``scheduler_url`` (for example ``http://127.0.0.1:8082``) uses a central ``luigid``, which
    lets several processes or machines share the work without running a task twice.
    """
    env: dict[str, Any] = {
        "workers": int(workers),
        "detailed_summary": True,
        "log_level": "WARNING",
    }
    if scheduler_url:
        env.update(local_scheduler=False, scheduler_url=scheduler_url)
    else:
        env["local_scheduler"] = True
    return luigi.build(tasks, **env)


def run(workers: int = 1, scheduler_url: str | None = None, **params):
    """The whole pipeline with RunPipeline ``params``; returns (task, Luigi run result)."""
    from photcat.pipeline.tasks import RunPipeline

    task = RunPipeline(**params)
    return task, build([task], workers=workers, scheduler_url=scheduler_url)
