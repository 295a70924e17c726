"""A pipeline killed with SIGKILL during prediction resumes to the uninterrupted result."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from photcat.catalogs.writer import read_with_arrays

pytestmark = pytest.mark.slow  # runs the whole pipeline

PHOTCAT = [sys.executable, "-m", "photcat.pipeline.cli"]
FAST = ["--photoz-model", "knn", "--quiescent-model", "logistic", "--partition-rows", "400"]


def _run(out: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*PHOTCAT, "run", "--out", str(out), *FAST], capture_output=True, text=True, timeout=600
    )


def _vac(out: Path) -> Path:
    (path,) = (out / "catalog").glob("*-vac-*.fits")
    return path


def _parts(out: Path) -> list[Path]:
    return sorted(out.glob("predict/*/part-*.parquet"))


def test_sigkill_during_prediction_then_resume_is_identical(tmp_path):
    a, b = tmp_path / "uninterrupted", tmp_path / "killed"
    done = _run(a)
    assert done.returncode == 0, done.stderr[-3000:]
    n_parts = len(_parts(a))
    assert n_parts == 25  # 10,000 rows in partitions of 400

    # same trained models (copied), so the comparison isolates prediction and assembly
    for sub in ("ingest", "trainset", "models", "evaluate"):
        shutil.copytree(a / sub, b / sub)
    proc = subprocess.Popen(
        [*PHOTCAT, "run", "--out", str(b), *FAST],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 300
    while len(_parts(b)) < 3 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    written = len(_parts(b))
    assert 3 <= written < n_parts, f"kill came too late to test resuming ({written} of {n_parts})"
    assert not (b / "catalog").exists() or not list((b / "catalog").glob("*.fits"))

    resumed = _run(b)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    ta, arr_a, _ = read_with_arrays(_vac(a))
    tb, arr_b, _ = read_with_arrays(_vac(b))
    assert len(tb) == 10000 and tb["object_id"].is_unique
    np.testing.assert_array_equal(np.sort(tb["object_id"].to_numpy()), np.arange(10000))
    assert list(ta.columns) == list(tb.columns)
    for col in ta.columns:
        x, y = ta[col].to_numpy(), tb[col].to_numpy()
        assert np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), col
    for k in arr_a:
        np.testing.assert_array_equal(arr_a[k], arr_b[k])
