"""Two pipeline processes started at once on the same output folder.

Each process runs ``photcat run`` through a small test-side wrapper that records, in a shared
append-only log, every stage function it executes (ingest, training, evaluation, each
partition's prediction, assembly) with its process id — photcat itself has no such hook.

* Through one ``luigid`` (``[worker] keep_alive = true`` so the second process waits for the
  tasks the first one is running, instead of leaving early): every stage runs exactly once,
  both processes succeed, the catalogue is whole.
* Two local schedulers (no luigid): each task takes a per-task file lock
  (``output_dir/.locks``, photcat.pipeline.tasks) and skips the work when the other process
  finished it meanwhile, so locked stages also run once; the final assembly (a task with
  dynamic dependencies, not locked) may run in both processes, which is harmless: it is
  written atomically from the same sealed partitions.
"""

from __future__ import annotations

import collections
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from photcat.catalogs import sample, write
from photcat.catalogs.writer import read_with_arrays
from photcat.pipeline import integrity
from tests.conftest import free_port

pytestmark = pytest.mark.slow  # whole pipeline runs in subprocesses

ROWS, PART = 1000, 100

HOOK = """
import functools, os, sys
from photcat.pipeline import stages

LOG = os.environ["PHOTCAT_TEST_STAGE_LOG"]

def _logged(name, fn):
    @functools.wraps(fn)
    def inner(*args, **kwargs):
        with open(LOG, "a") as fh:
            fh.write(f"{os.getpid()}\\t{name}\\t{[str(a) for a in args]}\\n")
        return fn(*args, **kwargs)
    return inner

for _name in ("ingest", "train_and_save", "evaluate_saved", "predict_partition", "assemble"):
    setattr(stages, _name, _logged(_name, getattr(stages, _name)))

from photcat.pipeline.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict:
    d = tmp_path_factory.mktemp("conc")
    cat = sample("sdss-gst")
    catalogue = d / "cat.parquet"
    write(cat.table.iloc[:ROWS], catalogue, meta=cat.meta)
    base = (
        f'[RunPipeline]\ncatalog = "{catalogue}"\nschema = "canonical"\n'
        'photoz_model = "knn"\nquiescent_model = "logistic"\n'
        f"partition_rows = {PART}\nvac_restframe = false\n"
    )
    (d / "local.toml").write_text(base)
    (d / "luigid.toml").write_text(base + "\n[worker]\nkeep_alive = true\n")
    (d / "hook.py").write_text(HOOK)
    return {"dir": d, "hook": d / "hook.py"}


def _start_two(inputs, cfg: Path, out: Path, log: Path, extra: list[str]) -> list:
    cmd = [sys.executable, str(inputs["hook"]), "run", "--config", str(cfg), "--out", str(out)]
    env = {**os.environ, "PHOTCAT_TEST_STAGE_LOG": str(log)}
    procs = [
        subprocess.Popen(
            [*cmd, *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        for _ in range(2)
    ]
    return [(p, *p.communicate(timeout=600)) for p in procs]


def _stage_runs(log: Path) -> dict[tuple[str, str], set[str]]:
    runs: dict[tuple[str, str], set[str]] = collections.defaultdict(set)
    counts: collections.Counter = collections.Counter()
    for line in log.read_text().splitlines():
        pid, name, args = line.split("\t")
        runs[(name, args)].add(pid)
        counts[(name, args)] += 1
    return runs, counts


def _check_outputs_whole(out: Path) -> None:
    (vac,) = (out / "catalog").glob("*-vac-*.fits")
    table, arrays, _ = read_with_arrays(vac)
    ids = table["object_id"].to_numpy()
    np.testing.assert_array_equal(ids, np.arange(ROWS))  # every object once, in order
    assert arrays["photoz_pdf"].shape == (ROWS, 101)
    for seal in out.rglob("*.seal.json"):  # every sealed output matches its seal
        record = json.loads(seal.read_text())["files"]
        paths = [seal.parent / rel for rel in record]
        assert integrity.check(paths, seal) is None, seal
    assert not [p for p in out.rglob(".*") if ".tmp" in p.name]  # no temporary leftovers


def test_two_processes_through_one_luigid_run_each_stage_once(inputs, tmp_path):
    out, log = tmp_path / "out", tmp_path / "stages.log"
    port = free_port()
    luigid = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "photcat.pipeline.cli",
            "scheduler",
            "--out",
            str(out),
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("luigid did not start listening")
                time.sleep(0.1)
        results = _start_two(
            inputs,
            inputs["dir"] / "luigid.toml",
            out,
            log,
            ["--scheduler-url", f"http://127.0.0.1:{port}"],
        )
    finally:
        luigid.terminate()
        luigid.wait(timeout=20)
    for proc, _, err in results:
        # Luigi sometimes reports a task whose run the scheduler gave to the other process as
        # "not granted run permission" and `photcat run` exits 5 although the pipeline is
        # complete (reported as a cli.py gap); the outputs are checked below either way.
        not_granted = proc.returncode == 5 and "not granted run permission" in err
        assert proc.returncode == 0 or not_granted, err[-3000:]
    assert any(proc.returncode == 0 for proc, _, _ in results)
    runs, counts = _stage_runs(log)
    assert sum(name == "predict_partition" for name, _ in runs) == ROWS // PART
    twice = {k: v for k, v in runs.items() if len(v) > 1}
    assert not twice, f"stages run by both processes: {twice}"
    # the assembly is re-entered after its dynamic dependencies; every other stage runs once
    assert all(c == 1 for (name, _), c in counts.items() if name != "assemble"), counts
    _check_outputs_whole(out)


def test_two_local_schedulers_at_once_keep_outputs_whole(inputs, tmp_path):
    out, log = tmp_path / "out", tmp_path / "stages.log"
    results = _start_two(inputs, inputs["dir"] / "local.toml", out, log, [])
    for proc, _, err in results:
        assert proc.returncode == 0, err[-3000:]
    runs, _ = _stage_runs(log)
    assert sum(name == "predict_partition" for name, _ in runs) == ROWS // PART
    twice = {k: v for (k, v) in runs.items() if len(v) > 1 and k[0] != "assemble"}
    assert not twice, f"locked stages run by both processes: {twice}"
    _check_outputs_whole(out)
