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


def run_summary(result, log_file) -> list[str]:
    """Luigi's execution summary shortened to what ran, what was already done and what
    failed or did not run (by name); the full text goes to ``log_file``."""
    from pathlib import Path

    from luigi.execution_summary import _summary_dict

    from photcat.fileio import atomic_path

    log_file = Path(log_file)
    written = None
    try:
        with atomic_path(log_file) as tmp:
            tmp.write_text(result.summary_text)
        written = log_file
    except OSError:  # an output folder that could not be made: the summary still prints
        pass
    groups = _summary_dict(result.worker)
    count = {k: len(v) for k, v in groups.items()}
    lines = [
        f"photcat: pipeline {result.status.name.lower().replace('_', ' ')}: "
        f"{count.get('completed', 0)} task(s) ran, {count.get('already_done', 0)} already complete"
        + (f" (Luigi's full summary: {written})" if written else "")
    ]
    for key, what in (
        ("failed", "failed"),
        ("scheduling_error", "could not be scheduled"),
        ("upstream_failure", "not run: a task they need failed"),
        ("upstream_missing_dependency", "not run: an input is missing"),
        ("not_run", "not run"),
        ("run_by_other_worker", "run by another worker"),
    ):
        tasks = sorted(_short(t, output=False) for t in groups.get(key, ()))
        if tasks:
            lines.append(
                f"  {len(tasks)} {what}: "
                + ", ".join(tasks[:5])
                + (" ..." if len(tasks) > 5 else "")
            )
    return lines


def plan_lines(task) -> list[str]:
    """The tasks ``task`` needs, dependencies first, each marked done or to run
    (``photcat run --dry-run``)."""
    import luigi

    order: list = []
    seen: set = set()

    def visit(t) -> None:
        if t.task_id in seen:
            return
        seen.add(t.task_id)
        for dep in luigi.task.flatten(t.requires()):
            visit(dep)
        order.append(t)

    visit(task)
    done = {t.task_id: t.complete() for t in order}
    lines = [f"{'done  ' if done[t.task_id] else 'to run'}  {_short(t)}" for t in order]
    todo = sum(not v for v in done.values())
    lines.append(f"{len(order)} task(s): {todo} to run, {len(order) - todo} already complete")
    if todo:  # tasks a running task asks for (one per partition of a catalogue) are not known
        lines.append("(a catalogue's partitions are added as tasks when the run reaches them)")
    return lines


def _short(task, output: bool = True) -> str:
    """A task's family, what tells it from its siblings, and where its output goes."""
    import luigi

    what = [str(getattr(task, k)) for k in ("target", "model") if getattr(task, k, "")]
    outs = (
        [o.path for o in luigi.task.flatten(task.output()) if hasattr(o, "path")] if output else []
    )
    where = f" -> {outs[0]}" + (f" (+{len(outs) - 1})" if len(outs) > 1 else "") if outs else ""
    return task.get_task_family() + (f" [{' '.join(what)}]" if what else "") + where
